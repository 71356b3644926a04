/**
 * FastCGI name-value pairs (FastCGI 1.0 §3.4): the body of FCGI_PARAMS and
 * FCGI_GET_VALUES. Lengths are 1 byte (0–127) or 4 bytes with the top bit
 * set (up to 2^31-1). Names and values are bytes; they are decoded as
 * latin-1, one character per byte, never as UTF-8 (F2, C4). Pure.
 */
import { Buffer } from 'node:buffer';
import { GatewayError } from '../../contract/errors.js';
import { addVar, type VarAdder } from '../vars.js';
import { addPair, beginVars, finishVars, newVarsMemo, restRemembered, skipRemembered, type PairFraming, type VarsDraft, type VarsMemo } from '../vars-memo.js';
import { MAX_CONTENT, RecordType } from './constants.js';
import { streamRecords, streamSize } from './records.js';

/** Limits of one request's params. */
export interface ParamsLimits {
  /** Total bytes of the params stream (names, values and length bytes). */
  maxBytes: number;
  /** Number of pairs. */
  maxCount: number;
}

/** FastCGI's name-value framing (§3.4), for a VarsMemo. */
const PAIR_FRAMING: PairFraming = {
  size: (name, value) => lengthSize(name.length) + lengthSize(value.length) + name.length + value.length,
  write(out, at, name, value) {
    at = writeLength(out, at, name.length);
    at = writeLength(out, at, value.length);
    for (let i = 0; i < name.length; i++) out[at++] = name.charCodeAt(i);
    for (let i = 0; i < value.length; i++) out[at++] = value.charCodeAt(i);
    return at;
  },
};

/** A VarsMemo for params decoded with `add` into objects `make` returns (each a fresh object). */
export function paramsMemo(add: VarAdder = addVar, make: () => Record<string, string> = () => ({})): VarsMemo {
  return newVarsMemo(add, make, PAIR_FRAMING);
}

/** Plain params (addVar into {}): FCGI_GET_VALUES and decoders given no memo. */
const PLAIN = paramsMemo();

/**
 * Push decoder of a params stream into variables (a repeated name is joined
 * or replaced as the memo's adder says), built against the request before
 * (VarsMemo). Feed each PARAMS record's content with `push`; a pair may
 * straddle records (F2). `end()` at the empty record throws if a pair was
 * left incomplete; `vars` is the result. Lengths are checked against the
 * limits before any byte of the pair is held.
 *
 * R2: pairs wholly inside a record are decoded from views of it. A pair that
 * straddles records is copied into a buffer of exactly its size (its header
 * first, into 8 bytes), so each byte is copied at most once whatever the
 * record boundaries: a 512 KiB value in 1-byte records costs 512 Ki copies of
 * one byte, not 512 Ki copies of what came before.
 */
export class ParamsDecoder {
  #limits: ParamsLimits;
  readonly #draft: VarsDraft;
  /** The pair that straddles records: its bytes so far (header first), or null. */
  #part: Buffer | null = null;
  #have = 0;
  /** Header size and pair size once known (0 until then). */
  #head = 0;
  #size = 0;
  #bytes = 0;

  /** `memo` says how pairs are stored (paramsMemo(addCgiVar, environVars) for a request's environ). */
  constructor(limits: ParamsLimits, memo: VarsMemo = PLAIN) {
    this.#draft = beginVars(memo);
    this.#limits = limits;
  }

  /** Pairs so far. */
  get count(): number {
    return this.#draft.count;
  }

