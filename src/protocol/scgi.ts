/**
 * The SCGI protocol (G1): a request header sent as a netstring — the length
 * in decimal without leading zeros, `:`, that many bytes of NUL-terminated
 * names and values, `,` — with CONTENT_LENGTH as the first pair and `SCGI`
 * set to `1`; the body, exactly CONTENT_LENGTH bytes, follows. Pure: bytes
 * in, variables out.
 */
import { Buffer } from 'node:buffer';
import { GatewayError } from '../contract/errors.js';
import { addPair, beginVars, finishVars, newVarsMemo, restRemembered, skipRemembered, type PairFraming, type VarsMemo } from './vars-memo.js';
import { latin1Text } from './text.js';
import { addVar, type VarAdder } from './vars.js';

/** Limits of a request header. */
export interface ScgiLimits {
  /** Bytes of the netstring's content (default 1 MiB): checked on the length, before anything is buffered. */
  maxBytes?: number;
  /** Number of pairs (default 1000). */
  maxCount?: number;
}

/** The pairs the header must begin with: CONTENT_LENGTH, then its NUL (G1). */
const FIRST = Buffer.from('CONTENT_LENGTH\0', 'latin1');
const COLON = 0x3a;
const COMMA = 0x2c;

/** SCGI's pair framing (name NUL value NUL), for a VarsMemo. */
const PAIR_FRAMING: PairFraming = {
  size: (name, value) => name.length + value.length + 2,
  write(out, at, name, value) {
    for (let i = 0; i < name.length; i++) out[at++] = name.charCodeAt(i);
    out[at++] = 0;
    for (let i = 0; i < value.length; i++) out[at++] = value.charCodeAt(i);
    out[at++] = 0;
    return at;
  },
};

/** A VarsMemo for SCGI headers, stored with `add` into objects `make` returns. */
export function varsMemo(add: VarAdder = addVar, make: () => Record<string, string> = () => ({})): VarsMemo {
  return newVarsMemo(add, make, PAIR_FRAMING);
}

/** Plain vars (addVar into {}): decoders given no memo. */
const PLAIN = varsMemo();

