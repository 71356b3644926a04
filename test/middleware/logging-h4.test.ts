// H4: every log line escapes C0 and C1 controls, DEL and quotes in what the
// client sent (JSON and combined access lines, the dev server's request line,
// tsgi's own log). P8: one access line per request, also with logging() in the
// app under `tsgi http` (the dev server's line) and under `--access-log` (the
// server's line), checked on real processes.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { accessLine } from '../../src/contract/access-log.js';
import { formatLogLine, log, setLogger, type Level } from '../../src/contract/log.js';
import type { Header } from '../../src/contract/types.js';
import { logging } from '../../src/middleware/logging.js';
import { serveHttp } from '../../src/server/http.js';
import { FcgiClient, GET } from '../fcgi-client.js';
import { fetchRaw } from '../integration/http-client.js';
import { freePort, ROOT, waitFor } from '../integration/servers.js';
import { startTsgi, stopAll } from '../integration/tsgi-process.js';
import { b, makeEnviron, run } from '../helpers.js';

const TEXT: Header[] = [['Content-Type', 'text/plain']];
const WHEN = new Date(Date.UTC(2026, 9, 10, 13, 55, 36));
// Request data with every kind of control: NUL, ESC (a terminal's escape), CR LF, DEL, NEL and CSI (C1), U+2028.
const HOSTILE = 'a"b\\c\x00d\x1b[2Je\r\nf\x7fg\x85h\x9bi';

function capture(): { lines: string[]; restore: () => void } {
  const lines: string[] = [];
  setLogger((level: Level, message: string) => { lines.push(formatLogLine(level, message, WHEN)); });
  return { lines, restore: () => setLogger((level, message) => process.stderr.write(`${formatLogLine(level, message)}\n`)) };
}

afterEach(async () => { await stopAll(); });

