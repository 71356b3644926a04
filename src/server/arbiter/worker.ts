/**
 * What the master (arbiter.ts) knows of one worker process and what it does
 * to one (pass it a connection, kill it once its grace period is over), and
 * the backoff that keeps a crash loop from spinning.
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { log } from '../../contract/log.js';
import type { MasterMessage } from './messages.js';
import type { SlowRequests, StackPipe } from './stacks.js';

/** Where a worker is in its life, as the master sees it. */
export type WorkerState = 'booting' | 'ready' | 'retiring';

/** One worker process of the pool. */
export class Worker {
  state: WorkerState = 'booting';
  /** When it last answered a ping (or became ready): the heartbeat's clock. */
  lastPong = Date.now();
  /** Its requests in flight, as it last reported them (for log lines only: P13, they are cut to size). */
  inFlight: string[] = [];
  /** Why it is going away, when the master decided it. */
  reason?: string;
  /** A replacement for it is booting (--max-requests). */
  recycling?: boolean;
  /** Told to retire handing its idle connections back (P11): the only time it may send one. */
  handingOff?: boolean;
  /** O4: where its stack is asked for, and which of its requests were logged as slow. */
  stacks?: StackPipe;
  slow?: SlowRequests;
  /** O6: its resident memory in bytes, as it last said (0: not yet). */
  rss = 0;
  /** It sent something malformed (P13): nothing more from it is acted on. */
  distrusted?: boolean;

  /**
   * @param id its number (1, 2, …), stable across its replacements
   * @param generation the reload generation it serves
   * @param child the process
   * @param replaces the worker it replaces, retired once this one is ready (--max-requests)
   */
  constructor(readonly id: number, readonly generation: number, readonly child: ChildProcess, readonly replaces?: Worker) {}

  /** How log lines name it. */
  get name(): string {
    return `worker ${this.id} (pid ${this.child.pid}, generation ${this.generation})`;
  }

  /** Whether it can be told anything: alive, trusted, with its channel open. */
  get reachable(): boolean {
    return !this.distrusted && this.child.connected;
  }

  /** P11: gives it a connection another worker handed back, with `data` (base64) that was read ahead from it. */
  adopt(socket: Socket, l: number, data: string): void {
    this.child.send({ t: 'adopt', l, data } satisfies MasterMessage, socket, {}, (err) => {
      if (err) log('warn', `could not pass a connection to ${this.name}: ${err.message}`);
      // Once sent, this copy has no handle left: destroying it closes nothing, and tells Node it is gone.
      socket.destroy();
    });
  }

  /** A worker that has not exited `ms` from now is killed: a grace period is a bound, not a wish. */
  killAfter(ms: number): void {
    setTimeout(() => { if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL'); }, ms).unref();
  }
}

/**
 * Paces the starts of workers that replace dead ones: the first two deaths
 * in 30 s are replaced at once; each further one doubles the wait, from
 * 250 ms up to 10 s, so that an app that crashes at once cannot make the
 * master fork in a tight loop.
 */
export class Backoff {
  private readonly deaths: number[] = [];

  /** Counts a death now; returns how long to wait before the next start, and how many deaths the window holds. */
  next(): { delay: number; deaths: number } {
    const now = Date.now();
    this.deaths.push(now);
    while (this.deaths.length > 0 && this.deaths[0]! < now - 30_000) this.deaths.shift();
    const n = this.deaths.length;
    return { delay: n <= 2 ? 0 : Math.min(10_000, 250 * 2 ** (n - 3)), deaths: n };
  }
}
