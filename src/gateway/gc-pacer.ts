/**
 * Memory pacing for large bodies (R3, R4).
 *
 * A body streamed through the process leaves short-lived buffers behind at
 * the rate it flows: every socket read is a fresh buffer, and so is every
 * `wsgi.input.read()` result and every chunk an app yields. V8 frees such
 * buffers at its next young-generation collection, and it schedules those by
 * how much JavaScript heap is allocated, not by how many buffer bytes are:
 * a body flowing at hundreds of MiB/s through a process that allocates
 * little else leaves tens of MiB of dead buffers between collections (a
 * 1 GiB echo measured 80+ MiB of peak RSS growth on Node 24).
 *
 * So the gateway counts the buffer bytes it sees go by, and after every
 * `TSGI_GC_PACE_BYTES` of them (16 MiB by default; 0 turns pacing off) asks
 * V8 for one young-generation collection: about 0.1–0.3 ms on a small heap,
 * so a 1 GiB echo pays a few tens of milliseconds for a peak that stays
 * bounded. Ordinary traffic (a few KiB per request) reaches the threshold
 * once in thousands of requests, far more rarely than V8 collects anyway.
 *
 * The collector is V8's own `gc()`, which Node exposes only under
 * `--expose-gc`; when the process was not started so, the flag is set at
 * run time through the public `node:v8` API and the function is taken from
 * a fresh `node:vm` context, once, on the first threshold crossed.
 */

type Collector = (options: { type: 'minor' }) => void;

const DEFAULT_PACE = 16 * 1024 * 1024;

/** Bytes between two collections (Infinity when pacing is off), read from the environment on first use. */
let every = -1;
let counted = 0;
/** undefined: not looked up yet; null: unavailable. */
let collector: Collector | null | undefined;

function paceFromEnv(): number {
  const raw = process.env.TSGI_GC_PACE_BYTES;
  if (raw === undefined || raw === '') return DEFAULT_PACE;
  const n = Number(raw);
  return Number.isFinite(n) && n > 0 ? n : Infinity;
}

function lookUpCollector(): Collector | null {
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return own as Collector;
  try {
    process.getBuiltinModule('node:v8').setFlagsFromString('--expose-gc');
    const gc: unknown = process.getBuiltinModule('node:vm').runInNewContext('gc');
    return typeof gc === 'function' ? (gc as Collector) : null;
  } catch {
    return null;
  }
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
  collector?.({ type: 'minor' });
}

/** Sets the pace in bytes (0: off); for tests and embedders. */
export function setGcPace(bytes: number): void {
  every = bytes > 0 ? bytes : Infinity;
  counted = 0;
}
