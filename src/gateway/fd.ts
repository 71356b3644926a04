/**
 * Synchronous descriptor I/O shared by the CGI response, wsgi.errors, the body
 * spool and wsgi.input: CGI must flush before it exits (CGI3), and a pipe the
 * process inherited may be non-blocking.
 */
import { writeSync } from 'node:fs';

let sleeper: Int32Array | undefined;

/** Blocks for `ms` milliseconds (a non-blocking pipe answered EAGAIN). */
export function pauseSync(ms: number): void {
  Atomics.wait((sleeper ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, ms);
}

/** Writes all of `buf` to `fd`, waiting out EAGAIN; other errors (EPIPE) are thrown. */
export function writeAllSync(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') { pauseSync(1); continue; }
      throw err;
    }
  }
}
