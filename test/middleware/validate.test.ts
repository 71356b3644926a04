// validate(): every V rule, and the C rules it checks (V1), through the engine
// and against hand-driven "gateways" that break the contract on purpose.
import { Buffer } from 'node:buffer';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { captureStderr } from '../capture.js';
import { ContractError } from '../../src/contract/errors.js';
import { setLogger } from '../../src/contract/log.js';
import type { App, Body, Environ, Header } from '../../src/contract/types.js';
import { ERROR_BODY } from '../../src/gateway/engine.js';
import { validate } from '../../src/middleware/validate.js';
import { waitFor } from '../integration/servers.js';
import { b, makeEnviron, run, tick } from '../helpers.js';
import { waitUntil } from '../timing.js';

// A validate() whose body is dropped unclosed reports it when the body is
// garbage-collected (V4), whenever that is: those reports, and only those, may
// come at any time during this file.
captureStderr(/^((?:\S+ tsgi\[\d+\]|tsgi) error: validate: the response body was neither iterated to its end nor closed \[V4\]\n)*$/);

const TEXT: Header[] = [['Content-Type', 'text/plain']];
const hello: App = (_e, start) => { start('200 OK', TEXT); return [b('hi')]; };
const E500 = `Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 59\r\n\r\n${ERROR_BODY.toString('latin1')}`;

/** The ContractError a call throws (fails the test if it throws none). */
function thrown(fn: () => unknown): ContractError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ContractError);
    return err as ContractError;
  }
  throw new Error('expected a ContractError');
}

/** Calls validate(app) as a gateway would, with environ changed by `edit`. */
function withEnviron(edit: (env: Record<string, unknown>) => void, app: App = hello): () => unknown {
  const { environ } = makeEnviron();
  edit(environ as Record<string, unknown>);
  return () => validate(app)(environ, () => () => {});
}

/** Runs a validated app through the engine; returns the response text and wsgi.errors. */
async function viaEngine(app: App, vars: Record<string, string> = {}, body?: Buffer): Promise<{ text: string; errors: string }> {
  const r = await run(validate(app), vars, body ? { body } : {});
  return { text: r.sink.text, errors: r.errors };
}

