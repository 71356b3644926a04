/**
 * What a master and its workers say to each other: the worker's start-up
 * description (passed in its environment) and the IPC messages both ways.
 * Plain types, shared by the master (arbiter.ts) and the worker (the CLI's
 * serving process); a worker's messages are checked before use (P13,
 * worker-channel.ts).
 */
import type { StatsReport } from '../worker-stats.js';

/** What a master tells its worker through the environment. */
export interface WorkerInfo {
  /** Worker number (1, 2, …), stable across its replacements. */
  id: number;
  /** The generation (a SIGHUP reload starts the next one). */
  generation: number;
  /** How many listening sockets it inherited, from fd 3 on. */
  fds: number;
  /** Requests after which to retire (`--max-requests` plus its jitter), 0 for never. */
  maxRequests: number;
  /** `wsgi.multiprocess`: more than one worker when this one started. */
  multiprocess: boolean;
  /** `--timeout`: the pipe on which the worker shows its requests in flight (in-flight-board.ts). */
  boardFd?: number;
  /** O1, O2: count requests and answer the master's `stats` requests (--metrics, the control socket). */
  stats?: boolean;
}

/** Messages from a worker to its master (over the IPC channel); the master checks each (P13). */
export type WorkerMessage =
  | { t: 'ready' }
  | { t: 'pong'; inFlight: string[] }
  | { t: 'retire'; served: number }
  | { t: 'fatal'; error: string; inFlight: string[] }
  /** P11: an idle connection of listener `l`, sent with the message; `data` (base64) was read ahead from it. */
  | { t: 'handoff'; l: number; data: string }
  /** O1, O2: its running totals, when asked (checked by pool-stats.ts). */
  | StatsReport;

/** Messages from the master to a worker. */
export type MasterMessage =
  | { t: 'ping' }
  /** Retire: with `handoff`, give idle connections back to the master (a new worker takes them). */
  | { t: 'stop'; handoff?: boolean }
  /** P11: serve this connection (sent with the message) on listener `l`; `data` (base64) comes first. */
  | { t: 'adopt'; l: number; data: string }
  /** O1, O2: send a StatsReport. */
  | { t: 'stats' };
