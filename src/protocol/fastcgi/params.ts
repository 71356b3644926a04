/**
 * FastCGI name-value pairs (FastCGI 1.0 §3.4): the body of FCGI_PARAMS and
 * FCGI_GET_VALUES. Lengths are 1 byte (0–127) or 4 bytes with the top bit
 * set (up to 2^31-1). Names and values are bytes; they are decoded as
 * latin-1, one character per byte, never as UTF-8 (F2, C4). Pure.
 */
import { Buffer } from 'node:buffer';
import { GatewayError } from '../../contract/errors.js';
import { latin1Text } from '../text.js';
import { addVar } from '../vars.js';
import { MAX_CONTENT, RecordType } from './constants.js';
import { streamRecords, streamSize } from './records.js';

/** Limits of one request's params. */
export interface ParamsLimits {
  /** Total bytes of the params stream (names, values and length bytes). */
  maxBytes: number;
  /** Number of pairs. */
  maxCount: number;
}

/**
 * Push decoder of a params stream into `vars` (a repeated name is joined or
 * replaced as `addVar` says). Feed each PARAMS record's content with `push`;
 * a pair may straddle records (F2). `end()` at the empty record throws if a
 * pair was left incomplete. Lengths are checked against the limits before
 * any byte of the pair is held.
 */
export class ParamsDecoder {
  readonly vars: Record<string, string>;
  #limits: ParamsLimits;
  #rest: Buffer | null = null;
  #bytes = 0;
  #count = 0;

  constructor(limits: ParamsLimits, vars: Record<string, string> = {}) {
    this.#limits = limits;
    this.vars = vars;
  }

  /** Pairs decoded so far. */
  get count(): number {
    return this.#count;
  }

  push(content: Buffer): void {
    if (content.length === 0) return;
    this.#bytes += content.length;
    if (this.#bytes > this.#limits.maxBytes) {
      throw new GatewayError('ERR_LIMIT_PARAMS', `FastCGI: params exceed the limit of ${this.#limits.maxBytes} bytes`);
    }
    // Copy only when a pair straddles records: join what was left with the new content.
    const data = this.#rest === null ? content : Buffer.concat([this.#rest, content]);
    this.#rest = null;
    const used = this.#pairs(data);
    if (used < data.length) this.#rest = Buffer.from(data.subarray(used));
  }

  /** The stream ended (empty PARAMS record): a pair cut short is an error. */
  end(): void {
    if (this.#rest !== null) {
      throw new GatewayError('ERR_FCGI_BAD_PARAMS', `FastCGI: the params stream ended inside a name-value pair (${this.#rest.length} bytes left over)`);
    }
  }

  /** Decodes whole pairs from `data`; returns how many bytes they used. */
  #pairs(data: Buffer): number {
    const len = data.length;
    let pos = 0;
    while (pos < len) {
      const start = pos;
      let nlen = data[pos]!;
      if (nlen & 0x80) {
        if (len - pos < 4) return start;
        nlen = data.readUInt32BE(pos) & 0x7fffffff;
        pos += 4;
      } else {
        pos += 1;
      }
      if (pos >= len) return start;
      let vlen = data[pos]!;
      if (vlen & 0x80) {
        if (len - pos < 4) return start;
        vlen = data.readUInt32BE(pos) & 0x7fffffff;
        pos += 4;
      } else {
        pos += 1;
      }
      if (nlen === 0) throw new GatewayError('ERR_FCGI_BAD_PARAMS', 'FastCGI: a name-value pair has an empty name');
      // A length that promises more than the limit allows is refused now, not after buffering it.
      if (this.#bytes - len + pos + nlen + vlen > this.#limits.maxBytes) {
        throw new GatewayError('ERR_LIMIT_PARAMS', `FastCGI: a name-value pair of ${nlen}+${vlen} bytes exceeds the params limit of ${this.#limits.maxBytes} bytes`);
      }
      if (len - pos < nlen + vlen) return start;
      if (++this.#count > this.#limits.maxCount) {
        throw new GatewayError('ERR_LIMIT_PARAMS', `FastCGI: more than ${this.#limits.maxCount} params`);
      }
      const vpos = pos + nlen;
      pos = vpos + vlen;
      addVar(this.vars, latin1Text(data, vpos - nlen, vpos), latin1Text(data, vpos, pos));
    }
    return pos;
  }
}

/** Decodes a complete name-value body (FCGI_GET_VALUES) into an object. */
export function decodePairs(content: Buffer, limits: ParamsLimits = { maxBytes: MAX_CONTENT, maxCount: 1000 }): Record<string, string> {
  const d = new ParamsDecoder(limits);
  d.push(content);
  d.end();
  return d.vars;
}

/** Bytes of a length field (§3.4): 1 below 128, else 4. */
function lengthSize(n: number): number {
  return n < 128 ? 1 : 4;
}

/** Writes a length (§3.4, vector FV1); returns the offset after it. */
export function writeLength(out: Uint8Array, off: number, n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
    throw new GatewayError('ERR_FCGI_BAD_PARAMS', `FastCGI: a name or value length must be 0..2147483647, got ${n}`);
  }
  if (n < 128) {
    out[off] = n;
    return off + 1;
  }
  out[off] = ((n >>> 24) & 0x7f) | 0x80;
  out[off + 1] = (n >>> 16) & 0xff;
  out[off + 2] = (n >>> 8) & 0xff;
  out[off + 3] = n & 0xff;
  return off + 4;
}

/** Encodes pairs (latin-1 strings, one byte per character) as a name-value body. */
export function encodePairs(pairs: Iterable<readonly [string, string]>): Buffer {
  const list = [...pairs];
  let size = 0;
  for (const [n, v] of list) size += lengthSize(n.length) + lengthSize(v.length) + n.length + v.length;
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  for (const [n, v] of list) {
    off = writeLength(out, off, n.length);
    off = writeLength(out, off, v.length);
    off += out.write(n, off, 'latin1');
    off += out.write(v, off, 'latin1');
  }
  return out;
}

/**
 * A whole FCGI_PARAMS stream for `requestId`: the pairs split across records
 * of at most 65535 bytes (a pair may straddle two), then the empty record.
 */
export function encodeParams(requestId: number, pairs: Iterable<readonly [string, string]>): Buffer {
  const body = encodePairs(pairs);
  const out = Buffer.allocUnsafe(streamSize(body.length, true));
  streamRecords(out, 0, RecordType.Params, requestId, body, true);
  return out;
}
