// H2 (httpoxy): under CGI a client's `Proxy:` header arrives as HTTP_PROXY.
// It must be gone from process.env before the app module is evaluated, since
// HTTP clients read their proxy from there, often once, at import time. Real
// child processes: `tsgi cgi APP` (ES module and CommonJS apps, with and
// without options) and a hand-written CGI script calling runCgi(import(…)).
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/tsgi.cjs');
const EVIL = 'http://evil.example:3128';
const ENV: Record<string, string> = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'GET', SERVER_NAME: 'example.org', SERVER_PORT: '80',
  SERVER_PROTOCOL: 'HTTP/1.1', SCRIPT_NAME: '/cgi-bin/app', PATH_INFO: '/', QUERY_STRING: '',
  HTTP_PROXY: EVIL,
};

// What an app's HTTP client would see at import time, and what the request says.
const BODY = `(env, start) => {
  start('200 OK', [['Content-Type', 'application/json']]);
  return [Buffer.from(JSON.stringify({ atImport, atRequest: process.env.HTTP_PROXY ?? null, header: env.HTTP_PROXY ?? null }))];
}`;

function apps(): { esm: string; cjs: string; script: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-httpoxy-'));
  const esm = join(dir, 'app.mjs');
  writeFileSync(esm, `const atImport = process.env.HTTP_PROXY ?? null;\nexport default ${BODY};\n`);
  const cjs = join(dir, 'app.cjs');
  writeFileSync(cjs, `const atImport = process.env.HTTP_PROXY ?? null;\nmodule.exports = ${BODY};\n`);
  const script = join(dir, 'script.mjs');
  writeFileSync(script, `import { runCgi } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/server/cgi.js')).href)};
runCgi(import('./app.mjs').then((m) => m.default));
`);
  return { esm, cjs, script };
}

function run(args: string[], env: Record<string, string> = ENV, input = ''): Promise<{ out: string; err: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString('latin1'); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ out, err, code }));
    child.stdin.end(input);
  });
}

const body = (out: string): Record<string, unknown> => JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;

describe('H2 httpoxy: HTTP_PROXY leaves process.env before the app module loads', () => {
  it('H2 tsgi cgi APP: an ES module app reading HTTP_PROXY at import sees none; the request keeps its header in environ', async () => {
    const { esm } = apps();
    const r = await run([BIN, 'cgi', esm]);
    expect(r.out).toMatch(/^Status: 200 OK\r\n/);
    expect(body(r.out)).toEqual({ atImport: null, atRequest: null, header: EVIL });
  });

  it('H2 tsgi cgi APP with options (the other path through the command line), and a CommonJS app', async () => {
    const { esm, cjs } = apps();
    for (const args of [['cgi', cjs], ['cgi', esm, '--max-body', '1000'], ['cgi', cjs, '--validate']]) {
      const r = await run([BIN, ...args]);
      expect(r.out, args.join(' ')).toMatch(/^Status: 200 OK\r\n/);
      expect(body(r.out), args.join(' ')).toEqual({ atImport: null, atRequest: null, header: EVIL });
    }
  });

  it('H2 a hand-written CGI script: runCgi(import(…)) drops it before the app module is evaluated', async () => {
    const { script } = apps();
    const r = await run([script]);
    expect(r.out).toMatch(/^Status: 200 OK\r\n/);
    expect(body(r.out)).toEqual({ atImport: null, atRequest: null, header: EVIL });
  });

  it('H2 under Node\'s own proxy support (NODE_USE_ENV_PROXY=1, --use-env-proxy), which reads HTTP_PROXY before tsgi runs, the app\'s http.get never goes through the client\'s proxy', async () => {
    // A real proxy on loopback, named by the request's Proxy header; the app asks for a host that does not exist at import.
    let seen = 0;
    const proxy = createServer((_req, res) => { seen++; res.end('EVIL PROXY'); });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-httpoxy-'));
    const app = join(dir, 'app.mjs');
    writeFileSync(app, `import http from 'node:http';
const atImport = await new Promise((resolve) => {
  const q = http.get('http://tsgi-httpoxy.invalid/', (res) => { let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => resolve(b)); });
  q.on('error', (e) => resolve(e.code));
});
export default (env, start) => {
  const body = env['wsgi.input'].read();
  start('200 OK', [['Content-Type', 'application/json']]);
  return [Buffer.from(JSON.stringify({ atImport, header: env.HTTP_PROXY ?? null, carrier: env.TSGI_CGI_HTTP_PROXY ?? null, body: Buffer.from(body).toString() }))];
};
`);
    try {
      for (const extra of [{ NODE_USE_ENV_PROXY: '1' }, { NODE_OPTIONS: '--use-env-proxy' }] as Record<string, string>[]) {
        const r = await run([BIN, 'cgi', app], { ...ENV, ...extra, HTTP_PROXY: url, REQUEST_METHOD: 'POST', CONTENT_LENGTH: '5', CONTENT_TYPE: 'text/plain' }, 'hello');
        expect(r.out, JSON.stringify(extra) + r.err).toMatch(/^Status: 200 OK\r\n/);
        expect(body(r.out), JSON.stringify(extra)).toEqual({ atImport: 'ENOTFOUND', header: url, carrier: null, body: 'hello' });
      }
      expect(seen).toBe(0);
    } finally {
      proxy.close();
    }
  });
});
