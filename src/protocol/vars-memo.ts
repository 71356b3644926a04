/**
 * A request's variables built against the previous request's. A web server
 * sends the same names in the same order with every request, and most of the
 * same values: nginx behind `fastcgi_pass` or `uwsgi_pass` changes little
 * more than REMOTE_PORT from one request to the next. So each pair's bytes
 * are compared with the same pair of a remembered request (one pass over the
 * bytes, four at a time); when every name matches, the request's variables
 * are a copy of the remembered object with the changed values stored over
 * it: no string decoded or stored for an unchanged pair, and an object V8
 * copies whole, with the same layout every time. Anything else is decoded
 * and stored pair by pair, as the adder says. Pure (module state only).
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
  readonly view: DataView;
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
  /** The same as keys and values, in order (for V8 11, which copies a large object slowly). */
  readonly keys: readonly string[];
  readonly stored: readonly string[];
}


/** A request larger than this (pairs or bytes) is decoded as it comes but not remembered. */
const MAX_PAIRS = 256;
const MAX_BYTES = 16 * 1024;

/**
 * What one protocol's decoder remembers between requests (one per kind of
 * result: `add` and `make` decide what an object of variables looks like).
 */
export class VarsMemo {
  readonly add: VarAdder;
  readonly make: () => Record<string, string>;
  readonly #framing: PairFraming;
  readonly #wholeCopy: boolean;
  /** The remembered request (replaced, never changed: a request in progress keeps the one it began with). */
  last: Remembered | null = null;
  /** Requests in a row that did not match: the second in a row is remembered instead. */
  misses = 0;

  /**
   * `add` stores one pair into an object `make` returns (addVar, or addCgiVar
   * into environVars() for an environ); `framing` re-encodes pairs as the
   * protocol frames them. `wholeCopy`: copy the remembered object with
   * `{ ...o }`, which V8 12 (Node 22) and later do in about 30 ns for an
   * environ; V8 11 (Node 20) takes a slow path of 1–4 µs for more than a
   * dozen properties, so without it the copy is made key by key (about
   * 200 ns).
   */
  constructor(add: VarAdder, make: () => Record<string, string>, framing: PairFraming, wholeCopy = false) {
    this.add = add;
    this.make = make;
    this.#framing = framing;
    this.#wholeCopy = wholeCopy;
  }

  /** A new object with the remembered request's variables. */
  copy(r: Remembered): Record<string, string> {
    if (this.#wholeCopy) return { ...r.vars };
    const into = this.make();
    const keys = r.keys;
    const values = r.stored;
    for (let i = 0; i < keys.length; i++) into[keys[i]!] = values[i]!;
    return into;
  }

  /** Remembers a request's pairs and the variables they made (copied: the caller's object goes to the app). */
  learn(names: string[], values: string[], vars: Record<string, string>): void {
    const count = names.length;
    const f = this.#framing;
    let size = 0;
    for (let i = 0; i < count; i++) size += f.size(names[i]!, values[i]!);
    if (count > MAX_PAIRS || size > MAX_BYTES) return;
    const bytes = new Uint8Array(size);
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
    const keys = Object.keys(vars);
    const stored = keys.map((k) => vars[k]!);
    this.last = { count, size, view: new DataView(bytes.buffer), ends, names, values, plain, vars: { ...vars }, keys, stored };
    this.misses = 0;
  }
}

/**
 * Builds one request's variables from its pairs, in order (`pair`), then
 * `finish`. A decoder extends it.
 */
export class VarsBuilder {
  readonly #memo: VarsMemo;
  readonly #last: Remembered | null;
  #count = 0;
  /** Pairs that differ from the remembered request in their value only: index, value, index, value … */
  #changes: Array<number | string> | null = null;
  /** Once a pair does not match: the object being built pair by pair. */
  #vars: Record<string, string> | null = null;
  /** The pairs as strings, kept when this request is to be remembered. */
  #names: string[] | null = null;
  #values: string[] | null = null;
  #built: Record<string, string> | null = null;
  /** While a block is decoded (sameStart): where its pairs are known to match the remembered ones to the end, or -1. */
  #sameFrom = -1;
  #blockStart = 0;

  constructor(memo: VarsMemo) {
    this.#memo = memo;
    this.#last = memo.last;
  }

  /** Pairs so far. */
  get count(): number {
    return this.#count;
  }

