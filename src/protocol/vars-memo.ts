/**
 * A request's variables built against the previous request's. A web server
 * sends the same names in the same order with every request, and most of the
 * same values: nginx behind `fastcgi_pass` or `uwsgi_pass` changes little
 * more than REMOTE_PORT from one request to the next. So the block is
 * compared with the remembered request's bytes from each end (a 32-bit word
 * at a time where it is aligned), and each pair in between with the
 * remembered pair at the same index; when
 * every name matches, the request's variables are a copy of the remembered
 * object with the changed values stored over it: no string decoded or stored
 * for an unchanged pair. Anything else is decoded and stored pair by pair, as
 * the adder says, which is also what every request gets with the memo off
 * (`TSGI_VARS_MEMO=0` in the environment; the tests run both ways and compare).
 * Pure (module state only).
 */
import type { Buffer } from 'node:buffer';
import { latin1Text } from './text.js';
import type { VarAdder } from './vars.js';

/** How a protocol frames one name-value pair: the memo re-encodes a request it remembers. */
export interface PairFraming {
  /** Bytes of the pair `name`, `value` (latin-1 strings) on the wire. */
  size(name: string, value: string): number;
  /** Writes the pair at `at`; returns the offset after it. */
  write(out: Uint8Array, at: number, name: string, value: string): number;
}

/** A remembered request: its pairs as the web server framed them, and what they made. */
export interface Remembered {
  readonly count: number;
  /** Bytes of all the pairs. */
  readonly size: number;
  readonly bytes: Uint8Array;
  /** The same bytes as 32-bit words (the buffer is a whole number of them). */
  readonly words: Int32Array;
  /** Pair i is bytes [ends[i-1] (0 for the first), ends[i]). */
  readonly ends: Int32Array;
  readonly names: readonly string[];
  readonly values: readonly string[];
  /**
   * 1 where a new value can simply be stored over pair i's: its name comes
   * once in the request and its value is stored as it is (not joined, not
   * dropped by C3, C7 or U6).
   */
  readonly plain: Uint8Array;
  /** The variables these pairs made; never handed out, only copied. */
  readonly vars: Readonly<Record<string, string>>;
}

/** A request larger than this (pairs or bytes) is decoded as it comes but not remembered. */
const MAX_PAIRS = 256;
const MAX_BYTES = 16 * 1024;

/** False when `TSGI_VARS_MEMO=0`: every request is decoded from scratch (read when a memo is made). */
function memoOn(): boolean {
  return typeof process === 'undefined' || process.env.TSGI_VARS_MEMO !== '0';
}

/**
 * What one protocol's decoder remembers between requests (one per kind of
 * result: `add` and `make` decide what an object of variables looks like).
 */
export interface VarsMemo {
  /** Stores one pair into an object `make` returns (addVar, or addCgiVar into environVars() for an environ). */
  readonly add: VarAdder;
  readonly make: () => Record<string, string>;
  /** Re-encodes pairs as the protocol frames them. */
  readonly framing: PairFraming;
  /** False with `TSGI_VARS_MEMO=0`: nothing is remembered, every request is built pair by pair. */
  readonly on: boolean;
  /** The remembered request (replaced, never changed: a request in progress keeps the one it began with). */
  last: Remembered | null;
  /** Requests in a row that did not match: the second in a row is remembered instead. */
  misses: number;
}

/** A memo that remembers nothing yet. */
export function newVarsMemo(add: VarAdder, make: () => Record<string, string>, framing: PairFraming): VarsMemo {
  return { add, make, framing, on: memoOn(), last: null, misses: 0 };
}

/** Remembers a request's pairs and the variables they made (copied: the caller's object goes to the app). */
export function learn(memo: VarsMemo, names: string[], values: string[], vars: Record<string, string>): void {
  const count = names.length;
  const f = memo.framing;
  let size = 0;
  for (let i = 0; i < count; i++) size += f.size(names[i]!, values[i]!);
  if (count > MAX_PAIRS || size > MAX_BYTES) return;
  const bytes = new Uint8Array((size + 3) & ~3);
  const ends = new Int32Array(count);
  const plain = new Uint8Array(count);
  const seen = new Map<string, number>();
  let at = 0;
  for (let i = 0; i < count; i++) {
    const name = names[i]!;
    at = f.write(bytes, at, name, values[i]!);
    ends[i] = at;
    seen.set(name, (seen.get(name) ?? 0) + 1);
  }
  for (let i = 0; i < count; i++) {
    const name = names[i]!;
    plain[i] = seen.get(name) === 1 && Object.hasOwn(vars, name) && vars[name] === values[i] ? 1 : 0;
  }
  memo.last = { count, size, bytes, words: new Int32Array(bytes.buffer), ends, names, values, plain, vars: { ...vars } };
  memo.misses = 0;
}

