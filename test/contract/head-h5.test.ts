// H5: what an app hands to startResponse is copied as it is checked. A Proxy
// whose length changes between reads, getters that answer differently on the
// second read, or a list changed afterwards alter nothing that goes out, and
// nothing one request does changes what the next is checked against. Run
// through the engine, the CGI head builder and a real dev HTTP server, each
// with a normal request afterwards in the same process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHeaders } from '../../src/contract/head.js';
import { PairsMemo } from '../../src/contract/pairs-memo.js';
import type { App, Header } from '../../src/contract/types.js';
import { validate } from '../../src/middleware/validate.js';
import { cgiHead } from '../../src/protocol/cgi.js';
import { serveHttp, type HttpServer } from '../../src/server/http.js';
import { fetchRaw } from '../integration/http-client.js';
import { b, run } from '../helpers.js';

const NORMAL: readonly Header[] = [['Content-Type', 'text/plain'], ['X-A', '1'], ['X-B', '2']];

/**
 * A header list whose length reads as `lengths` says, one entry per read, the
 * last one ever after: [3, 3, 1] is what it takes to leave the old check a
 * list of three slots with one filled (read for the comparison with the last
 * list, for the copy's size, then for the loop).
 */
function shifting(pairs: Header[], lengths: number[]): Header[] {
  let reads = 0;
  return new Proxy(pairs, {
    get(target, key, receiver) {
      if (key === 'length') return lengths[Math.min(reads++, lengths.length - 1)];
      return Reflect.get(target, key, receiver);
    },
  });
}

/** A pair whose value reads `first` once, then `later`. */
function turning(name: string, first: string, later: string): Header {
  let reads = 0;
  const pair = [name, ''] as unknown as Header;
  Object.defineProperty(pair, 1, { get: () => (reads++ === 0 ? first : later), enumerable: true });
  return pair;
}

/** The app of one request: hands over `headers()`, or the normal list. */
const appWith = (headers: () => Header[]): App => (_e, s) => { s('200 OK', headers()); return [b('body')]; };
const normal = appWith(() => NORMAL.map((h) => [h[0], h[1]] as Header));