describe('H4 log lines escape what the client sent', () => {
  it('H4 a JSON access line writes no DEL, C1 control or line separator raw, and still parses to the same values', () => {
    const env = makeEnviron({ REQUEST_URI: `/${HOSTILE}`, HTTP_USER_AGENT: HOSTILE, HTTP_REFERER: 'r\u2028s', REMOTE_USER: 'u\x9bv' }).environ;
    const line = accessLine(env, { status: 200, bytes: 1, when: WHEN, micros: 5, error: new Error('boom\x85\u2029') }, 'json');
    // eslint-disable-next-line no-control-regex
    expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/);
    expect(line).toContain('"uri":"/a\\"b\\\\c\\u0000d\\u001b[2Je\\r\\nf\\u007fg\\u0085h\\u009bi"');
    expect(line).toContain('"remote_user":"u\\u009bv"');
    expect(line).toContain('"referer":"r\\u2028s"');
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect([parsed.uri, parsed.user_agent, parsed.referer, parsed.remote_user, parsed.error]).toEqual([`/${HOSTILE}`, HOSTILE, 'r\u2028s', 'u\x9bv', 'boom\x85\u2029']);
  });

  it('H4 a combined access line escapes the same as \\xhh, quotes and backslashes with a backslash', () => {
    const env = makeEnviron({ REQUEST_URI: `/${HOSTILE}`, HTTP_USER_AGENT: HOSTILE }).environ;
    const line = accessLine(env, { status: 200, bytes: 1, when: WHEN, micros: 5 });
    // eslint-disable-next-line no-control-regex
    expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
    expect(line).toContain('"GET /a\\"b\\\\c\\x00d\\x1b[2Je\\x0d\\x0af\\x7fg\\x85h\\x9bi HTTP/1.1"');
  });

  it('H4 tsgi\'s log: controls become \\xhh, and a line break cannot start a line of its own; stack lines stay as they were', () => {
    const { lines, restore } = capture();
    try {
      log('error', `app said: ${HOSTILE}\n2026-10-10T13:55:36.000Z tsgi[1] info: forged\nError: x\n    at f (file.js:1:2)`);
      log('info', 'plain text, nothing to do\n');
    } finally {
      restore();
    }
    expect(lines[0]).toBe(`2026-10-10T13:55:36.000Z tsgi[${process.pid}] error: app said: a"b\\c\\x00d\\x1b[2Je\\x0d\n  f\\x7fg\\x85h\\x9bi\n  2026-10-10T13:55:36.000Z tsgi[1] info: forged\n  Error: x\n    at f (file.js:1:2)`);
    for (const l of lines[0]!.split('\n').slice(1)) expect(l).toMatch(/^ /);
    expect(lines[1]).toBe(`2026-10-10T13:55:36.000Z tsgi[${process.pid}] info: plain text, nothing to do\n`);
  });

  it('H4 the dev server\'s request line escapes a quote in the target (a real socket; node:http lets no control byte through)', async () => {
    const { lines, restore } = capture();
    const srv = await serveHttp((_e, s) => { s('200 OK', TEXT); return [b('ok')]; }, { port: 0 });
    try {
      // The one byte node:http lets through in a target that a quoted field must escape.
      const r = await fetchRaw(srv.port, 'GET /x"y"z HTTP/1.0\r\nHost: h');
      expect(r.status).toBe(200);
      await waitFor(() => lines.some((l) => l.includes('"GET ')), 'the request line');
    } finally {
      await srv.close(0);
      restore();
    }
    const line = lines.find((l) => l.includes('"GET '))!;
    expect(line).toContain(' "GET /x\\"y\\"z HTTP/1.0" 200 2 ');
    // eslint-disable-next-line no-control-regex
    expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
  });

  it('H4 the dev server\'s warnings about a refused request escape a quote in the target as its request line does', async () => {
    const { lines, restore } = capture();
    const srv = await serveHttp((_e, s) => { s('200 OK', TEXT); return [b('ok')]; }, { port: 0, maxBodyBytes: 4, maxHeaders: 3 });
    try {
      const big = await fetchRaw(srv.port, 'POST /big"x" HTTP/1.0\r\nHost: h', Buffer.from('0123456789'));
      expect(big.status).toBe(413);
      const many = await fetchRaw(srv.port, 'GET /many"y" HTTP/1.0\r\nHost: h\r\nA: 1\r\nB: 2');
      expect(many.status).toBe(431);
      await waitFor(() => lines.filter((l) => l.includes(' warn: HTTP ')).length === 2, 'both warnings');
    } finally {
      await srv.close(0);
      restore();
    }
    const warns = lines.filter((l) => l.includes(' warn: HTTP '));
    expect(warns[0]).toContain(' warn: HTTP POST /big\\"x\\": ');
    expect(warns[1]).toContain(' warn: HTTP GET /many\\"y\\": more than 3 header lines');
  });

  it('H4 the gateway\'s report of an app error in wsgi.errors (the web server\'s error log under FastCGI) escapes what the message quotes from the request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-h4-report-'));
    const app = join(dir, 'app.mjs');
    // An app whose error quotes its input, as JSON.parse and many validators do.
    writeFileSync(app, "export default (e) => { throw new Error('bad input: ' + e.HTTP_X_DATA); };\n");
    const p = startTsgi(['fastcgi', app, '--socket', join(dir, 'app.sock')]);
    await p.waitLog(/: serving/, 'serving');
    const c = await FcgiClient.connect(join(dir, 'app.sock'));
    const reply = await c.request(1, { ...GET, SCRIPT_NAME: '/x', REQUEST_URI: '/x', HTTP_X_DATA: `${HOSTILE}\nFORGED error line` });
    c.socket.destroy();
    expect(await p.stop()).toBe(0);
    expect(reply.stdout.toString('latin1')).toMatch(/^Status: 500 /);
    const lines = reply.stderr.split('\n');
    expect(lines[0]).toBe('the application raised an error: Error: bad input: a"b\\c\\x00d\\x1b[2Je\\x0d');
    expect(lines[1]).toBe('  f\\x7fg\\x85h\\x9bi');
    expect(lines[2]).toBe('  FORGED error line');
    // The stack follows as it always read; no line of it begins anywhere but in a blank.
    expect(lines.slice(3).filter((l) => l !== '').every((l) => l.startsWith('    at '))).toBe(true);
    // eslint-disable-next-line no-control-regex
    expect(reply.stderr).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  });
});

