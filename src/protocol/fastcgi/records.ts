/**
 * FastCGI record layer (FastCGI 1.0 §3.3): a push decoder that turns a byte
 * stream into records, and the encoders for the records an application sends.
 * Pure: no sockets, no timers.
 */
import { Buffer } from 'node:buffer';
import { GatewayError } from '../../contract/errors.js';
import {
  FCGI_VERSION_1, HEADER_LEN, MAX_CONTENT, RecordType, type ProtocolStatus,
} from './constants.js';

const NO_CONTENT = Buffer.alloc(0);

/**
 * Receives one record. `content` is a view that is valid only during the call
 * (copy what must outlive it); padding has already been dropped. Returning
 * `false` stops the decoder after this record (the caller's output is backed
 * up, R3): `push` then returns how much of the chunk it used.
 */
export type RecordHandler = (type: number, requestId: number, content: Buffer) => unknown;

/**
 * Push decoder: `push(chunk, onRecord)` with chunks of any size. Records wholly
 * inside a chunk are handed over as views of it; only a record that spans
 * chunks is copied, into a buffer of exactly its size. A version other than 1
 * (§3.3) throws ERR_FCGI_BAD_VERSION before anything is buffered; after a
 * throw the decoder refuses more input.
 */
export class RecordDecoder {
  /** A record that spans chunks: its bytes so far (header first). */
  #partial: Buffer | null = null;
  #have = 0;
  #failed = false;

  /** Bytes held for an incomplete record. */
  get pending(): number {
    return this.#partial === null ? 0 : this.#have;
  }

  /**
   * Decodes what `chunk` completes. Returns the bytes of it used: all of
   * them, unless `onRecord` returned false (push the rest again later).
   */
  push(chunk: Buffer, onRecord: RecordHandler): number {
    if (this.#failed) throw new GatewayError('ERR_FCGI_BAD_RECORD', 'FastCGI: input after a protocol error');
    let pos = 0;
    const len = chunk.length;
    try {
      if (this.#partial !== null) {
        pos = this.#resume(chunk, onRecord);
        if (pos < 0) return -pos - 1;
      }
      while (pos < len) {
        if (len - pos < HEADER_LEN) {
          this.#start(chunk.subarray(pos));
          return len;
        }
        checkVersion(chunk[pos]!);
        const clen = (chunk[pos + 4]! << 8) | chunk[pos + 5]!;
        const total = HEADER_LEN + clen + chunk[pos + 6]!;
        if (len - pos < total) {
          this.#start(chunk.subarray(pos), total);
          return len;
        }
        const type = chunk[pos + 1]!;
        const id = (chunk[pos + 2]! << 8) | chunk[pos + 3]!;
        const start = pos + HEADER_LEN;
        pos += total;
        // An empty record (the end of a stream: two per request) needs no view of its own.
        if (onRecord(type, id, clen === 0 ? NO_CONTENT : chunk.subarray(start, start + clen)) === false) return pos;
      }
      return len;
    } catch (err) {
      this.#failed = true;
      this.#partial = null;
      throw err;
    }
  }

  /** Keeps the start of a record; `total` is its size when the header is complete. */
  #start(bytes: Buffer, total = 0): void {
    // A header alone is copied into an 8-byte buffer; once the header is known the record gets its exact size.
    const buf = Buffer.allocUnsafe(total || HEADER_LEN);
    bytes.copy(buf, 0);
    this.#partial = buf;
    this.#have = bytes.length;
  }

