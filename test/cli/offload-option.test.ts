// X1 on the command line: --offload (and "offload" in a config file) is
// checked before anything starts, exit 2 with one line; tsgi check prints it;
// `tsgi cgi --offload` answers a file_wrapper response with the header.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/tsgi.cjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tsgi-offload-cli-'));
const app = join(dir, 'app.mjs');
const file = join(dir, 'file.txt');
writeFileSync(file, 'file\n');
writeFileSync(app, `export default (environ, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return environ['wsgi.file_wrapper'](${JSON.stringify(file)}); };\n`);
const tsgi = (...args: string[]): { status: number | null; out: string; err: string } => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'latin1', env: { PATH: process.env.PATH ?? '', GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'GET', SERVER_PROTOCOL: 'HTTP/1.1', SERVER_NAME: 'x', SERVER_PORT: '80', PATH_INFO: '/' } });
  return { status: r.status, out: r.stdout, err: r.stderr };
};

describe('--offload', () => {
  it('X1 a bad value is a one-line usage error, exit 2, on the command line and in a config file', () => {
    for (const v of ['bogus', 'nginx:internal', 'nginx:/a b/']) {
      const r = tsgi('fastcgi', app, '--port', '0', '--offload', v);
      expect(r.status, v).toBe(2);
      expect(r.err, v).toMatch(/^tsgi: --offload ".*": (expected nginx:PREFIX|the nginx prefix must)/);
      expect(r.err, v).not.toMatch(/\n\s+at /);
    }
    const conf = join(dir, 'c.json');
    writeFileSync(conf, JSON.stringify({ offload: 'nginx:nope' }));
    const r = tsgi('uwsgi', app, '--port', '0', '--config', conf);
    expect(r.status).toBe(2);
    expect(r.err).toContain('"offload": offload "nginx:nope": the nginx prefix must');
  });

  it('X1 tsgi check prints the setting, and says when it is off', () => {
    expect(tsgi('check', 'fastcgi', app, '--port', '0', '--offload', 'sendfile').out).toMatch(/^offload: sendfile$/m);
    expect(tsgi('check', 'fastcgi', app, '--port', '0').out).toMatch(/^offload: off \(tsgi sends files itself\) \(default\)$/m);
  });

  it('X1 tsgi cgi --offload sendfile: the CGI response names the file and has no body', () => {
    const r = tsgi('cgi', app, '--offload', 'sendfile');
    expect(r.status).toBe(0);
    expect(r.out).toBe(`Status: 200 OK\r\nContent-Type: text/plain\r\nX-Sendfile: ${file}\r\nContent-Length: 0\r\n\r\n`);
  });

  it('X4 under CGI early hints are a no-op: tsgi cgi answers with the final response only', () => {
    const hints = join(dir, 'hints.mjs');
    writeFileSync(hints, "export default (environ, start) => { environ['tsgi.early_hints']([['Link', '</a.css>; rel=preload']]); start('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('ok\\n')]; };\n");
    const r = tsgi('cgi', hints);
    expect(r.status).toBe(0);
    expect(r.out).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n');
  });
});
