import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { environVars } from '../../src/gateway/environ.js';
import { ParamsDecoder, encodePairs, paramsMemo } from '../../src/protocol/fastcgi/params.js';
import { decodeVars, encodePacket, varsMemo } from '../../src/protocol/uwsgi.js';
import { addCgiVar, addVar, type VarAdder } from '../../src/protocol/vars.js';

/** A small deterministic generator, so that a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

type Pairs = [string, string][];

const NAMES = [
  'QUERY_STRING', 'REQUEST_METHOD', 'CONTENT_TYPE', 'CONTENT_LENGTH', 'REMOTE_PORT', 'REMOTE_USER', 'HTTP_HOST',
  'HTTP_COOKIE', 'HTTP_X_A', 'HTTP_CONTENT_TYPE', 'HTTP_CONTENT_LENGTH', 'UWSGI_FILE', '__proto__', 'PATH_INFO',
];
const VALUES = ['', '', 'a', 'GET', '51234', '51235', '5123', 'x'.repeat(130), '/caf\xe9', 'a=1; b=2'];

/** The next request: the one before with a few changes, as a web server's requests differ. */
function mutate(prev: Pairs, next: () => number): Pairs {
  const pairs = prev.map((p) => [...p] as [string, string]);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)]!;
  const edits = Math.floor(next() * 3);
  for (let e = 0; e < edits; e++) {
    const r = next();
    const i = Math.floor(next() * (pairs.length + 1));
    if (r < 0.5 && pairs.length > 0) pairs[i % pairs.length]![1] = pick(VALUES);      // another value
    else if (r < 0.65) pairs.splice(i, 0, [pick(NAMES), pick(VALUES)]);            // a pair more
    else if (r < 0.8 && pairs.length > 0) pairs.splice(i % pairs.length, 1);        // a pair less
    else if (pairs.length > 0) pairs[i % pairs.length]![0] = pick(NAMES);            // another name
  }
  return pairs;
}

/** What the variables must be: every pair stored in order, from scratch. */
function reference(pairs: Pairs, add: VarAdder, make: () => Record<string, string>): [string, string][] {
  const vars = make();
  for (const [n, v] of pairs) add(vars, n, v);
  return Object.entries(vars);
}

/** Splits `bytes` into 1 to 3 pieces at random offsets (FastCGI records may cut a pair anywhere, F2). */
function pieces(bytes: Buffer, next: () => number): Buffer[] {
  const cuts = [0, Math.floor(next() * (bytes.length + 1)), Math.floor(next() * (bytes.length + 1)), bytes.length]
    .slice(0, next() < 0.6 ? 1 : 4).concat(bytes.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) if (cuts[i + 1]! > cuts[i]!) out.push(bytes.subarray(cuts[i], cuts[i + 1]));
  return out;
}

const skipUwsgi: (add: VarAdder) => VarAdder = (add) => (vars, n, v) => {
  if (!n.startsWith('UWSGI_')) add(vars, n, v);
};

