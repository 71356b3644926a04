// The one "same as last time" helper (contract/last-seen.ts) and what is built on it:
// checkHeaders returns what it checked, so that nothing is read from module state
// afterwards, and forgetAllLastSeen starts every cache afresh.
import { describe, expect, it } from 'vitest';
import { checkHeaders, checkStatus } from '../../src/contract/head.js';
import { forgetAllLastSeen, LastSeen } from '../../src/contract/last-seen.js';
import type { Header } from '../../src/contract/types.js';
import { cgiHead } from '../../src/protocol/cgi.js';

describe('LastSeen', () => {
  it('remembers one input and its result, replaced whole, and forgets', () => {
    const seen = new LastSeen<string, number>();
    expect([seen.input, seen.result]).toEqual([undefined, undefined]);
    expect(seen.remember('a', 1)).toBe(1);
    seen.remember('b', 2);
    expect([seen.input, seen.result]).toEqual(['b', 2]);
    seen.forget();
    expect([seen.input, seen.result]).toEqual([undefined, undefined]);
  });

  it('H5 forgetAllLastSeen forgets every cache built on it', () => {
    const mine = new LastSeen<string, number>();
    mine.remember('x', 1);
    const before = checkHeaders([['X-A', '1']]);
    expect(checkHeaders([['X-A', '1']])).toBe(before);
    forgetAllLastSeen();
    expect(mine.result).toBe(undefined);
    // The same strings again are checked afresh: a new result, not the remembered one.
    const after = checkHeaders([['X-A', '1']]);
    expect(after).not.toBe(before);
    expect(after).toEqual({ pairs: [['X-A', '1']], declared: -1 });
    // And each still answers right from nothing remembered.
    checkStatus('200 OK');
    expect(cgiHead('200 OK', [['A', '1']])).toBe('Status: 200 OK\r\nA: 1\r\n\r\n');
    expect(checkHeaders([['X-A', '1'], ['Content-Length', '3']])).toEqual({ pairs: [['X-A', '1'], ['Content-Length', '3']], declared: 3 });
  });
});

describe('checkHeaders returns what it checked', () => {
  it('H5 C12 a result stays what was checked whatever is checked after it, and a repeat shares the checked copy', () => {
    const a: Header[] = [['Content-Type', 'text/plain'], ['Content-Length', '5']];
    const first = checkHeaders(a);
    a[0]![1] = 'x\r\nSet-Cookie: admin=1';
    const other = checkHeaders([['Content-Type', 'text/html'], ['Content-Length', '7']]);
    expect(first).toEqual({ pairs: [['Content-Type', 'text/plain'], ['Content-Length', '5']], declared: 5 });
    expect(other).toEqual({ pairs: [['Content-Type', 'text/html'], ['Content-Length', '7']], declared: 7 });
    const again = checkHeaders([['Content-Type', 'text/html'], ['Content-Length', '7']]);
    expect(again.pairs).toBe(other.pairs);
    // The same first pair, another second: the second is checked (and refused), the first kept.
    expect(() => checkHeaders([['Content-Type', 'text/html'], ['Content-Length', 'x']])).toThrow(expect.objectContaining({ code: 'ERR_BAD_CONTENT_LENGTH' }));
    expect(() => checkHeaders([['Content-Type', 'text/html'], ['Connection', 'close']])).toThrow(expect.objectContaining({ code: 'ERR_HOP_BY_HOP_HEADER' }));
    expect(() => checkHeaders([['Content-Length', '7'], ['Content-Length', '8']])).toThrow(expect.objectContaining({ code: 'ERR_BAD_CONTENT_LENGTH' }));
    expect(checkHeaders([['Content-Type', 'text/html'], ['Content-Length', '9']])).toEqual({ pairs: [['Content-Type', 'text/html'], ['Content-Length', '9']], declared: 9 });
  });
});
