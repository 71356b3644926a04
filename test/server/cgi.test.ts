import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = `${root}bin/tsgi.cjs`;
const apps = `${root}test/fixtures/apps.js`;

const BASE_ENV: Record<string, string> = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'GET', SERVER_NAME: 'example.org', SERVER_PORT: '80',
  SERVER_PROTOCOL: 'HTTP/1.1', SCRIPT_NAME: '/cgi-bin/app', PATH_INFO: '/', QUERY_STRING: '',
};

interface Result { stdout: Buffer; stderr: string; code: number | null }

/**
 * Runs one CGI request in a real child process. `shell` is a prefix that may set
 * raw-byte variables with printf; `args` are more `tsgi cgi` options.
 */
function cgi(name: string, env: Record<string, string> = {}, input?: Buffer, opts: { shell?: string; args?: string[] } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', `${opts.shell ?? ''} exec "$0" "$@"`, process.execPath, bin, 'cgi', `${apps}:${name}`, ...(opts.args ?? [])], {
      env: { ...BASE_ENV, ...env },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString(), code }));
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

const E500 = 'Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 59\r\n\r\nA server error occurred.  Please contact the administrator.';

describe('CGI adapter (real child processes)', () => {
  it('CGI6 W1–W5, W8: golden output of the reference gateway, byte for byte', async () => {
    const expected: Record<string, Buffer> = {
      w1: Buffer.from('Status: 200 OK\r\nContent-Length: 4\r\n\r\nhttp'),
      w2: Buffer.from('Status: 200 OK\r\n\r\nhttp'),
      w3: Buffer.concat([Buffer.from('Status: 200 OK\r\nContent-Length: 8\r\n\r\n'), Buffer.from([0xd1, 0x82, 0xd0, 0xb5, 0xd1, 0x81, 0xd1, 0x82])]),
      w4: Buffer.from('Status: 200 OK\r\nContent-Length: 12345\r\n\r\n'),
      w5: Buffer.from('Status: 200 OK\r\nContent-Length: 0\r\n\r\n'),
      w8: Buffer.from('Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n\r\ndata'),
    };
    const results = await Promise.all(Object.keys(expected).map((k) => cgi(k)));
    Object.keys(expected).forEach((k, i) => {
      expect(results[i]!.stdout.toString('latin1'), k).toBe(expected[k]!.toString('latin1'));
    });
    expect(results[0]!.code).toBe(0);
    // W4: the body is short of its Content-Length: logged, and the exit code says it was cut off.
    expect(results[3]!.stderr).toMatch(/declared Content-Length 12345/);
    expect(results[3]!.code).toBe(1);
  });

  it('CGI6 W6: an app that throws before starting gives the 500 and the stack on stderr', async () => {
    const r = await cgi('w6');
    expect(r.stdout.toString('latin1')).toBe(E500);
    expect(r.stderr).toContain('W6 failure before starting');
    expect(r.stderr).toMatch(/at w6 .*apps\.js/);
    expect(r.code).toBe(0);
  });

  it('CGI6 W7: an error after output sends nothing more; the error goes to stderr only', async () => {
    const r = await cgi('w7');
    expect(r.stdout.toString('latin1')).toBe('Status: 200 OK\r\n\r\nSome output has been sent');
    expect(r.stderr).toContain('W7 failure after output');
  });

  it('CGI6 W9: a malformed status is raised inside startResponse and gives the W6 response', async () => {
    for (const name of ['w9a', 'w9b', 'w9c']) {
      const r = await cgi(name);
      expect(r.stdout.toString('latin1'), name).toBe(E500);
      expect(r.stderr).toMatch(/status must be a string "NNN Reason"/);
    }
  });

  it('CGI1 environ comes from the raw environment bytes: a non-UTF-8 byte survives (C4)', async () => {
    const r = await cgi('env', {}, undefined, { shell: `PATH_INFO="$(printf '/caf\\351')" HTTP_X_RAW="$(printf '\\377\\200ok')"; export PATH_INFO HTTP_X_RAW;` });
    const env = JSON.parse(r.stdout.toString('latin1').split('\r\n\r\n')[1]!) as Record<string, unknown>;
    expect(env.PATH_INFO).toBe('/caf\xe9');
    expect(env.HTTP_X_RAW).toBe('\xff\x80ok');
  });

  it('C6 under CGI: multithread false, multiprocess true, run_once true; C5 url_scheme from HTTPS', async () => {
    const r = await cgi('env', { HTTPS: 'on', CONTENT_TYPE: '', CONTENT_LENGTH: '' });
    const env = JSON.parse(r.stdout.toString('latin1').split('\r\n\r\n')[1]!) as Record<string, unknown>;
    expect([env['wsgi.multithread'], env['wsgi.multiprocess'], env['wsgi.run_once']]).toEqual([false, true, true]);
    expect(env['wsgi.url_scheme']).toBe('https');
    expect(env['wsgi.version']).toEqual([1, 0]);
    expect('CONTENT_TYPE' in env || 'CONTENT_LENGTH' in env).toBe(false);
  });

  it('CGI2 wsgi.input reads stdin, bounded by CONTENT_LENGTH', async () => {
    const r = await cgi('bounded', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '5' }, Buffer.from('helloEXTRA-BYTES'));
    expect(r.stdout.toString('latin1')).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\n5:hello:0');
  });

  it('CGI2 all 256 byte values go in and come back unchanged, 1 MB of them', async () => {
    const body = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 8)) & 0xff;
    const r = await cgi('echo', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) }, body);
    const head = 'Status: 200 OK\r\nContent-Type: application/octet-stream\r\nX-Body-Length: 1048576\r\nContent-Length: 1048576\r\n\r\n';
    expect(r.stdout.subarray(0, head.length).toString('latin1')).toBe(head);
    expect(r.stdout.subarray(head.length).equals(body)).toBe(true);
  });

  it('CGI2 a chunked upload passed without CONTENT_LENGTH (Apache mod_cgi) is read to EOF and given its length', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 13) & 0xff;
    const r = await cgi('echo', { REQUEST_METHOD: 'POST', HTTP_TRANSFER_ENCODING: 'chunked' }, body);
    const head = `Status: 200 OK\r\nContent-Type: application/octet-stream\r\nX-Body-Length: ${body.length}\r\nContent-Length: ${body.length}\r\n\r\n`;
    expect(r.stdout.subarray(0, head.length).toString('latin1')).toBe(head);
    expect(r.stdout.subarray(head.length).equals(body)).toBe(true);
    const over = await cgi('echo', { REQUEST_METHOD: 'POST', HTTP_TRANSFER_ENCODING: 'chunked' }, Buffer.alloc(4096), { args: ['--max-body', '1k'] });
    expect(over.stdout.toString('latin1')).toMatch(/^Status: 413 Content Too Large\r\n/);
  });

  it('CGI2 a CONTENT_LENGTH that is not a number is answered 400 without running the app', async () => {
    const r = await cgi('echo', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: 'ten' }, Buffer.from('x'));
    expect(r.stdout.toString('latin1')).toMatch(/^Status: 400 Bad Request\r\nContent-Type: text\/plain\r\nContent-Length: \d+\r\n\r\nCONTENT_LENGTH "ten" is not a number\n$/);
  });

  it('CGI3 Status line, latin-1 header bytes, CRLF, body; exit code 0', async () => {
    const r = await cgi('latin1Header');
    expect(r.stdout).toEqual(Buffer.from('Status: 200 OK\r\nContent-Type: text/plain\r\nX-Caf: caf\xe9\r\nContent-Length: 2\r\n\r\nok', 'latin1'));
    expect(r.stdout.includes(Buffer.from([0xc3, 0xa9]))).toBe(false);
    expect(r.code).toBe(0);
  });

  it('CGI3 stdout is flushed before exit, also for a large response', async () => {
    const r = await cgi('big', { QUERY_STRING: 'mb=8' });
    const head = 'Status: 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 8388608\r\n\r\n';
    expect(r.stdout.length).toBe(head.length + 8 * 1024 * 1024);
    expect(r.stdout[head.length + 300]).toBe(300 & 0xff);
    expect(r.code).toBe(0);
  });

  it('CGI3 console.log in the app goes to stderr and cannot corrupt the response', async () => {
    const r = await cgi('chatty');
    expect(r.stdout.toString('latin1')).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nclean');
    expect(r.stderr).toContain('this line must go to stderr');
  });

  it('CGI4 a local redirect (Location path, no body) is passed through unchanged', async () => {
    const r = await cgi('redirect');
    expect(r.stdout.toString('latin1')).toBe('Status: 200 OK\r\nLocation: /target.txt\r\nContent-Length: 0\r\n\r\n');
  });

  it('CGI5 HTTP_PROXY is removed from the process environment (httpoxy) but the header stays in environ', async () => {
    const r = await cgi('env', { HTTP_PROXY: 'http://evil.example:3128' });
    const env = JSON.parse(r.stdout.toString('latin1').split('\r\n\r\n')[1]!) as Record<string, unknown>;
    expect(env['process.env.HTTP_PROXY']).toBeNull();
    expect(env.HTTP_PROXY).toBe('http://evil.example:3128');
  });

  it('C18 an app error gives a 500 that reveals nothing', async () => {
    const r = await cgi('boom');
    expect(r.stdout.toString('latin1')).toBe(E500);
    expect(r.stderr).toContain('secret-token-123');
  });

  it('C17 SIGTERM from the web server stops the body, runs close() and exits', async () => {
    const child = spawn(process.execPath, [bin, 'cgi', `${apps}:slow`], { env: BASE_ENV });
    const err: Buffer[] = [];
    let out = '';
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdout.on('data', (d: Buffer) => { out += d.toString('latin1'); });
    await new Promise((r) => child.stdout.once('data', r));
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.on('close', r));
    expect(out).toMatch(/^Status: 200 OK\r\nContent-Type: text\/plain\r\n\r\ntick 0\n/);
    expect(Buffer.concat(err).toString()).toContain('slow: close() called');
    expect(code).toBe(1);
  });

  it('C17 the web server closing stdout (EPIPE) stops the body; async finally and close() finish before exit', async () => {
    const child = spawn(process.execPath, [bin, 'cgi', `${apps}:asyncFinally`], { env: BASE_ENV });
    const err: Buffer[] = [];
    child.stderr.on('data', (d: Buffer) => err.push(d));
    await new Promise((r) => child.stdout.once('data', r));
    child.stdout.destroy(); // as a web server does when its client goes away
    const code = await new Promise((r) => child.on('close', r));
    const text = Buffer.concat(err).toString();
    expect(text).toContain('asyncFinally: finally ran');
    expect(text).toContain('asyncFinally: async close() finished');
    expect(code).toBe(1);
  });

  it('R1 a 16 MiB body read() from stdin in one piece comes back byte-exact', async () => {
    const body = Buffer.alloc(16 * 1024 * 1024 + 5);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >>> 12)) & 0xff;
    const r = await cgi('echo', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) }, body);
    const out = r.stdout;
    const at = out.indexOf('\r\n\r\n') + 4;
    expect(out.subarray(at).equals(body)).toBe(true);
    expect(r.code).toBe(0);
  });

  it('S1 a CONTENT_LENGTH over the limit is answered 413 without running the app', async () => {
    const r = await cgi('echo', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(2 * 1024 ** 3) }, Buffer.from('x'));
    expect(r.stdout.toString('latin1')).toMatch(/^Status: 413 Content Too Large\r\n/);
    // A refusal is a complete response: exit 0, as the README says of every complete response.
    expect(r.code).toBe(0);
  });

  it('CGI3 a script that calls runCgi itself works the same (tsgi/cgi entry point)', async () => {
    const r = await new Promise<Buffer>((resolve) => {
      const child = spawn(`${root}test/fixtures/direct-cgi.js`, [], { env: BASE_ENV });
      const out: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.on('close', () => resolve(Buffer.concat(out)));
      child.stdin.end();
    });
    expect(r.toString('latin1')).toBe('Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n\r\ndata');
  });
});