describe('H5 the gateway copies what it checks', () => {
  it('H5 a Proxy whose length shrinks after the first read leaves no hole: the next normal request with the same first pair is a 200', async () => {
    // Read as 3, 3, then 1: the old check walked one pair into a list of three slots.
    const r = await run(appWith(() => shifting(NORMAL.map((h) => [h[0], h[1]] as Header), [3, 3, 1])));
    expect(r.sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\nX-B: 2\r\nContent-Length: 4\r\n\r\nbody');
    for (let i = 0; i < 3; i++) {
      const next = await run(normal);
      expect(next.sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\nX-B: 2\r\nContent-Length: 4\r\n\r\nbody');
    }
    expect(checkHeaders(NORMAL.map((h) => [h[0], h[1]])).pairs).toEqual(NORMAL);
  });

  it('H5 a Proxy whose length grows after the first read adds nothing unchecked', async () => {
    const pairs: Header[] = [['Content-Type', 'text/plain'], ['X-Evil', 'a\r\nSet-Cookie: admin=1']];
    const r = await run(appWith(() => shifting(pairs, [1, 1, 2])));
    expect(r.sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nbody');
    expect((await run(normal)).sink.text).toMatch(/^Status: 200 OK\r\n/);
  });

  it('H5 a length that is not a count is refused (500), and the next request is unaffected', async () => {
    for (const len of [-1, 1.5, 2 ** 32, '2', Number.NaN]) {
      const r = await run(appWith(() => shifting([['Content-Type', 'text/plain']], [len as number])));
      expect(r.sink.text, String(len)).toMatch(/^Status: 500 Internal Server Error\r\n/);
      expect(r.errors).toMatch(/its length is/);
      expect((await run(normal)).sink.text).toMatch(/^Status: 200 OK\r\n/);
    }
  });

  it('H5 a getter that turns a checked value into CR LF after the check sends the value checked', async () => {
    for (const wrap of [(a: App): App => a, validate]) {
      const r = await run(wrap(appWith(() => [['Content-Type', 'text/plain'], turning('X-Note', 'fine', 'x\r\nSet-Cookie: admin=1')])));
      expect(r.sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nX-Note: fine\r\nContent-Length: 4\r\n\r\nbody');
      // The other way round: the first read is the one refused, whatever a second read would say.
      const bad = await run(wrap(appWith(() => [['Content-Type', 'text/plain'], turning('X-Note', 'x\r\nSet-Cookie: admin=1', 'fine')])));
      expect(bad.sink.text).toMatch(/^Status: 500 Internal Server Error\r\n/);
      expect((await run(normal)).sink.text).toMatch(/^Status: 200 OK\r\n/);
    }
  });

  it('H5 a list changed after startResponse (and before the head goes out) changes nothing sent, nor the next check', async () => {
    const list: Header[] = [['Content-Type', 'text/plain'], ['X-A', '1'], ['X-B', '2']];
    const r = await run((_e, s) => {
      s('200 OK', list);
      list[1]![1] = 'changed\r\nX-Injected: 1';
      list.length = 1;
      return (async function* () { yield b('body'); })();
    });
    expect(r.sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\nX-B: 2\r\n\r\nbody');
    const checked = checkHeaders(NORMAL.map((h) => [h[0], h[1]]));
    expect(checked).toEqual({ pairs: NORMAL, declared: -1 });
  });

  it('H5 the CGI head memo is never left half-written: a pair that throws while remembered makes it forget', () => {
    const memo = new PairsMemo();
    const a: Header[] = [['A', '1'], ['B', '2']];
    expect(memo.remember('200 OK', a)).toBe(true);
    expect(memo.same('200 OK', [['A', '1'], ['B', '2']])).toBe(true);
    const exploding = [['A', '9'], null] as unknown as Header[];
    expect(() => memo.remember('200 OK', exploding)).toThrow(TypeError);
    // Neither the old list nor a mixture of old and new is "the same" any more.
    expect(memo.same('200 OK', [['A', '1'], ['B', '2']])).toBe(false);
    expect(memo.same('200 OK', [['A', '9'], ['B', '2']])).toBe(false);
    expect(cgiHead('200 OK', [['A', '1']])).toBe('Status: 200 OK\r\nA: 1\r\n\r\n');
    expect(cgiHead('200 OK', [['A', '1']])).toBe('Status: 200 OK\r\nA: 1\r\n\r\n');
  });

  describe('over a real socket (dev HTTP server), one process', () => {
    let srv: HttpServer;
    beforeAll(async () => {
      srv = await serveHttp((env, s) => {
        const list = NORMAL.map((h) => [h[0], h[1]] as Header);
        // A list unlike the last one (so it is checked, not matched), three long at first, then one.
        if (env.PATH_INFO === '/proxy') s('200 OK', shifting([list[0]!, list[1]!, ['X-P', 'proxy']], [3, 3, 1]));
        else if (env.PATH_INFO === '/getter') s('200 OK', [['Content-Type', 'text/plain'], turning('X-A', '1', 'x\r\nSet-Cookie: admin=1'), ['X-B', '2']]);
        else s('200 OK', list);
        return [b('body')];
      }, { port: 0, accessLog: false });
    });
    afterAll(() => srv.close(0));

    it('H5 after a Proxy and a getter list, every normal request is a 200 with its own headers', async () => {
      for (const path of ['/proxy', '/getter', '/', '/proxy', '/', '/']) {
        const r = await fetchRaw(srv.port, `GET ${path} HTTP/1.0\r\nHost: x`);
        expect(`${path} ${r.status}`).toBe(`${path} 200`);
        expect(r.head, path).toMatch(path === '/proxy' ? /\r\nContent-Type: text\/plain\r\nX-A: 1\r\nX-P: proxy\r\n/ : /\r\nContent-Type: text\/plain\r\nX-A: 1\r\nX-B: 2\r\n/);
        expect(r.head, path).not.toContain('admin=1');
        expect(r.body.toString()).toBe('body');
      }
    });
  });
});
