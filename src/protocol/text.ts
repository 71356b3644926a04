/**
 * Latin-1 text out of request bytes, for the codecs. A web server sends the
 * same names (and many of the same values: `GET`, `HTTP/1.1`, the server name)
 * with every request; short strings are kept in a table of LastSeen slots,
 * one per hash of their bytes, so that a repeat allocates nothing and a name
 * is the same string every time it is used as an environ key. Pure.
 */
import { Buffer } from 'node:buffer';
import { LastSeen } from '../contract/last-seen.js';
import { nodeInternal } from '../contract/node-internals.js';

/** Buffer's latin-1 decoder without toString()'s argument handling (present in every Node release; untyped). */
interface Latin1Slicer { latin1Slice(start: number, end: number): string }

/**
 * The decoder, chosen once: Buffer's unlisted latin1Slice where Node has it
 * (docs/internals.md), else the public toString('latin1', …), which gives the
 * same text.
 */
const slice: (buf: Buffer, start: number, end: number) => string =
  nodeInternal('latin1Slice') && typeof (Buffer.prototype as unknown as Partial<Latin1Slicer>).latin1Slice === 'function'
    ? (buf, start, end) => (buf as unknown as Latin1Slicer).latin1Slice(start, end)
    : (buf, start, end) => buf.toString('latin1', start, end);

const SIZE = 2048; // a power of two
const MAX_CACHED = 40;
/** Slot by hash of the bytes: the last text seen there, and its bytes (compared as bytes: no string is made to compare). */
const slots = Array.from({ length: SIZE }, () => new LastSeen<Uint8Array, string>());

/** The bytes `buf[start, end)` as a bytes-as-string (one character per byte, C4). */
export function latin1Text(buf: Buffer, start: number, end: number): string {
  const n = end - start;
  if (n === 0) return '';
  if (n > MAX_CACHED) return slice(buf, start, end);
  // The slot from the length and five sampled bytes (both ends and the middle). Names and values
  // of one request differ in these (REMOTE_ADDR / REMOTE_PORT, 51234 / 51235); a collision only
  // costs a fresh string.
  const last = end - 1;
  const h = Math.imul(n ^ (buf[start]! << 8) ^ (buf[last]! << 16) ^ (buf[start + (n >> 1)]! << 24), 0x9e3779b1) ^
    Math.imul(buf[start + 1 < end ? start + 1 : start]! ^ (buf[last - 1 >= start ? last - 1 : last]! << 8), 0x85ebca6b);
  const slot = slots[(h ^ (h >>> 15)) & (SIZE - 1)]!;
  const bytes = slot.input;
  if (bytes !== undefined && bytes.length === n) {
    let i = 0;
    while (i < n && bytes[i] === buf[start + i]) i++;
    if (i === n) return slot.result!;
  }
  return slot.remember(Uint8Array.prototype.slice.call(buf, start, end), slice(buf, start, end));
}
