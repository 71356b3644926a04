// Captures what tsgi writes to this process's stderr (log lines and
// wsgi.errors text: fs.writeSync(2, …) or process.stderr.write) so that a test
// that provokes a warning or a stack trace asserts it instead of printing it:
// a passing `npm test` prints nothing but its report. Whatever no test claimed
// is printed at the end of the file, so nothing is hidden.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { afterAll, beforeAll } from 'vitest';

/** What was written to stderr, for assertions. */
export interface Captured {
  /** Waits (up to `ms`) until the captured text matches, then returns it and clears it. */
  until(pattern: RegExp, ms?: number): Promise<string>;
}

/**
 * Captures stderr for the whole test file (from beforeAll to afterAll).
 * `atEnd`: what may be left unclaimed when the file is done (reports that
 * come at garbage collection, which no one test can wait for); it is asserted.
 */
export function captureStderr(atEnd?: RegExp): Captured {
  let text = '';
  const writeSync = fs.writeSync;
  const write = process.stderr.write;
  beforeAll(() => {
    fs.writeSync = ((fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]) => {
      if (fd !== 2) return (writeSync as (...a: unknown[]) => number)(fd, data, ...rest);
      if (typeof data === 'string') {
        text += data;
        return Buffer.byteLength(data);
      }
      const offset = typeof rest[0] === 'number' ? rest[0] : 0;
      const length = typeof rest[1] === 'number' ? rest[1] : data.byteLength - offset;
      text += Buffer.from(data.buffer, data.byteOffset + offset, length).toString('latin1');
      return length;
    }) as typeof fs.writeSync;
    syncBuiltinESMExports();
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('latin1');
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof process.stderr.write;
  });
  afterAll(() => {
    fs.writeSync = writeSync;
    syncBuiltinESMExports();
    process.stderr.write = write;
    if (atEnd?.test(text)) text = '';
    if (text) process.stderr.write(`(stderr that no test asserted)\n${text}`);
  });
  return {
    async until(pattern, ms = 3000) {
      const end = Date.now() + ms;
      while (!pattern.test(text)) {
        if (Date.now() > end) throw new Error(`stderr did not match ${pattern} within ${ms} ms; it holds: ${JSON.stringify(text)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      const t = text;
      text = '';
      return t;
    },
  };
}