/** A module using logging() from the built middleware bundle, as an app of the tsgi command. */
function loggingApp(format?: 'json'): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-logging-'));
  const file = join(dir, 'app.mjs');
  writeFileSync(file, `import { compose, logging } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/middleware.js')).href)};
const app = (_e, s) => { s('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('hi')]; };
export default compose(app, logging(${format ? JSON.stringify({ format }) : ''}));
`);
  return file;
}

describe('P8 one line per request with logging() in the app (real tsgi processes)', () => {
  it('P8 tsgi http: logging() replaces the dev server\'s request line, one line per request', async () => {
    const port = await freePort();
    const p = startTsgi(['http', loggingApp(), '--port', String(port)]);
    await p.waitLog(/: serving/, 'serving');
    for (const path of ['/one', '/two']) expect((await fetchRaw(port, `GET ${path} HTTP/1.0\r\nHost: h`)).status).toBe(200);
    expect(await p.stop()).toBe(0);
    const log = p.log();
    expect(log.split('\n').filter((l) => l.includes('/one'))).toEqual([expect.stringMatching(/ info: 127\.0\.0\.1 - - \[[^\]]+\] "GET \/one HTTP\/1\.0" 200 2 "-" "-" \d+$/)]);
    expect(log.split('\n').filter((l) => l.includes('/two'))).toHaveLength(1);
  });

  it('P8 tsgi http without logging(): the dev server\'s own line, once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-logging-'));
    const file = join(dir, 'plain.mjs');
    writeFileSync(file, "export default (_e, s) => { s('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('hi')]; };\n");
    const port = await freePort();
    const p = startTsgi(['http', file, '--port', String(port)]);
    await p.waitLog(/: serving/, 'serving');
    expect((await fetchRaw(port, 'GET /one HTTP/1.0\r\nHost: h')).status).toBe(200);
    expect(await p.stop()).toBe(0);
    expect(p.log().split('\n').filter((l) => l.includes('/one'))).toEqual([expect.stringMatching(/ info: 127\.0\.0\.1 "GET \/one HTTP\/1\.0" 200 2 [\d.]+ms$/)]);
  });

  it('P8 --access-log with logging() in the app: the server\'s line in --access-log-format, once, and nothing on stderr', async () => {
    for (const command of ['http', 'fastcgi'] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'tsgi-access-'));
      const file = join(dir, 'access.log');
      const port = await freePort();
      const where = command === 'http' ? ['--port', String(port)] : ['--socket', join(dir, 'app.sock')];
      const p = startTsgi([command, loggingApp(), ...where, '--access-log', file, '--access-log-format', 'json']);
      await p.waitLog(/: serving/, 'serving');
      if (command === 'http') {
        expect((await fetchRaw(port, 'GET /one HTTP/1.0\r\nHost: h')).status).toBe(200);
      } else {
        const c = await FcgiClient.connect(join(dir, 'app.sock'));
        const reply = await c.request(1, { ...GET, SCRIPT_NAME: '/one', REQUEST_URI: '/one' });
        expect(reply.stdout.toString('latin1')).toMatch(/^Status: 200 OK\r\n/);
        c.socket.destroy();
      }
      expect(await p.stop()).toBe(0);
      const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
      expect(lines, command).toHaveLength(1);
      expect(JSON.parse(lines[0]!), command).toMatchObject({ method: 'GET', uri: '/one', status: 200, bytes: 2 });
      expect(p.log().split('\n').filter((l) => l.includes('/one')), command).toEqual([]);
    }
  });
});

describe('logging() and tsgi.logged in process', () => {
  it('P8 two logging() layers with the default destination write one line; one with its own write() always writes', async () => {
    const { lines, restore } = capture();
    const own: string[] = [];
    try {
      const app = (_e: unknown, s: (st: string, h: Header[]) => unknown): Uint8Array[] => { s('200 OK', TEXT); return [b('x')]; };
      await run(logging()(logging()(logging({ write: (l) => own.push(l) })(app as never))));
    } finally {
      restore();
    }
    expect(lines).toHaveLength(1);
    expect(own).toHaveLength(1);
  });
});