function bad(what: string): GatewayError {
  return new GatewayError('ERR_SCGI_BAD_HEADER', `SCGI: malformed request header: ${what}`);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Bytes `[a, b)` of `block` are ASCII digits, at least one, without a leading zero unless alone. */
function isLength(block: Uint8Array, a: number, b: number): boolean {
  if (b === a || b - a > 15 || (block[a] === 0x30 && b - a > 1)) return false;
  for (let i = a; i < b; i++) if (!isDigit(block[i]!)) return false;
  return true;
}

/** Bytes `[a, b)` of `block` are `text` (ASCII). */
function bytesAre(block: Uint8Array, a: number, b: number, text: string): boolean {
  if (b - a !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (block[a + i] !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * G1: the structure of a header's content, checked whole before any pair is
 * stored: every name non-empty and NUL-terminated, every value
 * NUL-terminated, CONTENT_LENGTH first with a decimal value, `SCGI` present
 * with the value `1`, no name other than an HTTP_* header twice (nginx
 * before 1.23 sends a repeated request header as repeated pairs; those are
 * joined as the other socket protocols join them, U5).
 */
function checkStructure(block: Buffer, maxCount: number): void {
  const len = block.length;
  if (len < FIRST.length || block.compare(FIRST, 0, FIRST.length, 0, FIRST.length) !== 0) {
    throw bad('CONTENT_LENGTH is not the first pair');
  }
  if (block[len - 1] !== 0) throw bad('the last value is not NUL-terminated');
  // The names other than HTTP_* seen so far, as [start, end) offsets (a few dozen at most from a web server):
  // compared as bytes, so that no string is made for a name that is not repeated.
  const seen: number[] = [0, FIRST.length - 1];
  let count = 0;
  let scgi = false;
  let pos = 0;
  while (pos < len) {
    const nameEnd = block.indexOf(0, pos);
    if (nameEnd === pos) throw bad(`an empty name at byte ${pos}`);
    const valueEnd = block.indexOf(0, nameEnd + 1);
    if (valueEnd === -1) throw bad(`the name at byte ${pos} has no value (an odd number of NULs)`);
    if (++count > maxCount) throw new GatewayError('ERR_LIMIT_PARAMS', `SCGI: more than ${maxCount} header pairs`);
    if (count === 1) {
      if (!isLength(block, nameEnd + 1, valueEnd)) {
        throw bad(`CONTENT_LENGTH ${JSON.stringify(latin1Text(block, nameEnd + 1, valueEnd))} is not a decimal length`);
      }
    } else if (!(block[pos] === 0x48 && bytesAre(block, pos, pos + 5, 'HTTP_'))) {
      if (seenBefore(block, seen, pos, nameEnd)) throw bad(`${latin1Text(block, pos, nameEnd)} comes twice`);
      seen.push(pos, nameEnd);
      if (bytesAre(block, pos, nameEnd, 'SCGI')) {
        if (!bytesAre(block, nameEnd + 1, valueEnd, '1')) throw bad(`SCGI is ${JSON.stringify(latin1Text(block, nameEnd + 1, valueEnd))}, not "1"`);
        scgi = true;
      }
    }
    pos = valueEnd + 1;
  }
  if (!scgi) throw bad('no SCGI pair');
}

/** Bytes `[a, b)` of `block` equal one of the ranges in `seen` (start, end, start, end …). */
function seenBefore(block: Buffer, seen: number[], a: number, b: number): boolean {
  const n = b - a;
  for (let k = 0; k < seen.length; k += 2) {
    const s = seen[k]!;
    if (seen[k + 1]! - s !== n || block[s] !== block[a]) continue;
    let i = 1;
    while (i < n && block[s + i] === block[a + i]) i++;
    if (i === n) return true;
  }
  return false;
}

/**
 * Decodes a netstring's content (G1) into variables, stored as `memo` says
 * (default: addVar into a new object). Throws ERR_SCGI_BAD_HEADER for any
 * structure G1 does not allow and ERR_LIMIT_PARAMS past `maxCount` pairs.
 */
export function decodeHeaderBlock(block: Buffer, limits: ScgiLimits = {}, memo: VarsMemo = PLAIN): Record<string, string> {
  const maxCount = limits.maxCount ?? 1000;
  // The structure is checked first, whole: the memo only ever sees a well-formed header.
  checkStructure(block, maxCount);
  const d = beginVars(memo);
  const len = block.length;
  let pos = skipRemembered(d, block, maxCount);
  while (pos < len) {
    if (restRemembered(d, block, pos)) break;
    const nameEnd = block.indexOf(0, pos);
    const valueEnd = block.indexOf(0, nameEnd + 1);
    // The pair's bytes include the value's NUL (they are compared with the remembered ones); its value does not.
    addPair(d, block, pos, valueEnd + 1, pos, nameEnd, nameEnd + 1, valueEnd);
    pos = valueEnd + 1;
  }
  return finishVars(d);
}

const enum Phase { Length, Content }

/**
 * Push decoder of one request header. `push(chunk)` returns null until the
 * netstring is complete, then its variables and the bytes after the comma
 * (the start of the body) as `rest`. The length is checked against the limit
 * digit by digit, before anything is buffered (G1, S1).
 */
export class ScgiDecoder {
  readonly #maxBytes: number;
  readonly #maxCount: number;
  readonly #memo: VarsMemo;
  #phase = Phase.Length;
  #length = 0;
  #digits = 0;
  /** The netstring's content and its comma so far, when it spans chunks (grown as bytes arrive). */
  #buf: Buffer | null = null;
  #have = 0;

  /** `memo` says how vars are stored (varsMemo(addCgiVar, environVars) for a request's environ). */
  constructor(limits: ScgiLimits = {}, memo: VarsMemo = PLAIN) {
    this.#maxBytes = limits.maxBytes ?? 1024 * 1024;
    this.#maxCount = limits.maxCount ?? 1000;
    this.#memo = memo;
  }

  /** Bytes received of an incomplete header. */
  get pending(): number {
    return this.#digits + (this.#phase === Phase.Content ? 1 + this.#have : 0);
  }

  push(chunk: Buffer): { vars: Record<string, string>; rest: Buffer } | null {
    let pos = 0;
    if (this.#phase === Phase.Length) {
      pos = this.#lengthDigits(chunk);
      if (pos < 0) return null;
      // The whole netstring in this chunk: decoded where it lies, not copied.
      const end = pos + this.#length;
      if (chunk.length > end) return this.#done(chunk, pos, chunk.subarray(end + 1));
      this.#buf = null;
      this.#have = 0;
    }
    const total = this.#length + 1;
    const n = Math.min(chunk.length - pos, total - this.#have);
    const buf = this.#room(this.#have + n, total);
    chunk.copy(buf, this.#have, pos, pos + n);
    this.#have += n;
    if (this.#have < total) return null;
    this.#buf = null;
    return this.#done(buf, 0, chunk.subarray(pos + n));
  }

  /**
   * A buffer of at least `need` bytes holding what arrived so far. It grows
   * with the bytes that arrive, not with the length the peer announced (S1:
   * a peer that announces a header of the limit's size and sends nothing
   * costs no more than what it sent).
   */
  #room(need: number, total: number): Buffer {
    const buf = this.#buf;
    if (buf !== null && buf.length >= need) return buf;
    const grown = Buffer.allocUnsafe(Math.min(total, Math.max(need, 4096, (buf?.length ?? 0) * 2)));
    if (buf !== null) buf.copy(grown, 0, 0, this.#have);
    return (this.#buf = grown);
  }

  /** Reads length digits from `chunk`; returns the offset after the colon, or -1 when the chunk ended first. */
  #lengthDigits(chunk: Buffer): number {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (isDigit(c)) {
        if (this.#digits > 0 && this.#length === 0) throw bad('the length has a leading zero');
        this.#length = this.#length * 10 + (c - 0x30);
        this.#digits++;
        if (this.#length > this.#maxBytes) {
          throw new GatewayError('ERR_LIMIT_PARAMS', `SCGI: a request header of ${this.#length}${i + 1 < chunk.length && isDigit(chunk[i + 1]!) ? '+' : ''} bytes is over the limit of ${this.#maxBytes}`);
        }
      } else if (c === COLON && this.#digits > 0) {
        this.#phase = Phase.Content;
        return i + 1;
      } else if (this.#digits === 0 && c >= 0x41 && c <= 0x5a) {
        throw bad(`an HTTP client spoke to the SCGI socket (it sent "${latin1Text(chunk, i, Math.min(chunk.length, i + 8)).replace(/[^\x20-\x7e]/g, '.')}…"); point the web server's scgi_pass here, or use tsgi http for browsers`);
      } else {
        throw bad(c === COLON ? 'no length before the colon' : `byte 0x${c.toString(16).padStart(2, '0')} in the length`);
      }
    }
    return -1;
  }

  #done(data: Buffer, at: number, rest: Buffer): { vars: Record<string, string>; rest: Buffer } {
    const end = at + this.#length;
    if (data[end] !== COMMA) throw bad(`no comma after the ${this.#length} bytes of the netstring`);
    return { vars: decodeHeaderBlock(data.subarray(at, end), { maxCount: this.#maxCount }, this.#memo), rest };
  }
}

/** Encodes a request header as a netstring (CONTENT_LENGTH and SCGI first): for clients and tests. */
export function encodeHeader(vars: Iterable<readonly [string, string]>, contentLength = 0): Buffer {
  let text = `CONTENT_LENGTH\0${contentLength}\0SCGI\x001\0`;
  for (const [k, v] of vars) text += `${k}\0${v}\0`;
  return Buffer.from(`${text.length}:${text},`, 'latin1');
}
