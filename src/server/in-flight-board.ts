/**
 * The requests a worker is running, readable while its event loop is stuck.
 * The main thread writes each request's line into shared memory when it
 * starts and clears it when it ends (cheap enough for every request); a small
 * thread reads the board every 250 ms and writes it to a pipe the master
 * reads. So when `--timeout` kills a worker stuck in a `while (true)`, the
 * master can still name the request that got it stuck: the main thread
 * itself can no longer say anything.
 */
import { Worker } from 'node:worker_threads';

const SLOTS = 64;
const WIDTH = 240;

const THREAD = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const { sab, fd, slots, width } = workerData;
const lens = new Int32Array(sab, 0, slots);
const starts = new Float64Array(sab, slots * 4 + ((slots * 4) % 8), slots);
const bytes = new Uint8Array(sab, slots * 4 + ((slots * 4) % 8) + slots * 8, slots * width);
const decoder = new TextDecoder();
let last = '';
setInterval(() => {
  const now = Date.now();
  const out = [];
  for (let i = 0; i < slots; i++) {
    const n = Atomics.load(lens, i);
    if (n > 0) out.push(decoder.decode(bytes.slice(i * width, i * width + n)) + ' (running ' + ((now - starts[i]) / 1000).toFixed(1) + ' s)');
  }
  const line = JSON.stringify(out);
  if (out.length === 0 && line === last) return;
  last = line;
  try { writeSync(fd, line + '\\n'); } catch { process.exit(0); }
}, 250);
`;

/** The board of one worker process; `fd` is the pipe to the master. */
export class InFlightBoard {
  #lens: Int32Array;
  #starts: Float64Array;
  #bytes: Uint8Array;
  #free: number[] = [];
  #encoder = new TextEncoder();

  constructor(fd: number) {
    const pad = (SLOTS * 4) % 8;
    const sab = new SharedArrayBuffer(SLOTS * 4 + pad + SLOTS * 8 + SLOTS * WIDTH);
    this.#lens = new Int32Array(sab, 0, SLOTS);
    this.#starts = new Float64Array(sab, SLOTS * 4 + pad, SLOTS);
    this.#bytes = new Uint8Array(sab, SLOTS * 4 + pad + SLOTS * 8, SLOTS * WIDTH);
    for (let i = SLOTS - 1; i >= 0; i--) this.#free.push(i);
    new Worker(THREAD, { eval: true, workerData: { sab, fd, slots: SLOTS, width: WIDTH } }).unref();
  }

  /** A request began: returns its slot (-1 when the board is full; it is then not shown). */
  start(line: string): number {
    const slot = this.#free.pop();
    if (slot === undefined) return -1;
    const { written } = this.#encoder.encodeInto(line, this.#bytes.subarray(slot * WIDTH, (slot + 1) * WIDTH));
    this.#starts[slot] = Date.now();
    Atomics.store(this.#lens, slot, written);
    return slot;
  }

  /** The request in `slot` ended. */
  end(slot: number): void {
    if (slot < 0) return;
    Atomics.store(this.#lens, slot, 0);
    this.#free.push(slot);
  }
}
