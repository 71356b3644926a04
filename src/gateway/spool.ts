/**
 * Request-body spool (S4): bytes are held in memory up to a threshold, then
 * written to an anonymous temp file, so `wsgi.input` can read synchronously in
 * bounded memory. The temp file is unlinked as soon as it is opened: it
 * disappears with its descriptor even if the process is killed.
 *
 * R4: whatever the size of the pieces a body arrives in (1-byte FastCGI
 * records, 1-byte TCP segments), they are copied into blocks of up to 64 KiB;
 * a block is kept (in memory) or written (to the file) only once it is full.
 * The memory held per body byte is one byte, plus at most one block.
 */
import { Buffer } from 'node:buffer';
import { closeSync, openSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayError } from '../contract/errors.js';
import { writeAllSync } from './fd.js';
import { paceBuffers } from './gc-pacer.js';
import { FdSource, MemorySource, type ByteSource } from './input.js';

/** Spool limits. */
export interface SpoolLimits {
  /** Largest body accepted; past it the server answers 413. */
  maxBytes: number;
  /** Bodies up to this size stay in memory. */
  memoryBytes: number;
  /**
   * R3: bytes of request bodies the whole process holds in memory at once;
   * past it, every new block goes to a spool file whatever the body's size
   * (the servers pass 64 MiB, RequestLimits.memoryBodyTotalBytes; absent: no
   * such limit). Many slow uploads then cost disk, not memory.
   */
  memoryTotalBytes?: number | undefined;
  /** Directory for spool files (default: the OS temp dir). */
  dir?: string | undefined;
}

/** Size of a coalescing block, and of each write to the spool file. */
const BLOCK = 65536;
const EMPTY = Buffer.alloc(0);

let spoolSeq = 0;

/** Bytes of request bodies held in memory by every spool of the process (R3). */
let heldInMemory = 0;

/** Bytes of request bodies the process holds in memory now (for tests and monitoring). */
export function bodyBytesInMemory(): number {
  return heldInMemory;
}

/** Accumulates one request body. */
export class BodySpool {
  #limits: SpoolLimits;
  /** Full blocks held in memory (none once the body is on disk). */
  #blocks: Buffer[] = [];
  /** The block being filled, and how much of it is. */
  #block: Buffer = EMPTY;
  #fill = 0;
  /** A block already written to the file, to fill again. */
  #spare: Buffer | null = null;
  #fd = -1;
  #length = 0;
  /** This spool's share of `heldInMemory`. */
  #charged = 0;

  /**
   * @param expected the body's size when it is known (CONTENT_LENGTH): a body
   * that fits in memory then gets one buffer of exactly that size.
   */
  constructor(limits: SpoolLimits, expected = 0) {
    this.#limits = limits;
    if (expected > 0 && expected <= limits.memoryBytes && this.#reserve(expected)) this.#block = Buffer.allocUnsafe(expected);
  }

  /** Takes `n` bytes of the process's memory budget; false when it is spent. */
  #reserve(n: number): boolean {
    if (heldInMemory + n > (this.#limits.memoryTotalBytes ?? Infinity)) return false;
    heldInMemory += n;
    this.#charged += n;
    return true;
  }

  /** Gives this spool's share of the budget back. */
  readonly #release = (): void => {
    heldInMemory -= this.#charged;
    this.#charged = 0;
  };

  /** Bytes received so far. */
  get length(): number {
    return this.#length;
  }

  /** Adds bytes (copied: the caller's buffer may be reused). Throws ERR_LIMIT_BODY past `maxBytes` (the server answers 413). */
  push(chunk: Uint8Array): void {
    const len = chunk.length;
    if (len === 0) return;
    if (this.#length + len > this.#limits.maxBytes) {
      throw new GatewayError('ERR_LIMIT_BODY', `request body exceeds the limit of ${this.#limits.maxBytes} bytes`);
    }
    this.#length += len;
    paceBuffers(len); // the caller's buffer (a socket read) is garbage once copied
    let pos = 0;
    while (pos < len) {
      if (this.#fill === this.#block.length) this.#nextBlock(len - pos);
      const n = Math.min(len - pos, this.#block.length - this.#fill);
      this.#block.set(pos === 0 && n === len ? chunk : chunk.subarray(pos, pos + n), this.#fill);
      this.#fill += n;
      pos += n;
    }
  }

  /** The current block is full: keep it (memory) or write it (file), and start another. */
  #nextBlock(want: number): void {
    if (this.#fill > 0) this.#flush();
    // A body that outgrows memory moves to the file; blocks are then written as they fill.
    const size = Math.min(BLOCK, Math.max(want, 4096));
    if (this.#fd < 0 && (this.#length > this.#limits.memoryBytes || !this.#reserve(size))) this.#toFile();
    if (this.#fd >= 0 && this.#spare !== null) {
      this.#block = this.#spare;
      this.#spare = null;
    } else {
      this.#block = Buffer.allocUnsafe(this.#fd < 0 ? size : BLOCK);
    }
  }

  #flush(): void {
    const full = this.#fill === this.#block.length ? this.#block : this.#block.subarray(0, this.#fill);
    this.#fill = 0;
    if (this.#fd >= 0) {
      // Written synchronously: the block is free again, and is reused (one block per body on disk).
      writeAllSync(this.#fd, full);
      if (this.#block.length === BLOCK) this.#spare = this.#block;
    } else {
      this.#blocks.push(full);
    }
    this.#block = EMPTY;
  }

  #toFile(): void {
    // O_EXCL (flag 'x') refuses an existing file or symlink, and the name is unlinked at once:
    // the name needs to be unique, not secret.
    const path = join(this.#limits.dir ?? process.getBuiltinModule('node:os').tmpdir(), `tsgi-body-${process.pid}-${(++spoolSeq).toString(36)}-${Math.random().toString(36).slice(2)}`);
    this.#fd = openSync(path, 'wx+', 0o600);
    unlinkSync(path);
    for (const b of this.#blocks) writeAllSync(this.#fd, b);
    this.#blocks = [];
    this.#release();
  }

  /** The finished body as a source for `wsgi.input`; dispose() it when the request ends. */
  source(): ByteSource {
    if (this.#fill > 0) this.#flush();
    this.#block = EMPTY;
    this.#spare = null;
    if (this.#fd >= 0) {
      const fd = this.#fd;
      this.#fd = -1;
      return new FdSource(fd, true, () => closeSync(fd));
    }
    const blocks = this.#blocks;
    this.#blocks = [];
    // The body stays charged to the budget until the request is over (the source is disposed).
    return new MemorySource(blocks.length === 1 ? blocks[0]! : Buffer.concat(blocks, this.#length), this.#release);
  }

  /** Drops whatever was spooled (request abandoned). */
  dispose(): void {
    this.#blocks = [];
    this.#block = EMPTY;
    this.#spare = null;
    this.#fill = 0;
    this.#release();
    if (this.#fd >= 0) {
      closeSync(this.#fd);
      this.#fd = -1;
    }
  }
}
