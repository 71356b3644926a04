/**
 * `wsgi.file_wrapper` (C21): stream a file from its current position to EOF
 * in fixed-size blocks, and close it in close().
 */
import { Buffer } from 'node:buffer';
import { close as closeFd, closeSync, openSync, read as readFd } from 'node:fs';
import { GatewayError } from '../contract/errors.js';
import type { FileLike, FileWrapperBody } from '../contract/types.js';

const DEFAULT_BLOCK = 65536;

function readAt(fd: number, size: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  return new Promise((resolve, reject) => {
    // position null: read from (and advance) the file's current offset (C21).
    readFd(fd, buf, 0, size, null, (err, n) => (err ? reject(err) : resolve(n === size ? buf : buf.subarray(0, n))));
  });
}

/** The body `wsgi.file_wrapper` returns. Iterate it once; close() closes the file. */
export class FileWrapper implements FileWrapperBody {
  /** The descriptor being streamed (servers may use it for zero-copy sends). */
  readonly fd: number;
  readonly blksize: number;
  #file: FileLike;
  #closed = false;

  constructor(file: FileLike, blksize = DEFAULT_BLOCK) {
    if (!Number.isInteger(blksize) || blksize <= 0) {
      throw new GatewayError('ERR_FILE_WRAPPER', `wsgi.file_wrapper: blksize must be a positive integer, got ${String(blksize)}`);
    }
    this.blksize = blksize;
    if (typeof file === 'number' && Number.isInteger(file) && file >= 0) {
      this.fd = file;
    } else if (typeof file === 'string') {
      this.fd = openSync(file, 'r');
    } else if (file !== null && typeof file === 'object' && typeof file.fd === 'number') {
      this.fd = file.fd;
    } else {
      throw new GatewayError('ERR_FILE_WRAPPER', 'wsgi.file_wrapper takes a file descriptor, an fs.promises FileHandle, or a path');
    }
    this.#file = file;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    while (!this.#closed) {
      const block = await readAt(this.fd, this.blksize);
      if (block.length === 0) return;
      yield block;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const f = this.#file;
    if (typeof f === 'object' && f !== null) {
      f.close().catch(() => {});
    } else if (typeof f === 'string') {
      closeSync(this.fd);
    } else {
      closeFd(this.fd, () => {});
    }
  }
}

/** The `wsgi.file_wrapper` callable put in every environ. */
export function fileWrapper(file: FileLike, blksize?: number): FileWrapper {
  return new FileWrapper(file, blksize);
}
