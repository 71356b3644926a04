// An exception thrown while a request is in a bridge, from a place the app's
// own try/catch does not reach (a tick, a timer, a body 'data' handler, Node's
// stream code), fails that request only: 500 before the head, the response
// cut after (C18), written to the log with the request; the process serves
// on. Real processes over real sockets: `tsgi http`, and serveHttp in a
// program with no 'uncaughtException' listener of its own.
import { Buffer } from 'node:buffer';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Environ } from '../../src/contract/types.js';
import { freePort, waitFor } from '../integration/servers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = `${root}test/bridges/fixtures/throwing.mjs`;
const ERROR_BODY = 'A server error occurred.  Please contact the administrator.';

/** One HTTP/1.1 request (Connection: close); whatever arrived when the server closed, reset or not. */
function request(port: number, method: string, path: string, body?: Buffer): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const out: Buffer[] = [];
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      const raw = Buffer.concat(out).toString('latin1');
      const i = raw.indexOf('\r\n\r\n');
      resolve({ status: Number(raw.slice(9, 12)), head: raw.slice(0, i + 2), body: raw.slice(i + 4) });
    };
    s.on('data', (d) => out.push(d));
    s.on('close', finish);
    s.on('error', finish);
    s.write(`${method} ${path} HTTP/1.1\r\nHost: localhost\r\n${body ? `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n` : ''}Connection: close\r\n\r\n`);
    if (body) s.write(body);
  });
}

interface Proc { child: ChildProcess; stderr: () => string; exited: Promise<number | null> }
const running: Proc[] = [];

async function start(args: string[], port: number): Promise<Proc> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stdout!.on('data', (d) => { err += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const p = { child, stderr: () => err, exited };
  running.push(p);
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`exited: ${err}`);
    return (await request(port, 'GET', '/hello')).status === 200;
  }, 'the server to answer', 20_000);
  return p;
}

afterEach(async () => {
  for (const p of running.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) { p.child.kill('SIGTERM'); await p.exited; }
  }
});

/** The cases every server here runs, the last one proving the process still serves. */
async function throwingCases(port: number, listener: boolean): Promise<string[]> {
  const seen: string[] = [];
  const tick = await request(port, 'GET', '/tick');
  seen.push(`tick ${tick.status} ${tick.body === ERROR_BODY}`);
  const after = await request(port, 'GET', '/after-head');
  // Cut: the head and the first chunk came, the last chunk (0) never did.
  seen.push(`after-head ${after.status} ${after.body.includes('partial')} ${after.body.endsWith('0\r\n\r\n')}`);
  if (listener) {
    const data = await request(port, 'POST', '/data', Buffer.from('{"a":1}'));
    seen.push(`data ${data.status} ${data.body === ERROR_BODY}`);
    const stream = await request(port, 'GET', '/stream-error');
    seen.push(`stream-error ${stream.status} ${stream.body === ERROR_BODY}`);
    const closed = await request(port, 'GET', '/close-handler');
    seen.push(`close-handler ${closed.status} ${closed.body}`);
    const json = await request(port, 'POST', '/json', Buffer.from('{"a":1}'));
    seen.push(`json ${json.status} ${json.body}`);
  }
  const hello = await request(port, 'GET', '/hello');
  seen.push(`hello ${hello.status} ${hello.body}`);
  return seen;
}

