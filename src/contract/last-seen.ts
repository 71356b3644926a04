/**
 * "The same as last time": one remembered input and what was made of it.
 * An app answers with the same status and the same few header lists over and
 * over, and a web server sends the same names with every request, so the
 * gateway keeps the last input of a step beside its result, and the step
 * compares a new input with the remembered one before it does its work again.
 * What counts as the same is the caller's to say (strings compared with `===`,
 * a header list read once under H5, a range of bytes): the caller compares
 * with {@link LastSeen.input}, reuses {@link LastSeen.result}, and otherwise
 * does the work and {@link LastSeen.remember}s it. Pure (module state only).
 */

/** Every LastSeen made, so that a test can start from nothing remembered. */
const all = new Set<LastSeen<unknown, unknown>>();

/** One remembered input and its result; replaced whole, never changed in place. */
export class LastSeen<I, R> {
  #input: I | undefined = undefined;
  #result: R | undefined = undefined;

  constructor() {
    all.add(this as LastSeen<unknown, unknown>);
  }

  /** The remembered input, or undefined when nothing is remembered. */
  get input(): I | undefined {
    return this.#input;
  }

  /** What was made of the remembered input, or undefined when nothing is remembered. */
  get result(): R | undefined {
    return this.#result;
  }

  /**
   * Remembers `input` and `result`, in place of what was remembered; returns
   * `result`. Both are kept as given: the caller hands over values it never
   * changes afterwards (its own copies, not an app's objects).
   */
  remember(input: I, result: R): R {
    this.#input = input;
    this.#result = result;
    return result;
  }

  /**
   * Forgets what was remembered. A caller that reads its new input from an
   * app (which may throw half-way) forgets first and remembers once it has
   * the whole input, so that nothing is left pairing new input with an old
   * result (H5).
   */
  forget(): void {
    this.#input = undefined;
    this.#result = undefined;
  }
}

/** Forgets what every LastSeen remembers (for tests: each starts as a fresh process would). */
export function forgetAllLastSeen(): void {
  for (const seen of all) seen.forget();
}
