/**
 * What the master (arbiter.ts) is given to run with. It reads no settings
 * file and parses no option: the CLI turns its settings into these plain
 * values, and supplies the files it opens as callbacks.
 */
import type { ListenOptions } from '../listen.js';
import type { ScaleBounds } from './autoscale.js';

/** The pool's settings: read at start, and again at every reload. */
export interface PoolSettings {
  /** How many workers (`--workers`). */
  readonly workers: number;
  /** P13: the pool's ceiling, whatever SIGTTIN or a reloaded config asks for (`--max-workers`). */
  readonly maxWorkers: number;
  /** `--max-requests` (0: never recycle) and `--max-requests-jitter`. */
  readonly maxRequests: number;
  readonly maxRequestsJitter: number;
  /** `--graceful-timeout`, in ms. */
  readonly gracefulMs: number;
  /** O5 `--workers MIN:MAX` and `--idle-timeout` (absent: a fixed pool of `workers`, which is then MIN). */
  readonly scale?: ScaleBounds | undefined;
}

/** What the master runs with; everything read from settings comes in here. */
export interface ArbiterOptions {
  /** For the first log line: the command, the app, the version. */
  readonly command: string;
  readonly app: string;
  readonly version: string;
  /** Where to listen when systemd passed no sockets. */
  readonly listen: ListenOptions;
  /** `--user` / `--group`, checked once at start rather than by every worker failing to boot. */
  readonly user: string | undefined;
  readonly group: string | undefined;
  /** `--timeout` in ms (0: none): fixed at start, as the workers' in-flight boards are. */
  readonly timeoutMs: number;
  /** O4 `--slow-log` in ms (0: none): a request running longer has its worker's stack logged. */
  readonly slowLogMs?: number;
  /** O6 `--max-memory` in MiB (0: none): a worker whose RSS passes it is replaced gracefully. */
  readonly maxMemoryMiB?: number;
  readonly pool: PoolSettings;
  /** Reads the settings again (SIGHUP, `--reload`); throws when they cannot be read. */
  reread(): Promise<PoolSettings>;
  /** Opens the master's log files; returns what reopens them (SIGUSR1). */
  openLogs(): () => void;
  /** O1 `--metrics`: where /metrics is served (absent: nowhere). */
  readonly metrics?: ListenOptions | undefined;
  /** O2, O3: the control socket's path (absent: none). */
  readonly control?: string | undefined;
  /** Writes the pid file; returns what removes it. */
  writePid(): () => void;
}