describe('validate(): V1, the environ (C2–C8)', () => {
  it('V1 passes a good request through unchanged, byte for byte (the array body keeps its Content-Length, C20)', async () => {
    const plain = await run(hello);
    const checked = await run(validate(hello));
    expect(checked.sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi');
    expect(checked.sink.text).toBe(plain.sink.text);
    expect(checked.sink.events).toEqual(plain.sink.events);
  });

  it('V1 C2 a required variable that is missing or not a string is named', () => {
    for (const k of ['REQUEST_METHOD', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'QUERY_STRING', 'SCRIPT_NAME', 'PATH_INFO']) {
      const e = thrown(withEnviron((env) => { delete env[k]; }));
      expect(e.rule).toBe('C2');
      expect(e.message).toContain(k);
    }
    expect(thrown(withEnviron((env) => { env.REQUEST_METHOD = 'GE T'; })).rule).toBe('C2');
  });

  it("V1 C3 an optional variable present as '' is named; CONTENT_LENGTH '' is allowed, junk is not", () => {
    for (const k of ['CONTENT_TYPE', 'REMOTE_USER', 'HTTPS', 'AUTH_TYPE']) {
      expect(thrown(withEnviron((env) => { env[k] = ''; })).rule).toBe('C3');
    }
    expect(withEnviron((env) => { env.CONTENT_LENGTH = ''; })()).toEqual([b('hi')]);
    expect(thrown(withEnviron((env) => { env.CONTENT_LENGTH = '12abc'; })).rule).toBe('C3');
  });

  it('V1 C4 CGI values are bytes-as-strings: a character above U+00FF or a non-string is named', () => {
    expect(withEnviron((env) => { env.HTTP_X = 'caf\xc3\xa9'; })()).toEqual([b('hi')]);
    const wide = thrown(withEnviron((env) => { env.HTTP_X = 'caf\u00e9\u0100'; }));
    expect([wide.rule, wide.code]).toEqual(['C4', 'ERR_BAD_ENVIRON']);
    expect(thrown(withEnviron((env) => { env.HTTP_X = 5; })).rule).toBe('C4');
  });

  it('V1 C5 wsgi.version is [1, 0] and wsgi.url_scheme agrees with HTTPS', () => {
    expect(thrown(withEnviron((env) => { env['wsgi.version'] = [1, 1]; })).rule).toBe('C5');
    expect(thrown(withEnviron((env) => { env.HTTPS = 'on'; })).rule).toBe('C5');
    expect(withEnviron((env) => { env.HTTPS = 'ON'; env['wsgi.url_scheme'] = 'https'; })()).toEqual([b('hi')]);
  });

  it('V1 C6 wsgi.multithread is false; multiprocess and run_once are booleans', () => {
    expect(thrown(withEnviron((env) => { env['wsgi.multithread'] = true; })).rule).toBe('C6');
    expect(thrown(withEnviron((env) => { env['wsgi.run_once'] = 'no'; })).rule).toBe('C6');
  });

  it('V1 C7 HTTP_CONTENT_TYPE / HTTP_CONTENT_LENGTH never reach the app', () => {
    expect(thrown(withEnviron((env) => { env.HTTP_CONTENT_TYPE = 'text/plain'; })).rule).toBe('C7');
    expect(thrown(withEnviron((env) => { env.HTTP_CONTENT_LENGTH = '3'; })).rule).toBe('C7');
  });

  it("V1 C8 SCRIPT_NAME is never '/', and both paths are '' or start with '/'", () => {
    expect(thrown(withEnviron((env) => { env.SCRIPT_NAME = '/'; })).rule).toBe('C8');
    expect(thrown(withEnviron((env) => { env.SCRIPT_NAME = 'app'; })).rule).toBe('C8');
    expect(thrown(withEnviron((env) => { env.PATH_INFO = 'x'; })).rule).toBe('C8');
  });

  it('V1 C9/C10 wsgi.input and wsgi.errors must be streams', () => {
    expect(thrown(withEnviron((env) => { env['wsgi.input'] = {}; })).rule).toBe('C9');
    expect(thrown(withEnviron((env) => { env['wsgi.errors'] = { write() {} }; })).rule).toBe('C10');
  });

  it('V1 an environ violation through the engine is a 500 naming the rule on wsgi.errors', async () => {
    const r = await viaEngine(hello, { HTTP_X_WIDE: '\u0100' });
    expect(r.text).toBe(E500);
    expect(r.errors).toContain('has a character above U+00FF; values are bytes-as-string [C4]');
  });
});

describe('validate(): V1, the response (C11–C13, C16, C17, C19)', () => {
  const startWith = (status: unknown, headers: unknown): ContractError =>
    thrown(() => validate((_e, start) => { start(status as string, headers as Header[]); return []; })(makeEnviron().environ, () => () => {}));

  it('V1 C11 a bad status is named, including a code outside 100–599', () => {
    for (const s of ['200', '200OK', ' 200 OK', '200 OK\r\n', 200, '099 Low', '600 High']) expect(startWith(s, TEXT).rule).toBe('C11');
  });

  it('V1 C12 bad header names and values, and a Status header, are named', () => {
    expect(startWith('200 OK', [['Content-Type', 'text/plain'], ['X Y', 'v']]).rule).toBe('C12');
    expect(startWith('200 OK', [['Content-Type', 'text/plain'], ['X', 'a\r\nSet-Cookie: x=1']]).rule).toBe('C12');
    expect(startWith('200 OK', [['Content-Type', 'text/plain'], ['X', '\u0100']]).rule).toBe('C12');
    expect(startWith('200 OK', [['Content-Type', 'text/plain'], ['Status', '200 OK']]).rule).toBe('C12');
    expect(startWith('200 OK', 'Content-Type: text/plain').rule).toBe('C12');
  });

  it('V1 C13 hop-by-hop headers are named', () => {
    for (const h of ['Connection', 'keep-alive', 'Transfer-Encoding', 'Upgrade', 'TE', 'Trailers']) {
      expect(startWith('200 OK', [['Content-Type', 'text/plain'], [h, 'x']]).rule).toBe('C13');
    }
  });

  it('V1 C16 a chunk before startResponse, or an array body without it, is named', () => {
    const early = validate(() => (function* () { yield b('x'); })());
    const body = early(makeEnviron().environ, () => () => {}) as Iterable<Uint8Array>;
    expect(thrown(() => body[Symbol.iterator]().next()).rule).toBe('C16');
    expect(thrown(() => validate(() => [b('x')])(makeEnviron().environ, () => () => {})).rule).toBe('C16');
  });

  it('V1 C19 a string body, a Buffer body, nothing, a string chunk and a string write() are named', async () => {
    for (const bad of ['text', b('text'), undefined, null, 42]) {
      const e = thrown(() => validate((_e, start) => { start('200 OK', TEXT); return bad as unknown as Body; })(makeEnviron().environ, () => () => {}));
      expect(e.rule).toBe('C19');
    }
    expect(thrown(() => validate((_e, s) => { s('200 OK', TEXT); return ['x' as unknown as Uint8Array]; })(makeEnviron().environ, () => () => {})).rule).toBe('C19');
    const r = await viaEngine((_e, start) => { start('200 OK', TEXT)('x' as unknown as Uint8Array); return []; });
    expect(r.text).toBe(E500);
    expect(r.errors).toContain('[C19]');
    const gen = await viaEngine((_e, start) => (function* () { start('200 OK', TEXT); yield 'x' as unknown as Uint8Array; })());
    expect(gen.text).toBe(E500);
    expect(gen.errors).toContain('[C19]');
  });

  it('V1 C17 close() called twice by the gateway is named', () => {
    const body = validate(hello)(makeEnviron().environ, () => () => {}) as Body;
    body.close!();
    expect(thrown(() => body.close!()).rule).toBe('C17');
  });

  it("V1 the app's own close() runs once, with its own this", async () => {
    const calls: unknown[] = [];
    const own = { *[Symbol.iterator]() { yield b('a'); }, close() { calls.push(this); } };
    const r = await run(validate((_e, start) => { start('200 OK', TEXT); return own; }));
    expect(r.sink.text).toContain('\r\n\r\n');
    expect(calls).toEqual([own]);
  });
});

describe('validate(): V2 Content-Type', () => {
  it('V2 a 200 without Content-Type is refused; 1xx-free 204 and 304 without one pass', async () => {
    const none = await viaEngine((_e, start) => { start('200 OK', []); return [b('x')]; });
    expect(none.text).toBe(E500);
    expect(none.errors).toContain('a 200 response needs a Content-Type header [V2]');
    expect(thrown(() => validate((_e, s) => { s('404 Not Found', [['content-length', '0']]); return []; })(makeEnviron().environ, () => () => {})).code).toBe('ERR_CONTENT_TYPE');
    for (const s of ['204 No Content', '304 Not Modified']) {
      const ok = await viaEngine((_e, start) => { start(s, []); return []; });
      expect(ok.text).toBe(`Status: ${s}\r\nContent-Length: 0\r\n\r\n`);
    }
  });

  it('V2 a 204 or 304 with a Content-Type is refused', async () => {
    for (const s of ['204 No Content', '304 Not Modified']) {
      const r = await viaEngine((_e, start) => { start(s, [['content-type', 'text/plain']]); return []; });
      expect(r.text).toBe(E500);
      expect(r.errors).toContain('must not have a Content-Type header [V2]');
    }
  });
});

describe('validate(): V3 wsgi.input and wsgi.errors', () => {
  it('V3 the app may not close wsgi.input or wsgi.errors', async () => {
    for (const stream of ['wsgi.input', 'wsgi.errors']) {
      const r = await viaEngine((env, start) => { (env[stream] as { close(): void }).close(); start('200 OK', TEXT); return []; });
      expect(r.text).toBe(E500);
      expect(r.errors).toContain(`must not call ${stream}.close(): the gateway owns the stream [V3]`);
    }
  });

  it('V3 read, readline and readlines take at most one argument, an integer', async () => {
    const calls: Array<(i: Record<string, (...a: unknown[]) => unknown>) => unknown> = [
      (i) => i.read!(1, 2), (i) => i.readline!(1, 2), (i) => i.readlines!(1, 2), (i) => i.read!('5'), (i) => i.readline!(1.5),
    ];
    for (const call of calls) {
      const r = await viaEngine((env, start) => { call(env['wsgi.input'] as never); start('200 OK', TEXT); return []; }, {}, b('abc\ndef\n'));
      expect(r.errors).toContain('[V3]');
    }
  });

  it('V3 correct use reads the same bytes as without the validator', async () => {
    const app: App = (env, start) => {
      const input = env['wsgi.input'];
      const first = input.readline();
      const two = input.read(2);
      const rest = input.readlines();
      const after = input.read();
      env['wsgi.errors'].write('one\n');
      env['wsgi.errors'].writelines(['two\n']);
      env['wsgi.errors'].flush();
      start('200 OK', TEXT);
      return [Buffer.concat([first, b('|'), two, b('|'), ...rest, b(`|${after.length}`)])];
    };
    const r = await viaEngine(app, {}, b('abc\ndef\nghi'));
    expect(r.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n\r\nabc\n|de|f\nghi|0');
    expect(r.errors).toBe('one\ntwo\n');
  });

  it('V3 wsgi.errors takes text: bytes, several arguments or non-string lines are refused', async () => {
    for (const call of [(e: Environ) => e['wsgi.errors'].write(b('x') as never), (e: Environ) => (e['wsgi.errors'].write as (...a: unknown[]) => void)('a', 'b'),
      (e: Environ) => e['wsgi.errors'].writelines([1] as never), (e: Environ) => (e['wsgi.errors'].flush as (...a: unknown[]) => void)(1)]) {
      const r = await viaEngine((env, start) => { call(env); start('200 OK', TEXT); return []; });
      expect(r.errors).toContain('[V3]');
    }
  });
});

describe('validate(): V4 the body is finished or closed, never iterated after close()', () => {
  it('V4 a gateway that iterates after close() gets an error', () => {
    const body = validate((_e, start) => { start('200 OK', TEXT); return new Set([b('a'), b('b')]); })(makeEnviron().environ, () => () => {}) as Body & Iterable<Uint8Array>;
    const it = body[Symbol.iterator]();
    expect(it.next().value).toEqual(b('a'));
    body.close!();
    const e = thrown(() => it.next());
    expect([e.rule, e.code]).toEqual(['V4', 'ERR_BODY_AFTER_CLOSE']);
  });

  it('V4 write() after the body was closed is refused', () => {
    let write: (d: Uint8Array) => void = () => {};
    const body = validate((_e, start) => { write = start('200 OK', TEXT); return []; })(makeEnviron().environ, () => () => {}) as Body;
    body.close!();
    expect(thrown(() => write(b('late'))).rule).toBe('V4');
  });

  it('V4 a body iterated to its end and never closed is reported (C17) after the grace period', async () => {
    const seen: ContractError[] = [];
    const app = validate((_e, start) => { start('200 OK', TEXT); return new Set([b('a')]); }, { onViolation: (e) => seen.push(e), closeGraceMs: 20 });
    const body = app(makeEnviron().environ, () => () => {}) as Iterable<Uint8Array>;
    expect([...body]).toEqual([b('a')]);
    await waitUntil(() => seen.length > 0, 'the C17 report after the grace period');
    expect(seen.map((e) => [e.rule, e.code])).toEqual([['C17', 'ERR_BODY_NOT_CLOSED']]);
  });

  it('V4 the default report goes to the tsgi log (the request may be over by then), not to wsgi.errors', async () => {
    const { environ, log } = makeEnviron();
    const lines: string[] = [];
    setLogger((level, message) => lines.push(`${level}: ${message}`));
    try {
      const body = validate((_e, start) => { start('200 OK', TEXT); return new Set([b('a')]); }, { closeGraceMs: 10 })(environ, () => () => {}) as Iterable<Uint8Array>;
      void [...body];
      await waitFor(() => lines.some((l) => l.includes('[C17]')), 'the C17 report');
    } finally {
      setLogger((level, message) => process.stderr.write(`tsgi ${level}: ${message}\n`));
    }
    // Bodies other tests dropped may be collected meanwhile, and reported (V4): not this test's.
    expect(lines.filter((l) => !l.endsWith('neither iterated to its end nor closed [V4]'))).toEqual(["error: validate: the body's iterator finished but the gateway did not call close() within 10 ms [C17]"]);
    expect(log).toEqual([]);
  });

  it('V4 a body dropped without being finished or closed is reported when it is collected', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const seen: ContractError[] = [];
    const app = validate((_e, start) => { start('200 OK', TEXT); return new Set([b('a'), b('b')]); }, { onViolation: (e) => seen.push(e) });
    (() => {
      const body = app(makeEnviron().environ, () => () => {}) as Iterable<Uint8Array>;
      body[Symbol.iterator]().next();
    })();
    for (let i = 0; i < 20 && seen.length === 0; i++) {
      gc();
      await tick(10);
    }
    expect(seen.map((e) => e.rule)).toEqual(['V4']);
  });

  it('V4 the engine, stopping a body early on abort, returns and closes it: nothing is reported', async () => {
    const seen: ContractError[] = [];
    let finallyRan = false;
    const app = validate((_e, start) => (async function* () {
      try {
        start('200 OK', TEXT);
        for (;;) {
          yield b('more');
          await tick(5);
        }
      } finally {
        finallyRan = true;
      }
    })(), { onViolation: (e) => seen.push(e), closeGraceMs: 10 });
    const r = await run(app, {}, { during: (x) => { setTimeout(() => x.controller.abort(new Error('gone')), 20); } });
    await tick(40);
    expect(r.sink.events).toContain('abort');
    expect(finallyRan).toBe(true);
    expect(seen).toEqual([]);
  });

  it('V4 an async body finished by the engine is closed: nothing is reported', async () => {
    const seen: ContractError[] = [];
    const app = validate((_e, start) => (async function* () { start('200 OK', TEXT); yield b('a'); yield b('b'); })(), { onViolation: (e) => seen.push(e), closeGraceMs: 10 });
    const r = await run(app);
    await tick(30);
    expect(r.sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nab');
    expect(seen).toEqual([]);
  });
});
