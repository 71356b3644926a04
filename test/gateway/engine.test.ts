import { Buffer } from 'node:buffer';
import { fstatSync, mkdtempSync, openSync, readSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { App, Environ, Header } from '../../src/contract/types.js';
import { ERROR_BODY, runRequest } from '../../src/gateway/engine.js';
import { RecordingSink, b, makeEnviron, run, tick } from '../helpers.js';
import { waitUntil } from '../timing.js';

const OK: Header[] = [['Content-Type', 'text/plain']];
const E500 = `Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 59\r\n\r\n${ERROR_BODY.toString('latin1')}`;

/** Runs an app that calls startResponse with the given status/headers and reports what it threw. */
async function startError(status: unknown, headers: unknown): Promise<{ code?: string; rule?: string; message?: string }> {
  let caught: { code?: string; rule?: string; message?: string } = {};
  await run((_e, start) => {
    try {
      start(status as string, headers as Header[]);
    } catch (err) {
      caught = err as typeof caught;
    }
    start('200 OK', [], new Error('recover'));
    return [];
  });
  return caught;
}

describe('the gateway engine', () => {
  it('C1 environ is a plain object, new for every request, that the app may change', async () => {
    // Captured inside the app, asserted outside: a failed expect inside an app only becomes a 500.
    const seen: { environ: Environ; proto: unknown; before: unknown; signal: unknown; replaced: unknown; copy: Record<string, unknown> }[] = [];
    const app: App = (environ, start) => {
      const proto = Object.getPrototypeOf(environ);
      const before = environ.CHANGED;
      environ.CHANGED = 'yes';
      environ.PATH_INFO = '/changed';
      const signal = environ['tsgi.abort'];
      environ['tsgi.abort'] = 'replaced' as unknown as AbortSignal;
      const replaced = environ['tsgi.abort'];
      environ['wsgi.version'].push(9 as never);
      delete (environ as Record<string, unknown>).QUERY_STRING;
      seen.push({ environ, proto, before, signal, replaced, copy: { ...environ } });
      start('200 OK', OK);
      return [b('x')];
    };
    const first = await run(app);
    const second = await run(app);
    for (const r of [first, second]) expect(r.sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx');
    expect(seen).toHaveLength(2);
    for (const s of seen) {
      expect(s.proto).toBe(Object.prototype);
      expect(s.before).toBeUndefined();
      expect(s.signal).toBeInstanceOf(AbortSignal);
      expect(s.replaced).toBe('replaced');
      expect(s.copy).toMatchObject({ CHANGED: 'yes', PATH_INFO: '/changed', 'tsgi.abort': 'replaced' });
      expect(s.copy).not.toHaveProperty('QUERY_STRING');
      expect(s.environ['wsgi.version']).toEqual([1, 0, 9]);
    }
    expect(seen[0]!.environ).not.toBe(seen[1]!.environ);
    expect(seen[0]!.environ['wsgi.version']).not.toBe(seen[1]!.environ['wsgi.version']);
  });

  it('C11 a malformed status raises inside startResponse', async () => {
    for (const bad of ['200', '20X OK', '200OK', '200 ', ' 200 OK', '2000 OK', '200 OK\r\n', '200 O\nK', '200 \u0100K', 200, null]) {
      const err = await startError(bad, []);
      expect(err.code, `status ${JSON.stringify(bad)}`).toBe('ERR_BAD_STATUS');
      expect(err.rule).toBe('C11');
    }
    expect(await startError('404 Not Found', [])).toEqual({});
    expect(await startError('200 caf\xe9', [])).toEqual({});
  });

  it('C12 header names must be tokens, values latin-1 without CR/LF/NUL, never Status', async () => {
    const bad: unknown[] = [
      [['X Bad', 'v']], [['X:Bad', 'v']], [['X\x01', 'v']], [['', 'v']], [['X-A', 'a\r\nInjected: 1']],
      [['X-A', 'a\nb']], [['X-A', 'a\0b']], [['X-A', '\u20ac']], [['X-A', 5]], [[5, 'v']], [['X-A']],
      [['Status', '200 OK']], [['status', '200 OK']], 'not-a-list', [['X-A', 'v', 'w']],
    ];
    for (const headers of bad) {
      const err = await startError('200 OK', headers);
      expect(err.code, JSON.stringify(headers)).toBe('ERR_BAD_HEADER');
      expect(err.rule).toBe('C12');
    }
    expect(await startError('200 OK', [['X-Latin', 'caf\xe9'], ['X-Tab', 'a\tb'], ['x-lower', '']])).toEqual({});
  });

  it('C12 what is sent is the headers as checked: changing a pair or the list after startResponse changes nothing', async () => {
    // Whole bodies and streamed ones, a first list and the same strings again (the checks' memo), each changed after the call.
    const mutate = (h: Header[]): void => {
      h[0]![1] = 'ok\r\nInjected: 1';
      h[0]![0] = 'X Bad';
      h.push(['Set-Cookie', 'later=1']);
    };
    const texts: string[] = [];
    for (let i = 0; i < 3; i++) {
      const whole = await run((_e, start) => {
        const h: Header[] = [['X-A', 'ok']];
        start('200 OK', h);
        mutate(h);
        return [b('x')];
      });
      texts.push(whole.sink.text);
      const streamed = await run((_e, start) => {
        const h: Header[] = [['X-A', 'ok']];
        start('200 OK', h);
        return (function* () {
          mutate(h);
          yield b('x');
          yield b('y');
        })();
      });
      texts.push(streamed.sink.text);
    }
    for (let i = 0; i < texts.length; i += 2) {
      expect(texts[i]).toBe('Status: 200 OK\r\nX-A: ok\r\nContent-Length: 1\r\n\r\nx');
      expect(texts[i + 1]).toBe('Status: 200 OK\r\nX-A: ok\r\n\r\nxy');
    }
  });

  it('C13 hop-by-hop headers raise inside startResponse, in any case', async () => {
    for (const name of ['Connection', 'keep-alive', 'Proxy-Authenticate', 'PROXY-AUTHORIZATION', 'TE', 'Trailers', 'trailer', 'Transfer-Encoding', 'Upgrade']) {
      const err = await startError('200 OK', [[name, 'x']]);
      expect(err.code, name).toBe('ERR_HOP_BY_HOP_HEADER');
      expect(err.rule).toBe('C13');
    }
  });

  it('C14 status and headers are held back until the first non-empty chunk', async () => {
    const sink = new RecordingSink();
    let eventsBeforeData = -1;
    await run((_e, start) => {
      start('200 OK', OK);
      return (function* () {
        yield b('');
        yield b('');
        eventsBeforeData = sink.events.length;
        yield b('data');
        yield b('');
        yield b('more');
      })();
    }, {}, { sink });
    expect(eventsBeforeData).toBe(0);
    expect(sink.events).toEqual(['head 200 OK 4', 'write 4', 'end']);
    expect(sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\ndatamore');
  });

  it('C14 the first write() sends the head, even an empty one', async () => {
    const sink = new RecordingSink();
    let afterWrite: string[] = [];
    await run((_e, start) => {
      const write = start('200 OK', OK);
      write(b(''));
      afterWrite = [...sink.events]; // asserted outside the app: an expect in here would only become a 500
      return [];
    }, {}, { sink });
    expect(afterWrite).toEqual(['head 200 OK 0']);
    expect(sink.events).toEqual(['head 200 OK 0', 'end']);
  });

  it('C14 a body of only empty chunks sends the head at its end', async () => {
    const { sink } = await run((_e, start) => {
      start('204 No Content', []);
      return (function* () { yield b(''); })();
    });
    expect(sink.text).toBe('Status: 204 No Content\r\nContent-Length: 0\r\n\r\n');
    expect(sink.events).toEqual(['head 204 No Content 0 last']);
  });

  it('C15 a second startResponse without excInfo throws "Headers already set"', async () => {
    let message = '';
    await run((_e, start) => {
      start('200 OK', OK);
      try { start('201 Created', OK); } catch (err) { message = (err as Error).message; }
      return [b('x')];
    });
    expect(message).toMatch(/^Headers already set/);
  });

  it('C15 with excInfo before the head is sent, status and headers are replaced', async () => {
    const { sink } = await run((_e, start) => {
      start('200 OK', [['X-First', '1']]);
      start('503 Service Unavailable', [['Content-Type', 'text/plain'], ['Retry-After', '5']], new Error('backend down'));
      return [b('later')];
    });
    expect(sink.text).toBe('Status: 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 5\r\nContent-Length: 5\r\n\r\nlater');
  });

  it('C15 with excInfo after the head is sent, excInfo is re-thrown', async () => {
    const original = new Error('the original failure');
    let rethrown: unknown;
    const { sink, errors } = await run((_e, start) => {
      start('200 OK', OK)(b('partial'));
      try { start('500 Oops', OK, original); } catch (err) { rethrown = err; }
      throw rethrown;
    });
    expect(rethrown).toBe(original);
    expect(sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\npartial');
    expect(sink.events.at(-1)).toBe('abort');
    expect(errors).toContain('the original failure');
  });

  it('C16 a body produced before startResponse is an error (write() only exists after it)', async () => {
    const { sink, errors } = await run(() => [b('no status')]);
    expect(sink.text).toBe(E500);
    expect(errors).toMatch(/without calling startResponse/);
    // A startResponse that raised (C11) hands out no write(); the app can still start properly.
    let w: unknown;
    const r = await run((_e, start) => {
      try { w = start('bad', OK); } catch { /* C11 */ }
      start('200 OK', OK);
      return [];
    });
    expect(w).toBeUndefined();
    expect(r.sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n');
  });

  it('C16 write() data goes out before the iterable\'s chunks', async () => {
    const { sink } = await run((_e, start) => {
      const write = start('200 OK', OK);
      write(b('first,'));
      write(b('second,'));
      return [b('third')];
    });
    expect(sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst,second,third');
    expect(sink.events).toEqual(['head 200 OK 6', 'write 7', 'write 5', 'end']);
  });

  it('C17 close() is called exactly once on normal end', async () => {
    let closes = 0;
    const body = { *[Symbol.iterator]() { yield b('a'); }, close() { closes++; } };
    await run((_e, start) => { start('200 OK', OK); return body; });
    expect(closes).toBe(1);
    let arrCloses = 0;
    await run((_e, start) => { start('200 OK', OK); return Object.assign([b('x')], { close: () => { arrCloses++; } }); });
    expect(arrCloses).toBe(1);
  });

  it('C17 close() is called exactly once on an error while iterating, and the error gives a 500', async () => {
    let closes = 0;
    const body = { *[Symbol.iterator](): Iterator<Uint8Array> { throw new Error('iteration failed'); }, close() { closes++; } };
    const { sink, errors } = await run((_e, start) => { start('200 OK', OK); return body; });
    expect(closes).toBe(1);
    expect(sink.text).toBe(E500);
    expect(errors).toContain('iteration failed');
  });

  it('C17 on abort the body stops, return() runs the generator\'s finally, close() once', async () => {
    const order: string[] = [];
    const gen = (async function* () {
      try {
        yield b('one');
        await tick(10);
        yield b('two');
        await new Promise(() => {}); // never produces again
      } finally {
        order.push('finally');
      }
    })();
    const body = Object.assign(gen, { close: () => { order.push('close'); } });
    const { sink } = await run((_e, start) => { start('200 OK', OK); return body; }, {}, {
      during: (r) => { setTimeout(() => r.controller.abort(new Error('client gone')), 40); },
    });
    await tick(5);
    expect(order.filter((x) => x === 'close')).toHaveLength(1);
    expect(sink.events).toEqual(['head 200 OK 3', 'write 3', 'abort']);
    // the generator was parked on a promise that never settles: return() is queued behind it,
    // so its finally cannot run; a generator that is suspended at a yield does run it:
    const order2: string[] = [];
    const gen2 = (function* () { try { yield b('a'); yield b('b'); } finally { order2.push('finally'); } })();
    await run((_e, start) => { start('200 OK', OK); return gen2; }, {}, { during: (r) => r.controller.abort() });
    expect(order2).toEqual(['finally']);
  });

  it('C17 an iterator stopped early (bad chunk) gets return()', async () => {
    const seen: string[] = [];
    const gen = (function* () { try { yield 'text' as unknown as Uint8Array; yield b('never'); } finally { seen.push('finally'); } })();
    const { sink } = await run((_e, start) => { start('200 OK', OK); return gen; });
    expect(seen).toEqual(['finally']);
    expect(sink.text).toBe(E500);
  });

  it('C18 an app that throws before the head gives the fixed 500 and logs the stack', async () => {
    const { sink, errors } = await run(() => { throw new Error('secret database password'); });
    expect(sink.text).toBe(E500);
    expect(sink.text).not.toContain('secret');
    expect(errors).toContain('secret database password');
    expect(errors).toMatch(/at .*engine\.test/);
  });

  it('C18 a rejected Promise gives the 500; headers set but not sent are discarded', async () => {
    const { sink, errors } = await run(async (_e, start) => {
      start('200 OK', [['X-Not-Sent', '1']]);
      await tick(1);
      throw new Error('async failure');
    });
    expect(sink.text).toBe(E500);
    expect(errors).toContain('async failure');
  });

  it('C18 an error after the head is sent cuts the response off and is logged', async () => {
    const { sink, errors } = await run((_e, start) => {
      start('200 OK', OK);
      return (function* () { yield b('partial'); throw new Error('mid-body'); })();
    });
    expect(sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\npartial');
    expect(sink.events).toEqual(['head 200 OK 7', 'abort']);
    expect(errors).toContain('mid-body');
  });

  it('C18 C20 environ[\'tsgi.response\'] records what the web server was handed: status and state', async () => {
    const progress = async (app: App): Promise<unknown> => ({ ...(await run(app)).environ['tsgi.response'] });
    let during: unknown;
    expect(await progress((e, s) => {
      s('200 OK', OK);
      return (function* () { during = { ...e['tsgi.response'] }; yield b('x'); })();
    })).toEqual({ status: '200 OK', state: 'done' });
    expect(during).toEqual({ status: undefined, state: 'before-head' });
    expect(await progress(() => { throw new Error('before the head'); })).toEqual({ status: '500 Internal Server Error', state: 'done' });
    expect(await progress((_e, s) => { s('200 OK', OK)(b('')); throw new Error('after the head'); })).toEqual({ status: '200 OK', state: 'cut' });
    expect(await progress((_e, s) => { s('200 OK', [['Content-Length', '3']]); return [b('a'), b('b')]; })).toEqual({ status: '200 OK', state: 'cut' });
    const aborted = await run((_e, s) => { s('200 OK', OK); return (async function* () { await tick(20); yield b('late'); })(); }, {}, {
      during: (r) => r.controller.abort(),
    });
    expect({ ...aborted.environ['tsgi.response'] }).toEqual({ status: undefined, state: 'cut' });
  });

  it('C19 a chunk that is not a Uint8Array is an error naming the fix', async () => {
    const { sink, errors } = await run((_e, start) => { start('200 OK', OK); return ['a string' as unknown as Uint8Array]; });
    expect(sink.text).toBe(E500);
    expect(errors).toMatch(/Uint8Array.*Buffer\.from/);
  });

  it('C19 returning nothing, a string or a Buffer directly is an error', async () => {
    const cases: [unknown, RegExp][] = [
      [undefined, /got nothing/], [null, /iterable/], ['text', /returned a string/], [Buffer.from('x'), /return \[chunk\]/],
      [42, /iterable/], [{}, /iterable/],
    ];
    for (const [ret, re] of cases) {
      const { sink, errors } = await run((_e, start) => { start('200 OK', OK); return ret as Iterable<Uint8Array>; });
      expect(sink.text).toBe(E500);
      expect(errors).toMatch(re);
    }
  });

  it('C20 Content-Length is added for an array of one chunk and for an empty body', async () => {
    expect((await run((_e, s) => { s('200 OK', []); return [b('http')]; })).sink.text).toBe('Status: 200 OK\r\nContent-Length: 4\r\n\r\nhttp');
    expect((await run((_e, s) => { s('200 OK', []); return []; })).sink.text).toBe('Status: 200 OK\r\nContent-Length: 0\r\n\r\n');
    // one write for the whole response
    expect((await run((_e, s) => { s('200 OK', []); return [b('http')]; })).sink.events).toEqual(['head 200 OK 4 last']);
  });

  it('C20 no Content-Length is added after write(), or for a streamed body', async () => {
    expect((await run((_e, s) => { s('200 OK', [])(b('http')); return []; })).sink.text).toBe('Status: 200 OK\r\n\r\nhttp');
    expect((await run((_e, s) => { s('200 OK', []); return (function* () { yield b('ab'); })(); })).sink.text).toBe('Status: 200 OK\r\n\r\nab');
    expect((await run((_e, s) => { s('200 OK', []); return [b('a'), b('b')]; })).sink.text).toBe('Status: 200 OK\r\n\r\nab');
  });

  it('C20 never more bytes than the declared Content-Length; the iterator is stopped', async () => {
    let finallyRan = false;
    const { sink, errors } = await run((_e, s) => {
      s('200 OK', [['Content-Length', '5']]);
      return (function* () { try { yield b('abc'); yield b('defgh'); yield b('never'); } finally { finallyRan = true; } })();
    });
    expect(sink.text).toBe('Status: 200 OK\r\nContent-Length: 5\r\n\r\nabcde');
    expect(sink.events.at(-1)).toBe('end');
    expect(finallyRan).toBe(true);
    expect(errors).toMatch(/more body than its Content-Length/);
  });

  it('C20 a body shorter than its Content-Length is logged and cut off', async () => {
    const { sink, errors } = await run((_e, s) => { s('200 OK', [['Content-Length', '12345']]); return []; });
    expect(sink.text).toBe('Status: 200 OK\r\nContent-Length: 12345\r\n\r\n');
    expect(sink.events).toEqual(['head 200 OK 0', 'abort']);
    expect(errors).toMatch(/0 body bytes but declared Content-Length 12345/);
    const r2 = await run((_e, s) => { s('200 OK', [['Content-Length', '10']]); return [b('abc')]; });
    expect(r2.sink.events).toEqual(['head 200 OK 3', 'abort']);
  });

  it('C21 wsgi.file_wrapper streams from the current position in bounded blocks and closes the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-fw-'));
    const path = join(dir, 'data.bin');
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    writeFileSync(path, data);
    const fd = openSync(path, 'r');
    readSync(fd, Buffer.alloc(1000), 0, 1000, null); // advance the file position
    const { sink } = await run((environ, s) => {
      s('200 OK', [['Content-Type', 'application/octet-stream']]);
      return environ['wsgi.file_wrapper'](fd, 8192);
    });
    const head = 'Status: 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n';
    expect(sink.bytes.subarray(head.length).equals(data.subarray(1000))).toBe(true);
    const sizes = sink.events.filter((e) => e !== 'end').map((e) => Number(e.split(' ').at(-1)));
    expect(sizes.length).toBeGreaterThan(30);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(8192);
    await waitUntil(() => { try { fstatSync(fd); return false; } catch { return true; } }, 'the file wrapper to close its descriptor');
    expect(() => fstatSync(fd)).toThrow(/EBADF/);
  });

  it('C21 file_wrapper honours a declared Content-Length', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-fw-'));
    const path = join(dir, 'data.txt');
    writeFileSync(path, '0123456789'.repeat(100));
    const { sink } = await run((environ, s) => {
      s('200 OK', [['Content-Length', '15']]);
      return environ['wsgi.file_wrapper'](path, 4);
    });
    expect(sink.text).toBe('Status: 200 OK\r\nContent-Length: 15\r\n\r\n012345678901234');
  });

  it('a sync body whose sink never pushes back is finished without a Promise (docs/design.md, "Throughput")', () => {
    const bodies: Array<() => Iterable<Uint8Array>> = [
      () => [b('one')], () => [], () => [b('a'), b('b')], () => (function* () { yield b('a'); yield b(''); yield b('b'); })(),
    ];
    for (const body of bodies) {
      const { environ, controller } = makeEnviron();
      const sink = new RecordingSink();
      const running = runRequest((_e, s) => { s('200 OK', OK); return body(); }, environ, sink, controller);
      expect(running).toBeUndefined();
      expect(sink.ended).toBe(true);
    }
    // An async body, or a sink that asks to wait, gives a Promise.
    const { environ, controller } = makeEnviron();
    expect(runRequest((_e, s) => { s('200 OK', OK); return (async function* () { yield b('x'); })(); }, environ, new RecordingSink(), controller)).toBeInstanceOf(Promise);
  });

  it('C17 backpressure: the engine waits for the sink before pulling the next chunk', async () => {
    const sink = new RecordingSink();
    let release!: () => void;
    sink.gate = new Promise((r) => { release = r; });
    let pulled = 0;
    const p = run((_e, s) => {
      s('200 OK', OK);
      return (function* () { for (let i = 0; i < 5; i++) { pulled++; yield b('x'); } })();
    }, {}, { sink });
    await tick(20);
    expect(pulled).toBe(2); // head with chunk 1, write of chunk 2 is blocked
    sink.gate = undefined;
    release();
    await p;
    expect(pulled).toBe(5);
    expect(sink.text.endsWith('xxxxx')).toBe(true);
  });
});