describe('VarsMemo: a request built against the one before', () => {
  for (const seed of [1, 2]) {
    it(`C1 C3 C7 F2 R2 FastCGI params give what decoding from scratch gives, request after request (seed ${seed})`, () => {
      const next = rng(10 + seed);
      const memo = paramsMemo(addCgiVar, environVars);
      let pairs: Pairs = [['QUERY_STRING', ''], ['REQUEST_METHOD', 'GET'], ['CONTENT_TYPE', ''], ['REMOTE_PORT', '51234'], ['HTTP_HOST', 'h']];
      let before: Record<string, string> | null = null;
      for (let round = 0; round < 3000; round++) {
        pairs = next() < 0.7 ? mutate(pairs, next) : pairs;
        const d = new ParamsDecoder({ maxBytes: 100_000, maxCount: 100 }, memo);
        // At any alignment: a block that starts on a 4-byte boundary is compared a word at a time.
        const bytes = encodePairs(pairs);
        const at = Math.floor(next() * 4);
        const placed = Buffer.alloc(bytes.length + 4).subarray(at, at + bytes.length);
        bytes.copy(placed);
        for (const p of pieces(placed, next)) d.push(p);
        d.end();
        const got = d.vars;
        expect(Object.entries(got)).toEqual(reference(pairs, addCgiVar, environVars));
        // C1: a new object each time, which the app may change without changing the next request's.
        expect(got).not.toBe(before);
        got.REMOTE_PORT = 'changed by the app';
        got.EXTRA = 'added by the app';
        before = got;
      }
    });

    it(`C1 U5 U6 uwsgi vars give what decoding from scratch gives, request after request (seed ${seed})`, () => {
      const next = rng(20 + seed);
      const memo = varsMemo(addCgiVar, environVars);
      let pairs: Pairs = [['QUERY_STRING', ''], ['REQUEST_METHOD', 'GET'], ['HTTP_COOKIE', 'a'], ['HTTP_COOKIE', 'b'], ['UWSGI_FILE', 'x']];
      for (let round = 0; round < 3000; round++) {
        pairs = next() < 0.7 ? mutate(pairs, next) : pairs;
        const packet = encodePacket(pairs);
        const at = Math.floor(next() * 4);
        const block = Buffer.alloc(packet.length + 4).subarray(at, at + packet.length - 4);
        packet.copy(block, 0, 4);
        const got = decodeVars(block, { maxCount: 100 }, memo);
        expect(Object.entries(got)).toEqual(reference(pairs, skipUwsgi(addCgiVar), environVars));
        got.QUERY_STRING = 'changed by the app';
      }
    });
  }

  it('F2 U5 a pair that starts after the last difference at another offset than the remembered one is decoded', () => {
    // The same length and the same last bytes as the request before; there, those bytes are the
    // end of M's value and then the pair HTTP_K, here two HTTP_K pairs, which U5 joins.
    const memo = paramsMemo(addCgiVar);
    const before = encodePairs([['N', 'a'], ['M', 'b\x06\x01HTTP_Kc'], ['HTTP_K', 'c']]);
    const now = encodePairs([['N', 'a'], ['M', 'z'], ['HTTP_K', 'c'], ['HTTP_K', 'c']]);
    expect(now.length).toBe(before.length);
    expect(now.subarray(-16)).toEqual(before.subarray(-16));
    const first = new ParamsDecoder({ maxBytes: 1000, maxCount: 10 }, memo);
    first.push(before);
    first.end();
    const second = new ParamsDecoder({ maxBytes: 1000, maxCount: 10 }, memo);
    second.push(now);
    second.end();
    expect(second.vars).toEqual({ N: 'a', M: 'z', HTTP_K: 'c, c' });
  });

  it('F2 U1 one changed byte anywhere in the block, at any alignment, is seen', () => {
    for (const proto of ['fastcgi', 'uwsgi'] as const) {
      for (let len = 1; len <= 13; len++) {
        for (let pos = 0; pos < len; pos++) {
          for (let at = 0; at < 4; at++) {
            const memo = proto === 'fastcgi' ? paramsMemo(addVar) : varsMemo(addVar);
            const decode = (pairs: Pairs): Record<string, string> => {
              const bytes = proto === 'fastcgi' ? encodePairs(pairs) : encodePacket(pairs).subarray(4);
              const placed = Buffer.alloc(bytes.length + 4).subarray(at, at + bytes.length);
              bytes.copy(placed);
              if (proto === 'uwsgi') return decodeVars(placed, {}, memo);
              const d = new ParamsDecoder({ maxBytes: 1000, maxCount: 10 }, memo);
              d.push(placed);
              d.end();
              return d.vars;
            };
            const value = 'v'.repeat(len);
            const changed = `${value.slice(0, pos)}w${value.slice(pos + 1)}`;
            decode([['FIRST', value], ['MIDDLE', 'm'], ['LAST', value]]);
            decode([['FIRST', value], ['MIDDLE', 'm'], ['LAST', value]]);
            expect(decode([['FIRST', changed], ['MIDDLE', 'm'], ['LAST', value]])).toEqual({ FIRST: changed, MIDDLE: 'm', LAST: value });
            expect(decode([['FIRST', value], ['MIDDLE', 'm'], ['LAST', changed]])).toEqual({ FIRST: value, MIDDLE: 'm', LAST: changed });
          }
        }
      }
    }
  });

  it('C1 a steady request, copied from the remembered one, gives fresh, exact objects', () => {
    const memo = paramsMemo(addCgiVar, environVars);
    let before: Record<string, string> | null = null;
    for (let i = 0; i < 200; i++) {
      const pairs: Pairs = [['REQUEST_METHOD', 'GET'], ['CONTENT_TYPE', ''], ['REMOTE_PORT', String(50000 + (i % 7))], ['HTTP_HOST', 'h']];
      const d = new ParamsDecoder({ maxBytes: 1000, maxCount: 10 }, memo);
      d.push(encodePairs(pairs));
      d.end();
      expect(Object.entries(d.vars)).toEqual(reference(pairs, addCgiVar, environVars));
      expect(d.vars).not.toBe(before);
      d.vars.HTTP_HOST = 'changed by the app';
      before = d.vars;
    }
  });

  it('C4 every byte value survives a value that changes from one request to the next', () => {
    const memo = paramsMemo(addVar);
    for (let b = 0; b < 256; b++) {
      const value = `v${String.fromCharCode(b)}\xff`;
      const d = new ParamsDecoder({ maxBytes: 1000, maxCount: 10 }, memo);
      d.push(encodePairs([['A', 'same'], ['B', value], ['C', 'same']]));
      d.end();
      expect(d.vars).toEqual({ A: 'same', B: value, C: 'same' });
    }
  });

  it('S1 the count limit holds for a request that matches the remembered one', () => {
    const memo = paramsMemo(addVar);
    const many = encodePairs(Array.from({ length: 20 }, (_, i) => [`N${i}`, 'v'] as [string, string]));
    const roomy = new ParamsDecoder({ maxBytes: 10_000, maxCount: 100 }, memo);
    roomy.push(many);
    roomy.end();
    // The same bytes again, under a decoder whose limit they break.
    const strict = new ParamsDecoder({ maxBytes: 10_000, maxCount: 10 }, memo);
    expect(() => strict.push(many)).toThrow(expect.objectContaining({ code: 'ERR_LIMIT_PARAMS' }));
    expect(() => decodeVars(encodePacket(Array.from({ length: 20 }, (_, i) => [`N${i}`, 'v'] as [string, string])).subarray(4), { maxCount: 10 }))
      .toThrow(expect.objectContaining({ code: 'ERR_LIMIT_PARAMS' }));
  });

  it('F2 S1 a record after the first is decoded from its own bytes, even where the first one ends as the remembered request does', () => {
    // The remembered request: 4 pairs of 7 bytes (28). The next request's first record is 28 bytes too, and
    // ends with the remembered request's last 14 bytes (inside B's value, which straddles into record 2);
    // record 2 then carries pairs from offset 14, the offset at which the remembered request's C begins.
    const remembered: Pairs = [['A', 'aaaa'], ['B', 'bbbb'], ['C', 'cccc'], ['D', 'dddd']];
    const tail = encodePairs(remembered).subarray(14).toString('latin1');
    const value = `bbbb${tail}${'Z'.repeat(14)}`;
    for (const [after, maxCount] of [
      [[['C', 'sent'], ['D', 'dddd'], ['E', 'x']], 100],
      [Array.from({ length: 50 }, (_, i) => [`N${i}`, 'v']), 10],
    ] as [Pairs, number][]) {
      const memo = paramsMemo(addCgiVar, environVars);
      for (let k = 0; k < 2; k++) {
        const d = new ParamsDecoder({ maxBytes: 10_000, maxCount: 100 }, memo);
        d.push(encodePairs(remembered));
        d.end();
      }
      const pairs: Pairs = [['A', 'aaaa'], ['B', value], ...after];
      const bytes = encodePairs(pairs);
      const d = new ParamsDecoder({ maxBytes: 10_000, maxCount }, memo);
      let got: unknown;
      try {
        d.push(bytes.subarray(0, 28));
        d.push(bytes.subarray(28));
        d.end();
        got = Object.entries(d.vars);
      } catch (err) {
        got = (err as { code?: string }).code;
      }
      expect(got).toEqual(pairs.length > maxCount ? 'ERR_LIMIT_PARAMS' : reference(pairs, addCgiVar, environVars));
    }
  });

  for (const seed of [1, 2]) {
    it(`C1 C3 C7 F2 S1 requests decoded at once on one memo (multiplexed FastCGI), with 4-byte short lengths, odd names and their own count limits, give what decoding from scratch gives (seed ${seed})`, () => {
      const next = rng(20 + seed);
      const memo = paramsMemo(addCgiVar, environVars);
      const odd: Pairs = [['constructor', 'a'], ['0', 'b'], ['toString', 'c'], ['HTTP_COOKIE', 'a=1'], ['HTTP_COOKIE', 'b=2'], ['tsgi.abort', 'd']];
      let base: Pairs = [['REQUEST_METHOD', 'GET'], ['CONTENT_TYPE', ''], ['REMOTE_PORT', '51234'], ['HTTP_HOST', 'h']];
      const handed = new Set<object>();
      for (let round = 0; round < 600; round++) {
        const jobs = Array.from({ length: 1 + Math.floor(next() * 3) }, () => {
          const pairs = next() < 0.6 ? (base = mutate(base, next)) : mutate(base, next);
          if (next() < 0.1) pairs.splice(Math.floor(next() * pairs.length), 0, odd[Math.floor(next() * odd.length)]!);
          const maxCount = next() < 0.2 ? 1 + Math.floor(next() * 6) : 100;
          // Lengths below 128 sent in the 4-byte form now and then (F2 allows either).
          const wide = next() < 0.2;
          const bytes = Buffer.concat(pairs.flatMap(([n, v]) => [
            ...[n.length, v.length].map((l) => (l >= 128 || (wide && next() < 0.5) ? Buffer.from([0x80 | (l >>> 24), l >>> 16, l >>> 8, l]) : Buffer.from([l]))),
            Buffer.from(n + v, 'latin1'),
          ]));
          const size = memo.last?.size ?? 0;
          const records = next() < 0.3 && size > 0 && size < bytes.length ? [bytes.subarray(0, size), bytes.subarray(size)] : pieces(bytes, next);
          return { pairs, maxCount, records, d: new ParamsDecoder({ maxBytes: 100_000, maxCount }, memo), got: undefined as unknown };
        });
        // Their records interleaved, as on a multiplexed connection.
        for (let open = jobs.length; open > 0;) {
          const j = jobs[Math.floor(next() * jobs.length)]!;
          if (j.got !== undefined) continue;
          try {
            const r = j.records.shift();
            if (r !== undefined) j.d.push(r);
            else {
              j.d.end();
              j.got = Object.entries(j.d.vars);
            }
          } catch (err) {
            j.got = (err as { code?: string }).code;
          }
          if (j.got !== undefined) open--;
        }
        for (const j of jobs) {
          expect(j.got).toEqual(j.pairs.length > j.maxCount ? 'ERR_LIMIT_PARAMS' : reference(j.pairs, addCgiVar, environVars));
          if (typeof j.got === 'string') continue;
          // C1: never an object handed out before; the app's changes reach no other request.
          expect(handed.has(j.d.vars)).toBe(false);
          handed.add(j.d.vars);
          j.d.vars.HTTP_HOST = 'changed by the app';
        }
      }
    });
  }
});