/**
 * One request's variables in the making: a decoder starts one with
 * beginVars, gives it the pairs in order (addPair, or skipRemembered /
 * restRemembered for runs of pairs it can skip), then takes finishVars.
 */
export interface VarsDraft {
  readonly memo: VarsMemo;
  /** The remembered request this one is built against (the memo's at the start). */
  readonly last: Remembered | null;
  /** Pairs so far. */
  count: number;
  /** Pairs that differ from the remembered request in their value only: index, value, index, value … */
  changes: Array<number | string> | null;
  /** Once a pair does not match: the object being built pair by pair. */
  vars: Record<string, string> | null;
  /** The pairs as strings, kept when this request is to be remembered. */
  names: string[] | null;
  values: string[] | null;
  built: Record<string, string> | null;
  /** The block skipRemembered compared, and where its pairs match the remembered ones to its end (-1: nowhere). */
  block: Uint8Array | null;
  sameFrom: number;
}

/** Starts a request's variables against what `memo` remembers. */
export function beginVars(memo: VarsMemo): VarsDraft {
  return { memo, last: memo.last, count: 0, changes: null, vars: null, names: null, values: null, built: null, block: null, sameFrom: -1 };
}

/**
 * One pair: bytes `[start, end)` of `buf`, framing included; its name is
 * bytes `[name, nameEnd)` and its value `[value, valueEnd)` (a framing that
 * ends a pair with a terminator, as SCGI's NUL, ends the value before it).
 */
export function addPair(d: VarsDraft, buf: Buffer, start: number, end: number, name: number, nameEnd: number, value: number, valueEnd = end): void {
  const i = d.count++;
  if (d.vars === null) {
    const r = d.last;
    if (r !== null && i < r.count) {
      const from = i === 0 ? 0 : r.ends[i - 1]!;
      if (r.ends[i]! - from === end - start && sameBytes(r.bytes, from, buf, start, end - start)) return;
      // The same name with another (non-empty: C3) value is stored over the copy.
      if (r.plain[i] === 1 && value < valueEnd && latin1Text(buf, name, nameEnd) === r.names[i]) {
        (d.changes ??= []).push(i, latin1Text(buf, value, valueEnd));
        return;
      }
    }
    byPair(d, i);
  }
  store(d, latin1Text(buf, name, nameEnd), latin1Text(buf, value, valueEnd));
}

/**
 * The block of pairs `buf` (the whole request's, or a first record cut
 * anywhere) is compared with the remembered request's bytes from each end.
 * The leading pairs that match are counted as given; returns the offset
 * where the decoder goes on. Before each pair after that, restRemembered
 * says whether the rest of the block is the remembered one: then the decoder
 * is done with the block. Most of a web server's request is skipped so, not
 * parsed pair by pair (see docs/performance.md). `maxCount` is the
 * decoder's limit: a remembered request above it is not used (S1).
 */
export function skipRemembered(d: VarsDraft, buf: Buffer, maxCount: number): number {
  const r = d.last;
  if (r === null || d.count !== 0 || d.vars !== null || r.count > maxCount) return 0;
  const len = buf.length;
  const words = wordsOf(buf);
  const m = firstDifference(r, buf, words, Math.min(len, r.size));
  // Pairs that end before the first difference were framed and decoded from the same bytes.
  let i = 0;
  while (i < r.count && r.ends[i]! <= m) i++;
  d.count = i;
  if (len === r.size) {
    d.block = buf;
    d.sameFrom = lastDifference(r, buf, words, len) + 1;
  }
  return i === 0 ? 0 : r.ends[i - 1]!;
}

