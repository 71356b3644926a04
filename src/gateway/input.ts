/**
 * `wsgi.input` (C9): a synchronous file-like reader over a request body that
 * never yields a byte past CONTENT_LENGTH.
 *
 * R1: every read costs time and memory linear in what it returns. A result
 * larger than what is already pulled is allocated once, at its final size,
 * and the source reads straight into it; a long line is gathered as a list of
 * blocks and joined once. Nothing is ever concatenated again as it grows.
 */
import { Buffer } from 'node:buffer';
import { readSync } from 'node:fs';
import type { WsgiInput } from '../contract/types.js';
import { paceBuffers } from './gc-pacer.js';
import { pauseSync } from './fd.js';

const EMPTY = Buffer.alloc(0);
const BLOCK = 65536;
/** Linux returns at most this many bytes from one read(2). */
const MAX_READ = 0x7ffff000;

/** Where body bytes come from. An empty or zero result means EOF. */
export interface ByteSource {
  /** True when `pull` hands out views of bytes already in memory (no copy, no allocation). */
  readonly views?: boolean;
  /** At most `max` bytes (a view where the source can give one without copying). */
  pull(max: number): Buffer;
  /** Reads at most `max` bytes into `target` at `offset`; returns how many. */
  pullInto(target: Buffer, offset: number, max: number): number;
  /** Release resources (temp files). Called by the server when the request ends. */
  dispose?(): void;
}

/** A body held in memory. Reads are zero-copy views. */
export class MemorySource implements ByteSource {
  readonly views = true;
  #buf: Buffer;
  #pos = 0;
  #onDispose: (() => void) | undefined;
  constructor(buf: Uint8Array, onDispose?: () => void) {
    this.#buf = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    this.#onDispose = onDispose;
  }
  dispose(): void {
    this.#onDispose?.();
    this.#onDispose = undefined;
  }
  pull(max: number): Buffer {
    const start = this.#pos;
    const end = Math.min(this.#buf.length, start + max);
    this.#pos = end;
    return this.#buf.subarray(start, end);
  }
  pullInto(target: Buffer, offset: number, max: number): number {
    const got = this.pull(max);
    target.set(got, offset);
    return got.length;
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
    paceBuffers(buf.length);
    const n = this.pullInto(buf, 0, buf.length);
    return n === buf.length ? buf : buf.subarray(0, n);
  }
  pullInto(target: Buffer, offset: number, max: number): number {
    for (;;) {
      try {
        const n = readSync(this.#fd, target, offset, Math.min(max, MAX_READ), this.#pos);
        if (this.#pos !== null) this.#pos += n;
        return n;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // A non-blocking pipe with nothing in it yet: wait 1 ms and try again.
        if (code === 'EAGAIN') { pauseSync(1); continue; }
        if (code === 'EOF' || code === 'EBADF' || code === 'EINVAL') return 0;
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
  #left: number;            // bytes not yet pulled from the source
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

  /** Pulls one block into `#pending` (which must be empty); false at the end of the body. */
  #pullBlock(max: number): boolean {
    if (this.#left === 0) return false;
    const got = this.#src.pull(Math.min(max, this.#left));
    if (got.length === 0) { this.#left = 0; return false; } // EOF before CONTENT_LENGTH: the body is short
    this.#left -= got.length;
    this.#pending = got;
    return true;
  }

  #take(n: number): Buffer {
    const p = this.#pending;
    if (n >= p.length) { this.#pending = EMPTY; return p; }
    this.#pending = p.subarray(n);
    return p.subarray(0, n);
  }

  read(size?: number | null): Buffer {
    const want = Math.min(limitOf(size, 'read'), this.remaining);
    const have = this.#pending.length;
    if (want <= have) return this.#take(want);
    if (have === 0 && this.#src.views === true) {
      // A body in memory hands over the whole answer as one view: no copy.
      if (!this.#pullBlock(want)) return EMPTY;
      if (this.#pending.length >= want) return this.#take(want);
    }
    // R1: the result at its final size, filled straight from the source.
    const out = Buffer.allocUnsafe(want);
    paceBuffers(want);
    let off = this.#pending.copy(out, 0);
    this.#pending = EMPTY;
    while (off < want) {
      const n = this.#src.pullInto(out, off, want - off);
      if (n === 0) { this.#left = 0; break; }
      off += n;
      this.#left -= n;
    }
    return off === want ? out : out.subarray(0, off);
  }

  readline(size?: number | null): Buffer {
    const limit = limitOf(size, 'readline');
    const first = this.#pending;
    const nl = first.indexOf(10);
    if (nl >= 0 && nl < limit) return this.#take(nl + 1);
    if (first.length >= limit) return this.#take(limit);
    // R1: the line spans blocks: gather them, join once.
    const parts: Buffer[] = [];
    let total = 0;
    if (first.length > 0) { parts.push(first); total = first.length; }
    this.#pending = EMPTY;
    while (this.#pullBlock(BLOCK)) {
      const block = this.#pending;
      const room = limit - total;
      const i = block.indexOf(10);
      const cut = i >= 0 && i < room ? i + 1 : Math.min(room, block.length);
      parts.push(this.#take(cut));
      total += cut;
      if (cut < block.length || (i >= 0 && i < room) || total >= limit) break;
    }
    return parts.length <= 1 ? parts[0] ?? EMPTY : Buffer.concat(parts, total);
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
