/**
 * The uwsgi protocol (uWSGI's "uwsgi protocol" packet, modifier1 0: a WSGI
 * request): a 4-byte header — modifier1 u8, datasize u16 little-endian,
 * modifier2 u8 — then `datasize` bytes of vars, each a u16-LE key length, the
 * key, a u16-LE value length, the value (U1). The request body follows the
 * packet, raw. Pure: bytes in, variables out.
 */
import { Buffer } from 'node:buffer';
import { GatewayError } from '../contract/errors.js';
import { addPair, beginVars, finishVars, newVarsMemo, restRemembered, skipRemembered, type PairFraming, type VarsMemo } from './vars-memo.js';
import { addVar, type VarAdder } from './vars.js';

/** Bytes of the packet header. */
export const UWSGI_HEADER_LEN = 4;
/** The largest vars block the u16 datasize can describe (U1: all of it is accepted). */
export const UWSGI_MAX_VARS = 65535;

/** Limits of a vars block. */
export interface UwsgiLimits {
  /** Number of vars (default 1000). */
  maxCount?: number;
}

/** A decoded request packet. */
export interface UwsgiPacket {
  modifier1: number;
  modifier2: number;
  /** The variables, latin-1 bytes-as-strings; repeats joined (U5); UWSGI_* dropped (U6). */
  vars: Record<string, string>;
}

/** "GET ", "POST", "HEAD"…: an HTTP request line where a uwsgi header should be (UV6). */
function looksLikeHttp(b: Uint8Array): boolean {
  for (let i = 0; i < UWSGI_HEADER_LEN; i++) {
    const c = b[i]!;
    if (!((c >= 0x41 && c <= 0x5a) || (i > 0 && c === 0x20))) return false;
  }
  return true;
}

/**
 * Checks a packet header (U2, UV6); returns the datasize. Throws
 * ERR_UWSGI_HTTP_CLIENT when the bytes are an HTTP request line, and
 * ERR_UWSGI_BAD_MODIFIER for a modifier1 other than 0.
 */
export function checkHeader(h: Uint8Array): number {
  const datasize = h[1]! | (h[2]! << 8);
  if (h[0] !== 0) {
    if (looksLikeHttp(h)) {
      throw new GatewayError('ERR_UWSGI_HTTP_CLIENT',
        `uwsgi: an HTTP client spoke to the uwsgi socket (it sent "${Buffer.from(h.subarray(0, 4)).toString('latin1')}…", read as datasize ${datasize}); point the web server's uwsgi_pass here, or use tsgi http for browsers`);
    }
    throw new GatewayError('ERR_UWSGI_BAD_MODIFIER', `uwsgi: modifier1 ${h[0]} is not supported (only 0, a WSGI request)`);
  }
  return datasize;
}

/** uwsgi's var framing (U1: a 16-bit little-endian length before the key and before the value), for a VarsMemo. */
const VAR_FRAMING: PairFraming = {
  size: (name, value) => 4 + name.length + value.length,
  write(out, at, name, value) {
    out[at++] = name.length & 0xff;
    out[at++] = name.length >>> 8;
    for (let i = 0; i < name.length; i++) out[at++] = name.charCodeAt(i);
    out[at++] = value.length & 0xff;
    out[at++] = value.length >>> 8;
    for (let i = 0; i < value.length; i++) out[at++] = value.charCodeAt(i);
    return at;
  },
};

/**
 * A VarsMemo for vars stored with `add` into objects `make` returns; UWSGI_*
 * vars are never stored (U6: they ask uWSGI to load or run code, and mean
 * nothing here).
 */
export function varsMemo(add: VarAdder = addVar, make: () => Record<string, string> = () => ({})): VarsMemo {
  return newVarsMemo((vars, name, value) => {
    if (!(name.charCodeAt(0) === 85 && name.startsWith('UWSGI_'))) add(vars, name, value);
  }, make, VAR_FRAMING);
}

/** Plain vars (addVar into {}): decoders given no memo. */
const PLAIN = varsMemo();

/**
 * Decodes a vars block (U1, U5, U6) into variables, stored as `memo` says
 * (default: addVar into a new object). Throws ERR_UWSGI_BAD_PACKET on a
 * zero-length key or a key or value that runs past the block (U7).
 */