/**
 * The next pair starts at `pos` of the block given to skipRemembered: true
 * when it and every pair after it are the remembered ones (the same bytes
 * from the same offset at the same index), which are then counted as given.
 * A later block (the next FastCGI record, F2) has offsets of its own: false.
 */
export function restRemembered(d: VarsDraft, buf: Uint8Array, pos: number): boolean {
  if (buf !== d.block || pos < d.sameFrom || d.vars !== null) return false;
  const r = d.last!;
  const i = d.count;
  if (i >= r.count || (i === 0 ? 0 : r.ends[i - 1]!) !== pos) return false;
  d.count = r.count;
  d.block = null;
  return true;
}

/** The request's variables (every pair given). */
export function finishVars(d: VarsDraft): Record<string, string> {
  if (d.built !== null) return d.built;
  const memo = d.memo;
  const r = d.last;
  if (d.vars === null && r !== null && d.count === r.count) {
    // Every name as remembered: a copy, with the changed values over it.
    const vars = { ...r.vars };
    const changes = d.changes;
    if (changes !== null) {
      for (let k = 0; k < changes.length; k += 2) vars[r.names[changes[k] as number]!] = changes[k + 1] as string;
    }
    memo.misses = 0;
    return (d.built = vars);
  }
  if (d.vars === null) byPair(d, d.count);
  const vars = d.vars!;
  if (d.names !== null) learn(memo, d.names, d.values!, vars);
  else memo.misses++;
  return (d.built = vars);
}

/** From pair `i` on, build pair by pair: the pairs before it are the remembered ones (with their changes). */
function byPair(d: VarsDraft, i: number): void {
  const memo = d.memo;
  d.vars = memo.make();
  if (memo.on && (d.last === null || memo.misses > 0)) {
    d.names = [];
    d.values = [];
  }
  const r = d.last;
  if (r === null || i === 0) return;
  const values = r.values.slice(0, i);
  const changes = d.changes;
  if (changes !== null) {
    for (let k = 0; k < changes.length; k += 2) values[changes[k] as number] = changes[k + 1] as string;
  }
  for (let k = 0; k < i; k++) store(d, r.names[k]!, values[k]!);
}

function store(d: VarsDraft, name: string, value: string): void {
  d.memo.add(d.vars!, name, value);
  if (d.names !== null) {
    d.names.push(name);
    d.values!.push(value);
  }
}

/**
 * The bytes of `buf` as 32-bit words when they begin on a 4-byte boundary (as
 * a web server's first record or packet in a socket read does), else null:
 * the comparison from each end reads a word at a time (see docs/performance.md).
 */
function wordsOf(buf: Buffer): Int32Array | null {
  return (buf.byteOffset & 3) === 0 ? new Int32Array(buf.buffer, buf.byteOffset, buf.length >> 2) : null;
}

/** The offset of the first byte where the remembered bytes and `buf` (`words`: the same) differ in their first `n` bytes, or `n`. */
function firstDifference(r: Remembered, buf: Buffer, words: Int32Array | null, n: number): number {
  let i = 0;
  if (words !== null) {
    const x = r.words;
    const w = n >> 2;
    let k = 0;
    while (k < w && x[k] === words[k]) k++;
    i = k << 2;
  }
  const x = r.bytes;
  while (i < n && x[i] === buf[i]) i++;
  return i;
}

/** The offset of the last byte where the remembered bytes and `buf` (`words`: the same) differ in their first `n` bytes, or -1. */
function lastDifference(r: Remembered, buf: Buffer, words: Int32Array | null, n: number): number {
  const x = r.bytes;
  let i = n;
  // The bytes after the last whole word, then whole words, then the bytes of the word that differs.
  while (i > 0 && (i & 3) !== 0 && x[i - 1] === buf[i - 1]) i--;
  if (words !== null && (i & 3) === 0) {
    const xw = r.words;
    let k = i >> 2;
    while (k > 0 && xw[k - 1] === words[k - 1]) k--;
    i = k << 2;
  }
  while (i > 0 && x[i - 1] === buf[i - 1]) i--;
  return i - 1;
}

/** Bytes `[a, a+n)` of `x` equal bytes `[b, b+n)` of `y`. */
function sameBytes(x: Uint8Array, a: number, y: Uint8Array, b: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (x[a + i] !== y[b + i]) return false;
  return true;
}