  /** The variables, once `end()` has been called. */
  get vars(): Record<string, string> {
    return finishVars(this.#draft);
  }

  push(content: Buffer): void {
    if (content.length === 0) return;
    const base = this.#bytes;
    this.#bytes += content.length;
    if (this.#bytes > this.#limits.maxBytes) {
      throw new GatewayError('ERR_LIMIT_PARAMS', `FastCGI: params exceed the limit of ${this.#limits.maxBytes} bytes`);
    }
    let pos = 0;
    if (this.#part !== null) {
      pos = this.#resume(content, base);
      if (pos < 0) return;
    }
    const used = this.#pairs(content, pos, base);
    if (used < content.length) this.#keep(content.subarray(used), base + used);
  }

  /** The stream ended (empty PARAMS record): a pair cut short is an error. */
  end(): void {
    if (this.#part !== null) {
      throw new GatewayError('ERR_FCGI_BAD_PARAMS', `FastCGI: the params stream ended inside a name-value pair (${this.#have} bytes left over)`);
    }
    finishVars(this.#draft);
  }

  /**
   * Decodes whole pairs from `data` starting at `pos` (stream offset of
   * data[0] is `base`); returns where the first incomplete pair starts.
   */
  #pairs(data: Buffer, pos: number, base: number): number {
    const len = data.length;
    // The first record is compared with the remembered request; a later one is decoded pair by pair (F2).
    const first = base === 0;
    if (first) pos = skipRemembered(this.#draft, data, this.#limits.maxCount);
    while (pos < len) {
      if (first && restRemembered(this.#draft, data, pos)) return len;
      const head = headerSize(data, pos, len);
      if (head === 0) return pos;
      const nlen = lengthAt(data, pos);
      const vlen = lengthAt(data, pos + (data[pos]! & 0x80 ? 4 : 1));
      this.#check(nlen, vlen, base + pos + head);
      if (len - pos - head < nlen + vlen) return pos;
      const start = pos;
      const npos = pos + head;
      const vpos = npos + nlen;
      pos = vpos + vlen;
      this.#add(data, start, npos, vpos, pos);
    }
    return pos;
  }

  /** A pair's lengths are known: refuse it now if it breaks a limit (before its bytes are held). */
  #check(nlen: number, vlen: number, end: number): void {
    if (nlen === 0) throw new GatewayError('ERR_FCGI_BAD_PARAMS', 'FastCGI: a name-value pair has an empty name');
    // A length that promises more than the limit allows is refused now, not after buffering it.
    if (end + nlen + vlen > this.#limits.maxBytes) {
      throw new GatewayError('ERR_LIMIT_PARAMS', `FastCGI: a name-value pair of ${nlen}+${vlen} bytes exceeds the params limit of ${this.#limits.maxBytes} bytes`);
    }
  }

  #add(data: Buffer, start: number, npos: number, vpos: number, end: number): void {
    if (this.#draft.count >= this.#limits.maxCount) {
      throw new GatewayError('ERR_LIMIT_PARAMS', `FastCGI: more than ${this.#limits.maxCount} params`);
    }
    addPair(this.#draft, data, start, end, npos, vpos, vpos);
  }

  /** Keeps the start of a pair that straddles into the next record; `at` is its stream offset. */
  #keep(bytes: Buffer, at: number): void {
    const head = headerSize(bytes, 0, bytes.length);
    if (head === 0) {
      this.#part = Buffer.allocUnsafe(8);
      this.#head = this.#size = 0;
    } else {
      this.#sized(bytes, head, at);
    }
    this.#have = bytes.copy(this.#part!, 0);
  }

  /** The pair's header is complete in `hdr`: allocate the pair at its exact size. */
  #sized(hdr: Buffer, head: number, at: number): void {
    const nlen = lengthAt(hdr, 0);
    const vlen = lengthAt(hdr, hdr[0]! < 128 ? 1 : 4);
    this.#check(nlen, vlen, at + head);
    this.#head = head;
    this.#size = head + nlen + vlen;
    const buf = Buffer.allocUnsafe(this.#size);
    if (this.#part !== null) this.#part.copy(buf, 0, 0, this.#have);
    this.#part = buf;
  }

  /** Completes the straddling pair from the head of `data`; returns where the rest starts, or -1 if all was taken. */
  #resume(data: Buffer, base: number): number {
    let pos = 0;
    const at = base - this.#have;
    while (this.#size === 0) {
      // Header bytes one by one: at most 8 of them.
      if (pos >= data.length) return -1;
      this.#part![this.#have++] = data[pos++]!;
      const head = headerSize(this.#part!, 0, this.#have);
      if (head !== 0) this.#sized(this.#part!.subarray(0, this.#have), head, at);
    }
    const take = Math.min(this.#size - this.#have, data.length - pos);
    data.copy(this.#part!, this.#have, pos, pos + take);
    this.#have += take;
    pos += take;
    if (this.#have < this.#size) return -1;
    const buf = this.#part!;
    const head = this.#head;
    this.#part = null;
    this.#have = this.#head = this.#size = 0;
    this.#add(buf, 0, head, head + lengthAt(buf, 0), buf.length);
    return pos < data.length ? pos : -1;
  }
}

/** Size of the two length fields at `pos` (§3.4), or 0 when `len` does not hold them yet. */
function headerSize(data: Uint8Array, pos: number, len: number): number {
  if (pos >= len) return 0;
  const n = data[pos]! & 0x80 ? 4 : 1;
  if (pos + n >= len) return 0;
  const v = data[pos + n]! & 0x80 ? 4 : 1;
  return pos + n + v <= len ? n + v : 0;
}

/** A length field (§3.4) at `pos`: 1 byte below 128, else 4 bytes with the top bit set. */
function lengthAt(data: Buffer, pos: number): number {
  const b = data[pos]!;
  return b & 0x80 ? data.readUInt32BE(pos) & 0x7fffffff : b;
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
