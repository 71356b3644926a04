/**
 * The last list of `[name, value]` pairs (and a string key, such as the
 * status) that a caller handled, so that "the same again" — an app sends the
 * same few heads over and over — is told by comparing strings, without
 * redoing the work. Used by cgiHead (the head string built from a status and
 * headers).
 */
export class PairsMemo {
  readonly #max: number;
  readonly #parts: string[];
  #count = -1;
  #key = '';

  /** @param max the longest list remembered; longer ones are always handled in full. */
  constructor(max = 16) {
    this.#max = max;
    this.#parts = new Array<string>(max * 2).fill('');
  }

  /** True when `key` and every pair of `pairs` equal the remembered ones. */
  same(key: string, pairs: readonly unknown[]): boolean {
    const n = pairs.length;
    if (n !== this.#count || key !== this.#key) return false;
    const parts = this.#parts;
    for (let i = 0; i < n; i++) {
      const h: unknown = pairs[i];
      if (!Array.isArray(h) || h.length !== 2 || h[0] !== parts[2 * i] || h[1] !== parts[2 * i + 1]) return false;
    }
    return true;
  }

  /**
   * Remembers `key` and `pairs` (strings, already checked) unless the list is
   * too long; false then, and what the caller keeps with the memo must stay
   * as it was.
   */
  remember(key: string, pairs: readonly (readonly [string, string])[]): boolean {
    const n = pairs.length;
    // H5: forgotten first, remembered only once every pair is copied: a read
    // that throws half-way leaves a memo that matches nothing, never one
    // that pairs new strings with what the caller kept for the old ones.
    this.#count = -1;
    if (!(n >= 0 && n <= this.#max)) return false;
    const parts = this.#parts;
    for (let i = 0; i < n; i++) {
      const h = pairs[i]!;
      const name = h[0];
      const value = h[1];
      if (typeof name !== 'string' || typeof value !== 'string') return false;
      parts[2 * i] = name;
      parts[2 * i + 1] = value;
    }
    this.#key = key;
    this.#count = n;
    return true;
  }
}
