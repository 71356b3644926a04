/**
 * A LastSeen for a key (such as a status) and a list of `[name, value]`
 * string pairs: "the same again" is told by comparing strings, without
 * redoing what was made of them. Used by cgiHead (the head string built from
 * a status and headers).
 */
import { LastSeen } from './last-seen.js';

/** The key and the pairs as one flat list: key, name, value, name, value … */
type Flat = readonly string[];

/** One remembered key and pair list, and `R`, what the caller made of them. */
export class PairsMemo<R = true> {
  readonly #max: number;
  readonly #seen = new LastSeen<Flat, R>();

  /** @param max the longest list remembered; longer ones are always handled in full. */
  constructor(max = 16) {
    this.#max = max;
  }

  /** What was remembered with `key` and `pairs` when both equal the remembered ones, else undefined. */
  find(key: string, pairs: readonly unknown[]): R | undefined {
    const flat = this.#seen.input;
    const n = pairs.length;
    if (flat === undefined || flat.length !== 1 + 2 * n || key !== flat[0]) return undefined;
    for (let i = 0; i < n; i++) {
      const h: unknown = pairs[i];
      if (!Array.isArray(h) || h.length !== 2 || h[0] !== flat[1 + 2 * i] || h[1] !== flat[2 + 2 * i]) return undefined;
    }
    return this.#seen.result;
  }

  /** True when `key` and every pair of `pairs` equal the remembered ones. */
  same(key: string, pairs: readonly unknown[]): boolean {
    return this.find(key, pairs) !== undefined;
  }

  /**
   * Remembers `key` and `pairs` (strings, already checked) with `result`
   * unless the list is too long; false then, and nothing is remembered.
   */
  remember(key: string, pairs: readonly (readonly [string, string])[], result: R = true as R): boolean {
    const n = pairs.length;
    // H5: forgotten first, remembered only once every pair is copied: a read
    // that throws half-way leaves a memo that matches nothing, never one
    // that pairs new strings with the result made for the old ones.
    this.#seen.forget();
    if (!(n >= 0 && n <= this.#max)) return false;
    const flat = new Array<string>(1 + 2 * n);
    flat[0] = key;
    for (let i = 0; i < n; i++) {
      const h = pairs[i]!;
      const name = h[0];
      const value = h[1];
      if (typeof name !== 'string' || typeof value !== 'string') return false;
      flat[1 + 2 * i] = name;
      flat[2 + 2 * i] = value;
    }
    this.#seen.remember(flat, result);
    return true;
  }
}
