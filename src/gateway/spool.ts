/**
 * Request-body spool (S4): bytes are held in memory up to a threshold, then
 * written to an anonymous temp file, so `wsgi.input` can read synchronously in
 * bounded memory. The temp file is unlinked as soon as it is opened: it
 * disappears with its descriptor even if the process is killed.
 */
import { Buffer } from 'node:buffer';
import { closeSync, openSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayError } from '../contract/errors.js';
import { writeAllSync } from './fd.js';
import { FdSource, MemorySource, type ByteSource } from './input.js';

/** Spool limits. */
export interface SpoolLimits {
  /** Largest body accepted; past it the server answers 413. */
  maxBytes: number;
  /** Bodies up to this size stay in memory. */
  memoryBytes: number;
  /** Directory for spool files (default: the OS temp dir). */
  dir?: string | undefined;
}

let spoolSeq = 0;

/** Accumulates one request body. */
export class BodySpool {
  #limits: SpoolLimits;
  #chunks: Buffer[] = [];
  #memory = 0;
  #fd = -1;
  #length = 0;

  constructor(limits: SpoolLimits) {
    this.#limits = limits;
  }

  /** Bytes received so far. */
  get length(): number {
    return this.#length;
  }

  /** Adds bytes. Throws ERR_LIMIT_BODY past `maxBytes` (the server answers 413). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.#length + chunk.length > this.#limits.maxBytes) {
      throw new GatewayError('ERR_LIMIT_BODY', `request body exceeds the limit of ${this.#limits.maxBytes} bytes`);
    }
    this.#length += chunk.length;
    if (this.#fd < 0 && this.#memory + chunk.length <= this.#limits.memoryBytes) {
      // Copy: the caller's buffer may be reused (a view into a socket read).
      this.#chunks.push(Buffer.from(chunk));
      this.#memory += chunk.length;
      return;
    }
    if (this.#fd < 0) {
      // O_EXCL (flag 'x') refuses an existing file or symlink, and the name is unlinked at once:
      // the name needs to be unique, not secret.
      const path = join(this.#limits.dir ?? tmpdir(), `tsgi-body-${process.pid}-${(++spoolSeq).toString(36)}-${Math.random().toString(36).slice(2)}`);
      this.#fd = openSync(path, 'wx+', 0o600);
      unlinkSync(path);
      for (const c of this.#chunks) writeAllSync(this.#fd, c);
      this.#chunks = [];
      this.#memory = 0;
    }
    writeAllSync(this.#fd, chunk);
  }

  /** The finished body as a source for `wsgi.input`; dispose() it when the request ends. */
  source(): ByteSource {
    if (this.#fd >= 0) {
      const fd = this.#fd;
      this.#fd = -1;
      return new FdSource(fd, true, () => closeSync(fd));
    }
    const chunks = this.#chunks;
    this.#chunks = [];
    return new MemorySource(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.#memory));
  }

  /**
   * The finished body as a source, with `vars.CONTENT_LENGTH` made to state its
   * real length (absent when empty, C3): an app sees a chunked upload as nginx
   * shows it. Read it with `new InputStream(source, spool.length)`.
   */
  finish(vars: Record<string, unknown>): ByteSource {
    if (this.#length > 0) vars.CONTENT_LENGTH = String(this.#length);
    else delete vars.CONTENT_LENGTH;
    return this.source();
  }

  /** Drops whatever was spooled (request abandoned). */
  dispose(): void {
    this.#chunks = [];
    if (this.#fd >= 0) {
      closeSync(this.#fd);
      this.#fd = -1;
    }
  }
}
