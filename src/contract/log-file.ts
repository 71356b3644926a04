/**
 * A log destination: a file opened for appending, or standard error / output
 * (`-`). Writes are synchronous, one whole line per write(2), so that lines
 * from several worker processes appending to one file never interleave
 * (O_APPEND) and a process that exits right after logging loses nothing.
 */
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { GatewayError } from './errors.js';
import { makeDirs, openSafely, runningAsRoot, type Owner } from './safe-open.js';

/** Options of a LogFile. */
export interface LogFileOptions {
  /**
   * Under `--user`: the run user and group. A file root opens is handed to
   * them, so that a process running as that user can reopen it (P12).
   */
  owner?: Owner;
  /** Names the file in messages (`--access-log`). */
  what?: string;
}

/** One log destination; `reopen()` after logrotate has moved the file (SIGUSR1). */
export class LogFile {
  /** The path, or `-` for the standard stream. */
  readonly path: string;
  #fd: number;
  readonly #std: number;
  readonly #opts: LogFileOptions;

  /** `path` `-` writes to `std` (2 for the error log, 1 for the access log). */
  constructor(path: string, std = 2, opts: LogFileOptions = {}) {
    this.path = path;
    this.#std = std;
    this.#opts = opts;
    this.#fd = this.#open();
  }

  #open(): number {
    if (this.path === '-') return this.#std;
    const what = this.#opts.what ?? 'log file';
    // P12: as root, no link is followed and nothing but a plain file of root's (or the run user's) is appended to.
    if (runningAsRoot()) return openSafely(this.path, { flags: constants.O_APPEND, mode: 0o640, what, ...(this.#opts.owner ? { owner: this.#opts.owner } : {}) });
    const fail = (doing: string, err: unknown): GatewayError => err instanceof GatewayError ? err
      : new GatewayError('ERR_CONFIG', `${what}: cannot ${doing} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    try {
      makeDirs(dirname(this.path), what);
    } catch (err) {
      throw fail(`create the directory ${dirname(this.path)}`, err);
    }
    try {
      return openSync(this.path, 'a', 0o640);
    } catch (err) {
      throw fail(`open ${this.path}`, err);
    }
  }

  /** Writes one line (the newline is added). */
  write(line: string): void {
    try {
      writeSync(this.#fd, `${line}\n`);
    } catch {
      /* the destination is gone (disk full, closed stderr): nothing better to do */
    }
  }

  /**
   * Opens the path again: logrotate renamed the old file (SIGUSR1). When that
   * fails, the old file stays in use and the error is returned, for the
   * caller to log.
   */
  reopen(): Error | null {
    if (this.path === '-') return null;
    const old = this.#fd;
    try {
      this.#fd = this.#open();
    } catch (err) {
      return err as Error;
    }
    try { closeSync(old); } catch { /* already closed */ }
    return null;
  }

  /** Closes the file (not the standard stream). */
  close(): void {
    if (this.#fd !== this.#std) {
      try { closeSync(this.#fd); } catch { /* already closed */ }
      this.#fd = this.#std;
    }
  }
}