  /**
   * Completes the spanning record with the head of `chunk`; returns where the
   * chunk's rest starts, or `-(used + 1)` when decoding stops here (all of the
   * chunk taken, or `onRecord` returned false after `used` bytes).
   */
  #resume(chunk: Buffer, onRecord: RecordHandler): number {
    let buf = this.#partial!;
    let pos = 0;
    if (this.#have < HEADER_LEN) {
      const take = Math.min(HEADER_LEN - this.#have, chunk.length);
      chunk.copy(buf, this.#have, 0, take);
      this.#have += take;
      pos = take;
      if (this.#have < HEADER_LEN) return -chunk.length - 1;
      checkVersion(buf[0]!);
      const total = HEADER_LEN + ((buf[4]! << 8) | buf[5]!) + buf[6]!;
      if (total > HEADER_LEN) {
        const grown = Buffer.allocUnsafe(total);
        buf.copy(grown, 0, 0, HEADER_LEN);
        this.#partial = buf = grown;
      }
    }
    const need = buf.length - this.#have;
    const take = Math.min(need, chunk.length - pos);
    chunk.copy(buf, this.#have, pos, pos + take);
    this.#have += take;
    pos += take;
    if (this.#have < buf.length) return -chunk.length - 1;
    this.#partial = null;
    this.#have = 0;
    const clen = (buf[4]! << 8) | buf[5]!;
    const go = onRecord(buf[1]!, (buf[2]! << 8) | buf[3]!, buf.subarray(HEADER_LEN, HEADER_LEN + clen));
    return go === false || pos === chunk.length ? -pos - 1 : pos;
  }
}

function checkVersion(v: number): void {
  if (v !== FCGI_VERSION_1) {
    throw new GatewayError('ERR_FCGI_BAD_VERSION', `FastCGI: record version ${v}, expected ${FCGI_VERSION_1} (is the peer speaking FastCGI?)`);
  }
}

/** §3.3: padding that brings `len` to a multiple of 8. */
export function paddingFor(len: number): number {
  return (8 - (len & 7)) & 7;
}

/** Writes a record header at `off` (§3.3). */
export function writeHeader(buf: Uint8Array, off: number, type: number, requestId: number, contentLength: number, paddingLength: number): void {
  buf[off] = FCGI_VERSION_1;
  buf[off + 1] = type;
  buf[off + 2] = requestId >>> 8;
  buf[off + 3] = requestId & 0xff;
  buf[off + 4] = contentLength >>> 8;
  buf[off + 5] = contentLength & 0xff;
  buf[off + 6] = paddingLength;
  buf[off + 7] = 0;
}

/** Bytes that `streamRecords` produces for `len` content bytes (plus the closing empty record when `end`). */
export function streamSize(len: number, end: boolean): number {
  const full = Math.floor(len / MAX_CONTENT);
  const rest = len - full * MAX_CONTENT;
  let size = full * (HEADER_LEN + MAX_CONTENT + paddingFor(MAX_CONTENT));
  if (rest > 0) size += HEADER_LEN + rest + paddingFor(rest);
  return end ? size + HEADER_LEN : size;
}

/**
 * Frames `data` as records of a stream (STDOUT, STDERR, STDIN, DATA) into
 * `out` at `off`: at most 65535 content bytes each, zero-padded to a multiple
 * of 8 (F9), then, when `end`, the empty record that closes the stream.
 * Returns the offset after the last byte written. `out` must hold `streamSize` bytes.
 */
export function streamRecords(out: Buffer, off: number, type: number, requestId: number, data: Uint8Array, end: boolean): number {
  let pos = 0;
  while (pos < data.length) {
    const n = Math.min(MAX_CONTENT, data.length - pos);
    const pad = paddingFor(n);
    writeHeader(out, off, type, requestId, n, pad);
    out.set(n === data.length ? data : data.subarray(pos, pos + n), off + HEADER_LEN);
    off += HEADER_LEN + n;
    if (pad) { out.fill(0, off, off + pad); off += pad; }
    pos += n;
  }
  if (end) {
    writeHeader(out, off, type, requestId, 0, 0);
    off += HEADER_LEN;
  }
  return off;
}

/** `data` as a complete stream of records (see streamRecords), in one buffer. */
export function encodeStream(type: number, requestId: number, data: Uint8Array, end: boolean): Buffer {
  const out = Buffer.allocUnsafe(streamSize(data.length, end));
  streamRecords(out, 0, type, requestId, data, end);
  return out;
}

/** One record whose content fits in one (§3.3); padded to a multiple of 8. */
export function encodeRecord(type: number, requestId: number, content: Uint8Array = EMPTY): Buffer {
  if (content.length > MAX_CONTENT) {
    throw new GatewayError('ERR_FCGI_BAD_RECORD', `FastCGI: a record holds at most ${MAX_CONTENT} content bytes, got ${content.length}`);
  }
  const pad = paddingFor(content.length);
  const out = Buffer.alloc(HEADER_LEN + content.length + pad);
  writeHeader(out, 0, type, requestId, content.length, pad);
  out.set(content, HEADER_LEN);
  return out;
}

/** Size of an FCGI_END_REQUEST record. */
export const END_REQUEST_LEN = 16;

/** Writes FCGI_END_REQUEST (§5.5) at `off`; returns the offset after it. */
export function endRequestInto(out: Uint8Array, off: number, requestId: number, appStatus: number, protocolStatus: ProtocolStatus): number {
  writeHeader(out, off, RecordType.EndRequest, requestId, 8, 0);
  out[off + 8] = (appStatus >>> 24) & 0xff;
  out[off + 9] = (appStatus >>> 16) & 0xff;
  out[off + 10] = (appStatus >>> 8) & 0xff;
  out[off + 11] = appStatus & 0xff;
  out[off + 12] = protocolStatus;
  out[off + 13] = 0;
  out[off + 14] = 0;
  out[off + 15] = 0;
  return off + END_REQUEST_LEN;
}

/** FCGI_END_REQUEST as its own buffer (FV8). */
export function encodeEndRequest(requestId: number, appStatus: number, protocolStatus: ProtocolStatus): Buffer {
  const out = Buffer.allocUnsafe(END_REQUEST_LEN);
  endRequestInto(out, 0, requestId, appStatus, protocolStatus);
  return out;
}

/** FCGI_UNKNOWN_TYPE (§4.2), the answer to a management record of a type this side does not know. */
export function encodeUnknownType(type: number): Buffer {
  const body = Buffer.alloc(8);
  body[0] = type;
  return encodeRecord(RecordType.UnknownType, 0, body);
}

/** The body of FCGI_BEGIN_REQUEST (§5.1). */
export interface BeginRequest {
  role: number;
  flags: number;
}

/** Decodes FCGI_BEGIN_REQUEST's body; throws ERR_FCGI_BAD_RECORD when it is not 8 bytes. */
export function decodeBeginRequest(content: Uint8Array): BeginRequest {
  if (content.length !== 8) {
    throw new GatewayError('ERR_FCGI_BAD_RECORD', `FastCGI: FCGI_BEGIN_REQUEST body is ${content.length} bytes, expected 8`);
  }
  return { role: (content[0]! << 8) | content[1]!, flags: content[2]! };
}

/** The body of FCGI_BEGIN_REQUEST (§5.1). */
export function encodeBeginRequest(requestId: number, role: number, flags: number): Buffer {
  const body = Buffer.alloc(8);
  body[0] = role >>> 8;
  body[1] = role & 0xff;
  body[2] = flags;
  return encodeRecord(RecordType.BeginRequest, requestId, body);
}

const EMPTY = new Uint8Array(0);
