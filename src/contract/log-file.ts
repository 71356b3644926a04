/**
 * A log destination: a file opened for appending, or standard error / output
 * (`-`). Writes are synchronous, one whole line per write(2), so that lines
 * from several worker processes appending to one file never interleave
 * (O_APPEND) and a process that exits right after logging loses nothing.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** One log destination; `reopen()` after logrotate has moved the file (SIGUSR1). */
export class LogFile {
  /** The path, or `-` for the standard stream. */
  readonly path: string;
  #fd: number;
  readonly #std: number;

  /** `path` `-` writes to `std` (2 for the error log, 1 for the access log). */
  constructor(path: string, std = 2) {
    this.path = path;
    this.#std = std;
    this.#fd = this.#open();
  }

  #open(): number {
    if (this.path === '-') return this.#std;
    mkdirSync(dirname(this.path), { recursive: true });
    return openSync(this.path, 'a', 0o640);
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
   * fails (a worker that dropped privileges may not create files there), the
   * old file stays in use and the error is returned, for the caller to log.
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
