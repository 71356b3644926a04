/**
 * O1–O3: what the master's operating side (operations.ts: `/metrics` and the
 * control socket) sees of the pool and may ask of it. The Arbiter implements
 * it; nothing here reaches into the Arbiter's own state.
 */
import type { Worker } from './worker.js';

/** The pool at one instant. */
export interface PoolView {
  /** The generation that serves, and the one a reload is starting (null: none). */
  readonly generation: number;
  readonly reloading: number | null;
  /** How many workers the serving generation should have, and the ceiling (P13). */
  readonly target: number;
  readonly maxWorkers: number;
  /** O5 `--workers MIN:MAX` as "MIN:MAX" (null: a fixed pool). */
  readonly autoscale?: string | null;
  /** `--graceful-timeout`, ms. */
  readonly gracefulMs: number;
  /** Running, or stopping. */
  readonly stopping: boolean;
  /** Every worker process alive, of every generation and state. */
  readonly workers: readonly Worker[];
}

/** What the control socket may do to the pool: what the signals do. */
export interface PoolControl {
  view(): PoolView;
  /** As SIGHUP. */
  reload(why: string): Promise<void>;
  /** As SIGTERM (a second one stops at once). */
  requestStop(why: string): void;
  /** As TTIN/TTOU repeated to reach `n`; a reason when it cannot. */
  scale(n: number, why: string): string | null;
}
