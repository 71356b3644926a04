/**
 * `wsgi.input` (C9): a synchronous file-like reader over a request body that
 * never yields a byte past CONTENT_LENGTH.
 */
import { Buffer } from 'node:buffer';
import { readSync } from 'node:fs';
import type { WsgiInput } from '../contract/types.js';
import { pauseSync } from './fd.js';

const EMPTY = Buffer.alloc(0);
const BLOCK = 65536;

/** Where body bytes come from. `pull(max)` returns at most `max` bytes; an empty result means EOF. */
export interface ByteSource {
  pull(max: number): Buffer;
  /** Release resources (temp files). Called by the server when the request ends. */
  dispose?(): void;
}

/** A body held in memory. Reads are zero-copy views. */
export class MemorySource implements ByteSource {
  #buf: Buffer;
  #pos = 0;
  constructor(buf: Uint8Array) {
    this.#buf = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  pull(max: number): Buffer {
    const start = this.#pos;
    const end = Math.min(this.#buf.length, start + max);
    this.#pos = end;
    return this.#buf.subarray(start, end);
  }
}

/**
 * A body read from a file descriptor: stdin under CGI (position `null`, the
 * fd's own offset) or a spooled temp file (explicit positions from 0).
 */
export class FdSource implements ByteSource {
  #fd: number;
  #pos: number | null;
  #onDispose: (() => void) | undefined;
  constructor(fd: number, positional: boolean, onDispose?: () => void) {
    this.#fd = fd;
    this.#pos = positional ? 0 : null;
    this.#onDispose = onDispose;
  }
  pull(max: number): Buffer {
    const buf = Buffer.allocUnsafe(Math.min(max, BLOCK));
    for (;;) {
      try {
        const n = readSync(this.#fd, buf, 0, buf.length, this.#pos);
        if (this.#pos !== null) this.#pos += n;
        return n === buf.length ? buf : buf.subarray(0, n);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // A non-blocking pipe with nothing in it yet: wait 1 ms and try again.
        if (code === 'EAGAIN') { pauseSync(1); continue; }
        if (code === 'EOF' || code === 'EBADF' || code === 'EINVAL') return EMPTY;
        throw err;
      }
    }
  }
  dispose(): void {
    this.#onDispose?.();
    this.#onDispose = undefined;
  }
}

/** A size argument: undefined/null/negative mean "no limit"; anything but a number is an error. */
function limitOf(size: unknown, what: string): number {
  if (size === undefined || size === null) return Infinity;
  if (typeof size !== 'number' || Number.isNaN(size)) {
    throw new TypeError(`wsgi.input.${what}() takes a number of bytes, got ${typeof size === 'number' ? 'NaN' : typeof size}`);
  }
  return size < 0 ? Infinity : Math.floor(size);
}

/** The `wsgi.input` implementation. */
export class InputStream implements WsgiInput {
  #src: ByteSource;
  #left: number;          // bytes not yet pulled from the source
  #pending: Buffer = EMPTY; // pulled but not yet returned

  /** @param length CONTENT_LENGTH: no byte past it is ever returned (C9). */
  constructor(src: ByteSource, length: number) {
    this.#src = src;
    this.#left = length > 0 ? length : 0;
  }

  /** Bytes that have not been read yet (pending plus unpulled). */
  get remaining(): number {
    return this.#pending.length + this.#left;
  }

  #fill(want: number): boolean {
    if (this.#left === 0) return false;
    const got = this.#src.pull(Math.min(want, this.#left));
    if (got.length === 0) { this.#left = 0; return false; } // EOF before CONTENT_LENGTH: the body is short
    this.#left -= got.length;
    this.#pending = this.#pending.length === 0 ? got : Buffer.concat([this.#pending, got]);
    return true;
  }

  #take(n: number): Buffer {
    const p = this.#pending;
    if (n >= p.length) { this.#pending = EMPTY; return p; }
    this.#pending = p.subarray(n);
    return p.subarray(0, n);
  }

  read(size?: number | null): Buffer {
    size = limitOf(size, 'read');
    if (size === Infinity) {
      while (this.#fill(Math.max(this.#left, 1))) { /* read the rest */ }
      return this.#take(this.#pending.length);
    }
    while (this.#pending.length < size && this.#fill(size - this.#pending.length)) { /* fill */ }
    return this.#take(size);
  }

  readline(size?: number | null): Buffer {
    const limit = limitOf(size, 'readline');
    let scanned = 0;
    for (;;) {
      const nl = this.#pending.indexOf(10, scanned);
      if (nl >= 0 && nl < limit) return this.#take(nl + 1);
      if (this.#pending.length >= limit) return this.#take(limit);
      scanned = this.#pending.length;
      if (!this.#fill(BLOCK)) return this.#take(Math.min(limit, this.#pending.length));
    }
  }

  readlines(hint?: number | null): Buffer[] {
    const lines: Buffer[] = [];
    const max = hint === 0 ? Infinity : limitOf(hint, 'readlines');
    let total = 0;
    for (;;) {
      const line = this.readline();
      if (line.length === 0) return lines;
      lines.push(line);
      total += line.length;
      if (total >= max) return lines;
    }
  }

  *[Symbol.iterator](): Iterator<Buffer> {
    for (;;) {
      const line = this.readline();
      if (line.length === 0) return;
      yield line;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const line = this.readline();
      if (line.length === 0) return;
      yield line;
    }
  }
}

/** A source with no bytes: stateless, so one serves every empty body. */
const NO_BYTES = new MemorySource(EMPTY);

/** An input with no body (a new stream each time: the app may keep it). */
export function emptyInput(): InputStream {
  return new InputStream(NO_BYTES, 0);
}