  /**
   * One pair: bytes `[start, end)` of `buf` (`view` a DataView of the same
   * bytes, view offset = buffer index), framing included; its name is bytes
   * `[name, nameEnd)` and its value `[value, end)`.
   */
  protected pair(buf: Buffer, view: DataView, start: number, end: number, name: number, nameEnd: number, value: number): void {
    const i = this.#count++;
    if (this.#vars === null) {
      const r = this.#last;
      if (r !== null && i < r.count) {
        const from = i === 0 ? 0 : r.ends[i - 1]!;
        if (r.ends[i]! - from === end - start && sameBytes(r.view, from, view, start, end - start)) return;
        // The same name with another (non-empty: C3) value is stored over the copy.
        if (r.plain[i] === 1 && value < end && latin1Text(buf, name, nameEnd) === r.names[i]) {
          (this.#changes ??= []).push(i, latin1Text(buf, value, end));
          return;
        }
      }
      this.#byPair(i);
    }
    this.#store(latin1Text(buf, name, nameEnd), latin1Text(buf, value, end));
  }

  /**
   * The first pairs of the request are bytes `[start, end)` of a buffer
   * (`view`), whole or cut anywhere: compares them with the remembered
   * request's in one pass from each end, counts the leading pairs that match
   * as given, and returns where the decoder goes on. Pairs from there on are
   * given with `pair` after asking `sameRest` whether the rest of the block
   * matches as a whole. `maxCount` is the decoder's limit (a remembered
   * request above it is not used).
   */
  protected sameStart(view: DataView, start: number, end: number, maxCount: number): number {
    const r = this.#last;
    this.#sameFrom = -1;
    if (r === null || this.#count !== 0 || this.#vars !== null || r.count > maxCount) return start;
    const len = end - start;
    const m = firstDifference(r.view, view, start, Math.min(len, r.size));
    // Pairs that end before the first difference were framed and decoded from the same bytes.
    let i = 0;
    while (i < r.count && r.ends[i]! <= m) i++;
    this.#count = i;
    if (len === r.size) {
      this.#blockStart = start;
      this.#sameFrom = start + lastDifference(r.view, view, start, len) + 1;
    }
    return start + (i === 0 ? 0 : r.ends[i - 1]!);
  }

  /**
   * The next pair starts at `pos`: true when it and every pair after it to
   * the end of the block are the remembered ones (the same bytes from the
   * same offset at the same index), which are then counted as given.
   */
  protected sameRest(pos: number): boolean {
    if (this.#sameFrom < 0 || pos < this.#sameFrom || this.#vars !== null) return false;
    const r = this.#last!;
    const i = this.#count;
    if (i >= r.count || (i === 0 ? 0 : r.ends[i - 1]!) !== pos - this.#blockStart) return false;
    this.#count = r.count;
    this.#sameFrom = -1;
    return true;
  }

  /** The request's variables (every pair given). */
  finish(): Record<string, string> {
    if (this.#built !== null) return this.#built;
    const memo = this.#memo;
    const r = this.#last;
    if (this.#vars === null && r !== null && this.#count === r.count) {
      // Every name as remembered: a copy, with the changed values over it.
      const vars = memo.copy(r);
      const changes = this.#changes;
      if (changes !== null) {
        for (let k = 0; k < changes.length; k += 2) vars[r.names[changes[k] as number]!] = changes[k + 1] as string;
      }
      memo.misses = 0;
      return (this.#built = vars);
    }
    if (this.#vars === null) this.#byPair(this.#count);
    const vars = this.#vars!;
    if (this.#names !== null) memo.learn(this.#names, this.#values!, vars);
    else memo.misses++;
    return (this.#built = vars);
  }

  /** From pair `i` on, build pair by pair: the pairs before it are the remembered ones (with their changes). */
  #byPair(i: number): void {
    const memo = this.#memo;
    this.#vars = memo.make();
    if (this.#last === null || memo.misses > 0) {
      this.#names = [];
      this.#values = [];
    }
    const r = this.#last;
    if (r === null || i === 0) return;
    const values = r.values.slice(0, i);
    const changes = this.#changes;
    if (changes !== null) {
      for (let k = 0; k < changes.length; k += 2) values[changes[k] as number] = changes[k + 1] as string;
    }
    for (let k = 0; k < i; k++) this.#store(r.names[k]!, values[k]!);
  }

  #store(name: string, value: string): void {
    this.#memo.add(this.#vars!, name, value);
    if (this.#names !== null) {
      this.#names.push(name);
      this.#values!.push(value);
    }
  }
}

/** The offset of the first byte where `x` (from 0) and `y` (from `b`) differ in their first `n` bytes, or `n`. */
function firstDifference(x: DataView, y: DataView, b: number, n: number): number {
  let i = 0;
  while (i + 4 <= n && x.getUint32(i, true) === y.getUint32(b + i, true)) i += 4;
  while (i < n && x.getUint8(i) === y.getUint8(b + i)) i++;
  return i;
}

/** The offset of the last byte where `x` (from 0) and `y` (from `b`) differ in their first `n` bytes, or -1. */
function lastDifference(x: DataView, y: DataView, b: number, n: number): number {
  let i = n;
  while (i >= 4 && x.getUint32(i - 4, true) === y.getUint32(b + i - 4, true)) i -= 4;
  while (i > 0 && x.getUint8(i - 1) === y.getUint8(b + i - 1)) i--;
  return i - 1;
}

/** Bytes `[a, a+n)` of `x` equal bytes `[b, b+n)` of `y`, compared four at a time. */
function sameBytes(x: DataView, a: number, y: DataView, b: number, n: number): boolean {
  let i = 0;
  for (; i + 4 <= n; i += 4) if (x.getUint32(a + i, true) !== y.getUint32(b + i, true)) return false;
  for (; i < n; i++) if (x.getUint8(a + i) !== y.getUint8(b + i)) return false;
  return true;
}
