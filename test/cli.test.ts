import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadApp, parseAppSpec } from '../src/cli/load-app.js';
import { freePort } from './integration/servers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/tsgi.cjs');

function tsgi(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'latin1' });
}

describe('the tsgi command', () => {
  it('APP is path/to/module[:name]', () => {
    expect(parseAppSpec('app.js')).toEqual({ path: 'app.js', name: undefined });
    expect(parseAppSpec('dir/app.js:main')).toEqual({ path: 'dir/app.js', name: 'main' });
    expect(parseAppSpec('C:/x/app.js')).toEqual({ path: 'C:/x/app.js', name: undefined });
  });

  it('loads the default export, else application, else app; a .ts module too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-load-'));
    writeFileSync(join(dir, 'a.mjs'), 'export default function d() {}; export function application() {}');
    writeFileSync(join(dir, 'b.mjs'), 'export function application() {}; export function app() {}');
    writeFileSync(join(dir, 'c.mjs'), 'export const app = () => {};');
    writeFileSync(join(dir, 'd.mjs'), 'export const other = 1;');
    expect((await loadApp(join(dir, 'a.mjs'))).name).toBe('d');
    expect((await loadApp(join(dir, 'b.mjs'))).name).toBe('application');
    expect((await loadApp(join(dir, 'c.mjs'))).name).toBe('app');
    expect((await loadApp(`${join(dir, 'b.mjs')}:app`)).name).toBe('app');
    await expect(loadApp(join(dir, 'd.mjs'))).rejects.toThrow(/exports no app/);
    await expect(loadApp(`${join(dir, 'd.mjs')}:other`)).rejects.toThrow(/not an app function/);
    await expect(loadApp(`${join(dir, 'd.mjs')}:missing`)).rejects.toThrow(/no export named "missing"/);
    await expect(loadApp(join(dir, 'nope.mjs'))).rejects.toMatchObject({ code: 'ERR_APP_LOAD' });
  });

  it('CGI3 tsgi cgi runs a .ts app (loaded through tsx)', () => {
    const r = tsgi(['cgi', join(root, 'examples/hello.ts')], { REQUEST_METHOD: 'GET' });
    expect(r.stdout).toBe('Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\nHello, world!\n');
    expect(r.status).toBe(0);
  });

  it('C11 an app that imports tsgi shares the instance tsgi cgi runs (one copy of every class)', () => {
    const r = tsgi(['cgi', join(root, 'test/fixtures/identity.js')], { REQUEST_METHOD: 'GET' });
    expect(r.stdout.split('\r\n\r\n')[1]).toBe('true true ERR_BAD_STATUS');
  });

  it('a bad command line says what is wrong and exits 2', () => {
    expect(tsgi(['cgi']).stderr).toMatch(/APP is missing/);
    expect(tsgi(['cgi']).status).toBe(2);
    expect(tsgi(['frobnicate', 'x.js']).stderr).toMatch(/unknown command "frobnicate"/);
    expect(tsgi(['http', 'x.js', '--bind', 'nonsense']).stderr).toMatch(/--bind nonsense: expected HOST:PORT/);
    expect(tsgi(['http', 'x.js', '--max-body', 'lots']).stderr).toMatch(/--max-body lots/);
    expect(tsgi(['--help']).stdout).toMatch(/^usage: tsgi COMMAND APP/);
    expect(tsgi(['--version']).stdout).toMatch(/^tsgi \d+\.\d+\.\d+\nNode v\d+\.\d+\.\d+\n$/);
  });

  it('a .ts app in a CommonJS package (npm\'s default "type") loads too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-cjs-pkg-'));
    writeFileSync(join(dir, 'package.json'), '{ "name": "consumer", "type": "commonjs" }');
    writeFileSync(join(dir, 'app.ts'), "import type { App } from 'tsgi';\nconst app: App = (_e, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('from cjs')]; };\nexport default app;\n");
    writeFileSync(join(dir, 'named.ts'), "export const application = (_e: unknown, start: (s: string, h: [string, string][]) => void) => { start('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('named')]; };\n");
    const env = { REQUEST_METHOD: 'GET', SERVER_NAME: 'x', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' };
    for (const [file, body] of [['app.ts', 'from cjs'], ['named.ts', 'named']]) {
      const r = tsgi(['cgi', join(dir, file!), '--validate'], env);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body!.length}\r\n\r\n${body}`);
    }
  });

  it('V2 --validate turns the validator on: a contract violation becomes a 500 naming the rule', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-validate-'));
    writeFileSync(join(dir, 'no-type.mjs'), "export default (env, start) => { start('200 OK', []); return [Buffer.from('x')]; };");
    const env = { REQUEST_METHOD: 'GET', SERVER_NAME: 'x', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' };
    const plain = tsgi(['cgi', join(dir, 'no-type.mjs')], env);
    expect(plain.stdout).toBe('Status: 200 OK\r\nContent-Length: 1\r\n\r\nx');
    const checked = tsgi(['cgi', join(dir, 'no-type.mjs'), '--validate'], env);
    expect(checked.stdout).toMatch(/^Status: 500 Internal Server Error\r\n/);
    expect(checked.stderr).toContain('validate: a 200 response needs a Content-Type header [V2]');
    expect(tsgi(['cgi', '--help']).stdout).toContain('--validate');
  });

  it('C18 an app that cannot be loaded is a clear error, exit 1 (under CGI, after the fixed 500)', () => {
    const r = tsgi(['cgi', '/nonexistent/app.js'], { REQUEST_METHOD: 'GET' });
    expect(r.stderr).toMatch(/^(?:\S+ tsgi\[\d+\]|tsgi) error: cannot load app module \/nonexistent\/app\.js: no such file/);
    expect(r.stdout).toMatch(/^Status: 500 Internal Server Error\r\n/);
    expect(r.status).toBe(1);
  });

  it('S6 tsgi http serves an example on --bind and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [bin, 'http', join(root, 'examples/echo.ts'), '--bind', `127.0.0.1:${port}`, '--mount', '/api']);
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    await new Promise<void>((resolve) => { const check = () => (err.includes('serving') ? resolve() : setTimeout(check, 20)); check(); });
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/x', method: 'PUT', headers: { 'Content-Type': 'text/plain' } }, (res) => {
        let s = '';
        res.on('data', (d: Buffer) => { s += d.toString(); });
        res.on('end', () => resolve(`${res.statusCode} ${res.headers['x-request-method']} ${s}`));
      });
      req.on('error', reject);
      req.end('round trip');
    });
    expect(body).toBe('200 PUT round trip');
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(0);
    expect(err).toMatch(/"PUT \/api\/x HTTP\/1\.1" 200 10/);
  });
});

describe('a stop that comes while the app loads', () => {
  it('P4 S5 SIGTERM after the socket is bound but before the app has loaded: the process closes and exits 0 at once, the socket file gone, not a silent death', async () => {
    const { existsSync } = await import('node:fs');
    const { waitUntil } = await import('./timing.js');
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-early-stop-'));
    // The app takes its time to load; it writes a file when its loading begins, so the signal
    // is sent inside the window, after the socket exists.
    writeFileSync(join(dir, 'slow.mjs'), `import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(join(dir, 'loading'))}, '');
await new Promise((r) => setTimeout(r, 60_000));
export default () => [];
`);
    const socket = join(dir, 'app.sock');
    const child = spawn(process.execPath, [bin, 'fastcgi', join(dir, 'slow.mjs'), '--socket', socket], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise<[number | null, string | null]>((res) => child.once('exit', (code, sig) => res([code, sig])));
    await waitUntil(() => existsSync(join(dir, 'loading')) && existsSync(socket), 'the socket bound and the app loading', 20_000);
    child.kill('SIGTERM');
    const [code, sig] = await exited;
    expect({ code, sig }).toEqual({ code: 0, sig: null });
    expect(err).toMatch(/SIGTERM/);
    expect(existsSync(socket)).toBe(false);
  }, 90_000);
});
