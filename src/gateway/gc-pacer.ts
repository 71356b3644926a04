/**
 * Memory pacing for large bodies (R3, R4).
 *
 * A body streamed through the process leaves short-lived buffers behind at
 * the rate it flows: every socket read is a fresh buffer, and so is every
 * `wsgi.input.read()` result and every chunk an app yields. V8 frees such
 * buffers at its next young-generation collection, and it schedules those by
 * how much JavaScript heap is allocated, not by how many buffer bytes are:
 * a body flowing fast through a process that allocates little else leaves
 * tens of MiB of dead buffers between collections (`npm run bench:memory`;
 * docs/performance.md).
 *
 * So the gateway counts the buffer bytes it sees go by, and after every pace
 * of them asks V8 for one young-generation collection. Ordinary traffic (a
 * few KiB per request) reaches a pace of MiB once in thousands of requests,
 * far more rarely than V8 collects anyway.
 *
 * Nothing here changes the process unless asked. Pacing is off until
 * `setGcPace()` or `TSGI_GC_PACE_BYTES` turns it on (the tsgi command turns it
 * on at DEFAULT_GC_PACE for the servers it runs), and the collector is only
 * V8's own `gc()`, which Node exposes to a process started with `--expose-gc`
 * (tsgi's master starts its workers so). Without it there is nothing to call,
 * and nothing is paced: the V8 flag is never set at run time, which Node
 * documents as unsafe, and no vm context is made for it.
 */

type Collector = (options: { type: 'minor' }) => void;

/** The pace the tsgi command uses: one young-generation collection per 16 MiB of buffers. */
export const DEFAULT_GC_PACE = 16 * 1024 * 1024;

/** Bytes between two collections (Infinity when pacing is off), read from the environment on first use. */
let every = -1;
let counted = 0;
/** undefined: not looked up yet; null: unavailable. */
let collector: Collector | null | undefined;

/** TSGI_GC_PACE_BYTES: a number of bytes turns pacing on; unset, empty or 0: off. */
function paceFromEnv(): number {
  const raw = process.env.TSGI_GC_PACE_BYTES;
  if (raw === undefined || raw === '') return Infinity;
  const n = Number(raw);
  return Number.isFinite(n) && n > 0 ? n : Infinity;
}

/** The process's own `gc` (`--expose-gc`), or null. */
function lookUpCollector(): Collector | null {
  const own = (globalThis as { gc?: unknown }).gc;
  return typeof own === 'function' ? own as Collector : null;
}

/**
 * Notes `bytes` of short-lived buffers (body bytes received, read or sent);
 * past the pace, runs one young-generation collection.
 */
export function paceBuffers(bytes: number): void {
  counted += bytes;
  if (counted < every) return;
  if (every < 0) {
    every = paceFromEnv();
    if (counted < every) return;
  }
  counted = 0;
  if (collector === undefined) collector = lookUpCollector();
  if (collector === null) every = Infinity; // no gc(): nothing to pace with, so stop counting
  else collector({ type: 'minor' });
}

/**
 * Turns memory pacing on: one young-generation collection per `bytes` of body
 * buffers (0: off, the default unless TSGI_GC_PACE_BYTES says otherwise). It
 * paces only a process started with `--expose-gc` (or `NODE_OPTIONS=--expose-gc`);
 * without that it does nothing. Whether `gc` is there is looked at again by
 * each call.
 */
export function setGcPace(bytes: number): void {
  every = bytes > 0 ? bytes : Infinity;
  counted = 0;
  collector = undefined;
}
