/**
 * What every fuzz target checks besides "does not crash" (R7): a decoder
 * throws only its own GatewayError codes, allocates no single buffer past its
 * limit, and gives the same result whatever the chunking of its input (R2).
 * A broken expectation throws a FuzzFinding, which the runner saves with the
 * input that caused it.
 */
import { Buffer } from 'node:buffer';
import { GatewayError, type ErrorCode } from '../../../src/contract/errors.js';

/** A broken invariant (as opposed to an error the decoder is allowed to throw). */
export class FuzzFinding extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FuzzFinding';
  }
}

/** Throws a FuzzFinding unless `ok`. */
export function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new FuzzFinding(what);
}

/**
 * The outcome of decoding: the value, or the code of the GatewayError thrown.
 * Anything else thrown (TypeError, RangeError, a GatewayError with a foreign
 * code) is a finding.
 */
export type Outcome<T> = { ok: true; value: T } | { ok: false; code: ErrorCode };

export function outcome<T>(codes: readonly ErrorCode[], run: () => T): Outcome<T> {
  try {
    return { ok: true, value: run() };
  } catch (err) {
    if (err instanceof FuzzFinding) throw err;
    if (err instanceof GatewayError && codes.includes(err.code)) return { ok: false, code: err.code };
    const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    throw new FuzzFinding(`the decoder threw something other than its own GatewayError (${codes.join(', ')}): ${what}`);
  }
}

/** A small deterministic PRNG (mulberry32) seeded from the input, so a saved input replays exactly. */
export function rngFor(data: Uint8Array): () => number {
  let s = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) s = Math.imul(s ^ data[i]!, 0x01000193);
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Chunkings of `data` to compare with feeding it whole: one byte at a time,
 * and a few random cuts (chosen from the input itself).
 */
export function chunkings(data: Buffer, randomCuts = 2): Buffer[][] {
  const out: Buffer[][] = [];
  const bytes: Buffer[] = [];
  for (let i = 0; i < data.length; i++) bytes.push(data.subarray(i, i + 1));
  out.push(bytes);
  const rnd = rngFor(data);
  for (let k = 0; k < randomCuts; k++) {
    const parts: Buffer[] = [];
    let pos = 0;
    while (pos < data.length) {
      const n = 1 + Math.floor(rnd() * Math.min(data.length - pos, rnd() < 0.5 ? 9 : 300));
      parts.push(data.subarray(pos, pos + n));
      pos += n;
    }
    out.push(parts);
  }
  return out;
}

type Allocator = (size: number, ...rest: never[]) => Buffer;
const B = Buffer as unknown as Record<'alloc' | 'allocUnsafe' | 'allocUnsafeSlow', Allocator>;
const NAMES = ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const;
let largest = 0;

/**
 * Runs `fn` with Buffer.alloc / allocUnsafe / allocUnsafeSlow and
 * Buffer.concat watched; returns the largest single buffer asked for. The
 * decoders get Buffer from node:buffer, the same object, so this sees theirs.
 */
export function largestAllocation(fn: () => void): number {
  const saved = NAMES.map((n) => B[n]);
  const concat = Buffer.concat;
  largest = 0;
  NAMES.forEach((n, i) => {
    const orig = saved[i]!;
    B[n] = function watched(this: unknown, size: number, ...rest: never[]) {
      if (size > largest) largest = size;
      return orig.call(this, size, ...rest);
    } as Allocator;
  });
  Buffer.concat = function watchedConcat(list: readonly Uint8Array[], total?: number) {
    const out = concat(list, total);
    if (out.length > largest) largest = out.length;
    return out;
  } as typeof Buffer.concat;
  try {
    fn();
  } finally {
    NAMES.forEach((n, i) => { B[n] = saved[i]!; });
    Buffer.concat = concat;
  }
  return largest;
}

/** Compact text of a decoded value, for equality and for messages. */
export function show(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (Buffer.isBuffer(v) ? `<${v.toString('hex')}>` : v));
}