export function decodeVars(block: Buffer, limits: UwsgiLimits = {}, memo: VarsMemo = PLAIN): Record<string, string> {
  const maxCount = limits.maxCount ?? 1000;
  const d = beginVars(memo);
  const len = block.length;
  let pos = skipRemembered(d, block, maxCount);
  while (pos < len) {
    if (restRemembered(d, block, pos)) break;
    const start = pos;
    if (len - pos < 2) throw bad(`a key length is cut off at byte ${pos}`);
    const klen = block[pos]! | (block[pos + 1]! << 8);
    pos += 2;
    if (klen === 0) throw bad(`an empty key at byte ${pos - 2}`);
    if (len - pos < klen) throw bad(`a key of ${klen} bytes runs past the vars block`);
    const kpos = pos;
    pos += klen;
    if (len - pos < 2) throw bad(`the value length of a key is cut off`);
    const vlen = block[pos]! | (block[pos + 1]! << 8);
    pos += 2;
    if (len - pos < vlen) throw bad(`a value of ${vlen} bytes runs past the vars block`);
    if (d.count >= maxCount) throw new GatewayError('ERR_LIMIT_PARAMS', `uwsgi: more than ${maxCount} vars`);
    addPair(d, block, start, pos + vlen, kpos, kpos + klen, pos);
    pos += vlen;
  }
  return finishVars(d);
}

function bad(what: string): GatewayError {
  return new GatewayError('ERR_UWSGI_BAD_PACKET', `uwsgi: malformed packet: ${what}`);
}

/**
 * Push decoder of one request packet. `push(chunk)` returns null until the
 * packet is complete, then the packet and the bytes after it (the start of
 * the body) as `rest`. The datasize is checked before anything is buffered.
 */
export class UwsgiDecoder {
  #limits: UwsgiLimits;
  /** The packet so far when it spans chunks: the header first, then grown to the packet's size. */
  #buf: Buffer | null = null;
  #have = 0;
  #memo: VarsMemo;

  /** `memo` says how vars are stored (varsMemo(addCgiVar, environVars) for a request's environ). */
  constructor(limits: UwsgiLimits = {}, memo: VarsMemo = PLAIN) {
    this.#limits = limits;
    this.#memo = memo;
  }

  /** Bytes held for an incomplete packet. */
  get pending(): number {
    return this.#buf === null ? 0 : this.#have;
  }

  push(chunk: Buffer): { packet: UwsgiPacket; rest: Buffer } | null {
    if (this.#buf === null) {
      if (chunk.length < UWSGI_HEADER_LEN) {
        this.#buf = Buffer.allocUnsafe(UWSGI_HEADER_LEN);
        this.#have = chunk.copy(this.#buf, 0);
        return null;
      }
      const total = UWSGI_HEADER_LEN + checkHeader(chunk);
      if (chunk.length >= total) return this.#done(chunk, total, chunk.subarray(total));
      this.#buf = Buffer.allocUnsafe(total);
      this.#have = chunk.copy(this.#buf, 0);
      return null;
    }
    let buf = this.#buf;
    let pos = 0;
    if (this.#have < UWSGI_HEADER_LEN) {
      pos = chunk.copy(buf, this.#have, 0, Math.min(chunk.length, UWSGI_HEADER_LEN - this.#have));
      this.#have += pos;
      if (this.#have < UWSGI_HEADER_LEN) return null;
      const total = UWSGI_HEADER_LEN + checkHeader(buf);
      const grown = Buffer.allocUnsafe(total);
      buf.copy(grown, 0, 0, UWSGI_HEADER_LEN);
      this.#buf = buf = grown;
    }
    const n = chunk.copy(buf, this.#have, pos, Math.min(chunk.length, pos + buf.length - this.#have));
    this.#have += n;
    if (this.#have < buf.length) return null;
    this.#buf = null;
    return this.#done(buf, buf.length, chunk.subarray(pos + n));
  }

  #done(data: Buffer, total: number, rest: Buffer): { packet: UwsgiPacket; rest: Buffer } {
    const packet: UwsgiPacket = {
      modifier1: data[0]!,
      modifier2: data[3]!,
      vars: decodeVars(data.subarray(UWSGI_HEADER_LEN, total), this.#limits, this.#memo),
    };
    return { packet, rest };
  }
}

/** Encodes a request packet (modifier1 0): for clients and tests. */
export function encodePacket(vars: Iterable<readonly [string, string]>, modifier2 = 0): Buffer {
  const list = [...vars];
  let size = 0;
  for (const [k, v] of list) size += 4 + k.length + v.length;
  if (size > UWSGI_MAX_VARS) throw new GatewayError('ERR_UWSGI_BAD_PACKET', `uwsgi: vars of ${size} bytes exceed the protocol's ${UWSGI_MAX_VARS}`);
  const out = Buffer.allocUnsafe(UWSGI_HEADER_LEN + size);
  out[0] = 0;
  out.writeUInt16LE(size, 1);
  out[3] = modifier2;
  let off = UWSGI_HEADER_LEN;
  for (const [k, v] of list) {
    off = out.writeUInt16LE(k.length, off);
    off += out.write(k, off, 'latin1');
    off = out.writeUInt16LE(v.length, off);
    off += out.write(v, off, 'latin1');
  }
  return out;
}
