// How long a test may wait, on this machine. A test waits for a condition
// (waitUntil), never for a fixed time before it asserts; the deadline only
// bounds how long a failure takes to show. TSGI_TEST_SLOWNESS multiplies every
// such deadline and vitest's own test and hook timeouts (vitest.config.ts): CI
// on a shared or emulated machine sets it to 2 or 3 instead of editing tests.

/** The factor from TSGI_TEST_SLOWNESS (a positive number; 1 when unset or invalid). */
export const SLOWNESS = ((): number => {
  const v = Number(process.env.TSGI_TEST_SLOWNESS);
  return Number.isFinite(v) && v > 0 ? v : 1;
})();

/** `ms` scaled by the slowness factor. */
export const slow = (ms: number): number => Math.round(ms * SLOWNESS);

/**
 * Polls `check` every `every` ms until it returns true; throws "timed out waiting for WHAT"
 * after `ms` (scaled by the slowness factor). An exception from `check` ends the wait at once.
 */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, ms = 10_000, every = 10): Promise<void> {
  const until = Date.now() + slow(ms);
  for (;;) {
    if (await check()) return;
    if (Date.now() >= until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/**
 * Resolves as `p` does, or rejects with "WHAT did not happen within N ms" after `ms` (scaled by the
 * slowness factor): for a test whose point is that something ends by itself, where waiting forever
 * would only show as vitest's own timeout.
 */
export async function within<T>(p: Promise<T>, ms: number, what: string, cap = Infinity): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  // `cap`: a bound the scaled deadline may not pass (where a longer wait would prove nothing, e.g. past a default timeout).
  const limit = Math.min(slow(ms), cap);
  const late = new Promise<never>((_r, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not happen within ${limit} ms`)), limit); });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