describe('an exception thrown while a request is in the bridge fails that request, not the process', () => {
  it('B3 B4 C18 Express under tsgi http: a tick, a timer after the head, a data handler and Node\'s stream code each fail their request; the server answers on', async () => {
    const port = await freePort();
    const p = await start([`${root}bin/tsgi.cjs`, 'http', fixture, '--bind', `127.0.0.1:${port}`, '--log-level', 'warn'], port);
    expect(await throwingCases(port, true)).toEqual([
      'tick 500 true', 'after-head 200 true false', 'data 500 true', 'stream-error 500 true', 'close-handler 200 sent\n', 'json 201 {"got":{"a":1}}', 'hello 200 hello\n',
    ]);
    expect(p.child.exitCode).toBe(null);
    const log = p.stderr();
    expect(log).toMatch(/GET \/tick: an exception was thrown while the request was in the bridge; it fails this request only\n(?:.*\n)*?the application raised an error: Error: thrown in a tick: secret-777\n\s+at /);
    expect(log).toMatch(/GET \/after-head: an exception was thrown while the request was in the bridge[^]*thrown after the head went out/);
    expect(log).toMatch(/POST \/data: an exception was thrown while the request was in the bridge[^]*thrown in a data handler/);
    expect(log).toMatch(/GET \/stream-error: an exception was thrown while the request was in the bridge[^]*a stream failed with no error listener/);
    // Too late to fail: the response had gone out whole. The log has it, with the request.
    expect(log).toMatch(/GET \/close-handler: an exception was thrown while the request was in the bridge; it fails this request only: Error: thrown in a close handler\n\s+at /);
    expect(log).not.toMatch(/uncaught exception/);
  }, 60_000);

  it('B5 B6 C18 Hono under tsgi http: a timer while the handler is pending and one while the body streams fail their request; the server answers on', async () => {
    const port = await freePort();
    const p = await start([`${root}bin/tsgi.cjs`, 'http', `${fixture}:hono`, '--bind', `127.0.0.1:${port}`, '--log-level', 'warn'], port);
    expect(await throwingCases(port, false)).toEqual(['tick 500 true', 'after-head 200 true false', 'hello 200 hello\n']);
    expect(p.child.exitCode).toBe(null);
    expect(p.stderr()).toMatch(/GET \/tick: an exception was thrown while the request was in the bridge[^]*thrown in a Hono timer/);
    expect(p.stderr()).toMatch(/GET \/after-head: an exception was thrown while the request was in the bridge[^]*thrown while the Hono body streams/);
    expect(p.stderr()).not.toMatch(/uncaught exception/);
  }, 60_000);

  it('B4 C18 the bridge in a program of its own (serveHttp): the same, and an exception no request owns still ends the process as Node does (exit 1, the stack)', async () => {
    const port = await freePort();
    const p = await start([`${root}test/bridges/fixtures/library-serve.mjs`, String(port)], port);
    expect(await throwingCases(port, true)).toEqual([
      'tick 500 true', 'after-head 200 true false', 'data 500 true', 'stream-error 500 true', 'close-handler 200 sent\n', 'json 201 {"got":{"a":1}}', 'hello 200 hello\n',
    ]);
    expect(p.child.exitCode).toBe(null);
    expect((await request(port, 'GET', '/outside')).body).toBe('armed\n');
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toMatch(/Error: thrown outside any request\n\s+at /);
    expect(p.stderr()).toMatch(/GET \/tick: an exception was thrown while the request was in the bridge[^]*thrown in a tick: secret-777/);
  }, 60_000);
});

describe('two copies of the bridges in one process (the CLI\'s bundle and tsgi/bridges)', () => {
  it('B1 C18 an exception one copy takes as its request\'s is claimed for every copy: the other copy\'s guard leaves it be', async () => {
    vi.resetModules();
    const a = await import('../../src/bridges/guard.js');
    vi.resetModules();
    const b = await import('../../src/bridges/guard.js');
    expect(a).not.toBe(b);
    const failed: unknown[] = [];
    const lines: string[] = [];
    const environ = { REQUEST_METHOD: 'GET', REQUEST_URI: '/x', SCRIPT_NAME: '', PATH_INFO: '/x', 'wsgi.errors': { write: (t: string) => lines.push(t) } } as unknown as Environ;
    const exchange = { environ, live: true, scope: undefined, fail: (e: unknown) => { failed.push(e); return true; } };
    const guards = (): ((e: unknown) => void)[] => process.listeners('uncaughtException').filter((l) => (l as unknown as Record<symbol, unknown>)[Symbol.for('tsgi.bridgeGuardListener')] === true) as never;
    const before = guards().length;
    const err = new Error('in b\'s request');
    // Each copy installs its guard on first use; an exception thrown in b's request reaches both.
    a.within({ ...exchange, fail: () => false }, () => {}, undefined, undefined);
    b.within(exchange, () => { for (const g of guards()) g(err); }, undefined, undefined);
    try {
      expect(guards().length).toBe(before + 2);
      expect(failed).toEqual([err]);
      expect(lines).toEqual(['GET /x: an exception was thrown while the request was in the bridge; it fails this request only\n']);
      expect([a.claimedByBridge(err), b.claimedByBridge(err), a.claimedByBridge(new Error('other'))]).toEqual([true, true, false]);
    } finally {
      for (const g of guards().slice(0, 2)) process.removeListener('uncaughtException', g);
    }
  });
});
