/**
 * Stand-ins for the fetch API's built-ins: an object that is not a real
 * `Request` or `Response` (those are made only when needed, as they cost
 * more than the rest of a small request) but answers every member as one.
 */

/** What an own answer returns to leave a member to the real object. */
export const ASK_REAL: unique symbol = Symbol('tsgi.askReal');

/** A member the stand-in answers itself: its value, or ASK_REAL. */
export type OwnAnswer = (self: object) => unknown;

/**
 * Defines on `proto` every getter and method of `native` (a built-in's
 * prototype, whose members check their receiver), each answered by the
 * object `real(this)` returns; a getter named in `own` is first asked of the
 * stand-in itself. `constructor` and data properties (such as
 * Symbol.toStringTag) are left to `native`, which `proto` inherits from.
 */
export function delegateMembers(proto: object, native: object, real: (self: object) => object, own: ReadonlyMap<PropertyKey, OwnAnswer> = new Map()): void {
  for (const key of Reflect.ownKeys(native)) {
    if (key === 'constructor') continue;
    const d = Object.getOwnPropertyDescriptor(native, key)!;
    if (d.get) {
      const get = d.get;
      const answer = own.get(key);
      Object.defineProperty(proto, key, {
        get: answer === undefined
          ? function (this: object) { return get.call(real(this)); }
          : function (this: object) {
            const v = answer(this);
            return v === ASK_REAL ? get.call(real(this)) : v;
          },
        configurable: true,
        enumerable: d.enumerable ?? false,
      });
    } else if (typeof d.value === 'function') {
      const fn = d.value as (...a: unknown[]) => unknown;
      Object.defineProperty(proto, key, {
        value(this: object, ...a: unknown[]) { return fn.apply(real(this), a); },
        configurable: true,
        enumerable: d.enumerable ?? false,
        writable: true,
      });
    }
  }
}