describe('TSGI_VARS_MEMO: the memo can be turned off', () => {
  // This file runs twice (vitest.config.ts): as is, and with TSGI_VARS_MEMO=0, where the
  // differential tests above compare decoding from scratch with decoding from scratch and
  // the rest of the protocol and server tests run with every request decoded pair by pair.
  const off = process.env.TSGI_VARS_MEMO === '0';
  const fastcgi = paramsMemo(addCgiVar, environVars);
  const uwsgi = varsMemo(addCgiVar, environVars);
  const decoders: [string, typeof fastcgi, (pairs: Pairs) => Record<string, string>][] = [
    ['FastCGI', fastcgi, (pairs) => {
      const d = new ParamsDecoder({ maxBytes: 1000, maxCount: 10 }, fastcgi);
      d.push(encodePairs(pairs));
      d.end();
      return d.vars;
    }],
    ['uwsgi', uwsgi, (pairs) => decodeVars(encodePacket(pairs).subarray(4), { maxCount: 10 }, uwsgi)],
  ];
  for (const [name, memo, decode] of decoders) {
    it(`C1 ${name}: ${off ? 'with TSGI_VARS_MEMO=0 nothing is remembered, and every request is decoded from its own bytes' : 'by default a steady request is remembered'}`, () => {
      expect(memo.on).toBe(!off);
      for (let i = 0; i < 3; i++) {
        const pairs: Pairs = [['REQUEST_METHOD', 'GET'], ['REMOTE_PORT', String(50000 + i)], ['HTTP_HOST', 'h']];
        expect(Object.entries(decode(pairs))).toEqual(reference(pairs, addCgiVar, environVars));
      }
      expect(memo.last === null).toBe(off);
    });
  }
});
