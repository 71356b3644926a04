/**
 * fast-check arbitraries and reference models shared by the decoder property
 * tests: byte strings cut anywhere, latin-1 names and values, and the
 * documented rule for repeated names (U5) written out independently of the
 * code under test.
 */
import { Buffer } from 'node:buffer';
import fc from 'fast-check';

/** Property runs per test: bounded so `npm test` stays short (CI runs every one). */
export const RUNS = 300;

/** Latin-1 text: every character U+0000–U+00FF (C4). */
export function latin1(opts: { minLength?: number; maxLength?: number } = {}): fc.Arbitrary<string> {
  return fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), ...opts });
}

/** A name: mostly CGI-like (with repeats likely), sometimes any latin-1, sometimes long enough for 4-byte lengths. */
export const name: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('REQUEST_METHOD', 'HTTP_HOST', 'HTTP_COOKIE', 'HTTP_ACCEPT', 'QUERY_STRING', 'CONTENT_LENGTH', 'UWSGI_FILE', 'X'),
  latin1({ minLength: 1, maxLength: 20 }),
  latin1({ minLength: 120, maxLength: 300 }),
);

/** A value: short, empty, or long enough for FastCGI's 4-byte length form. */
export const value: fc.Arbitrary<string> = fc.oneof(latin1({ maxLength: 20 }), fc.constant(''), latin1({ minLength: 126, maxLength: 600 }));

/** Up to 30 name-value pairs. */
export const pairs: fc.Arbitrary<Array<[string, string]>> = fc.array(fc.tuple(name, value), { maxLength: 30 });

/** The documented rule for a repeated name (U5): HTTP_COOKIE joined with "; ", other HTTP_* with ", ", anything else: the last wins; __proto__ is never a key. */
export function model(list: ReadonlyArray<readonly [string, string]>, drop: (n: string) => boolean = () => false): Record<string, string> {
  const m = new Map<string, string>();
  for (const [n, v] of list) {
    if (n === '__proto__' || drop(n)) continue;
    const prev = m.get(n);
    if (prev !== undefined && n.startsWith('HTTP_')) m.set(n, `${prev}${n === 'HTTP_COOKIE' ? '; ' : ', '}${v}`);
    else m.set(n, v);
  }
  return Object.fromEntries(m);
}

/** Cut points: a list of numbers turned into piece sizes by `cut`. */
export const cuts: fc.Arbitrary<number[]> = fc.array(fc.integer({ min: 1, max: 70_000 }), { maxLength: 40 });

/**
 * `data` cut into pieces: the sizes in `sizes` (each taken modulo what is
 * left, at least 1 byte), then the rest in one piece. Cutting at every byte
 * is one of the cases when `sizes` is all ones.
 */
export function cut(data: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  for (const s of sizes) {
    if (pos >= data.length) break;
    const n = 1 + ((s - 1) % (data.length - pos));
    out.push(data.subarray(pos, pos + n));
    pos += n;
  }
  if (pos < data.length || out.length === 0) out.push(data.subarray(pos));
  return out;
}

/** Any bytes, short or up to a few KiB. */
export const bytes: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.uint8Array({ maxLength: 4096 }),
).map((u) => Buffer.from(u));
