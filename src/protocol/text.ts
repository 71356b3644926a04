/**
 * Latin-1 text out of request bytes, for the codecs' hot path. A web server
 * sends the same names (and many of the same values: `GET`, `HTTP/1.1`, the
 * server name) with every request; short strings come from a small cache, so
 * a repeat allocates nothing and a name is the same, already-internalized
 * string every time it is used as an environ key. Pure.
 */
import type { Buffer } from 'node:buffer';

/** Buffer's latin-1 decoder without toString()'s argument handling (present in every Node release; untyped). */
interface Latin1Slicer { latin1Slice(start: number, end: number): string }

const SIZE = 2048; // a power of two
const MAX_CACHED = 40;
const cache: string[] = new Array<string>(SIZE).fill('');
/** Each cached string's bytes, MAX_CACHED per slot: compared as bytes, faster than charCodeAt. */
const bytes = new Uint8Array(SIZE * MAX_CACHED);

/** The bytes `buf[start, end)` as a bytes-as-string (one character per byte, C4). */
export function latin1Text(buf: Buffer, start: number, end: number): string {
  const n = end - start;
  if (n === 0) return '';
  if (n > MAX_CACHED) return (buf as unknown as Latin1Slicer).latin1Slice(start, end);
  // The slot from the length and five sampled bytes (both ends and the middle): one pass over
  // the bytes (the comparison) instead of two. Names and values of one request differ in these
  // (REMOTE_ADDR / REMOTE_PORT, 51234 / 51235); a collision only costs a fresh string.
  const last = end - 1;
  const h = Math.imul(n ^ (buf[start]! << 8) ^ (buf[last]! << 16) ^ (buf[start + (n >> 1)]! << 24), 0x9e3779b1) ^
    Math.imul(buf[start + 1 < end ? start + 1 : start]! ^ (buf[last - 1 >= start ? last - 1 : last]! << 8), 0x85ebca6b);
  const slot = (h ^ (h >>> 15)) & (SIZE - 1);
  const s = cache[slot]!;
  const at = slot * MAX_CACHED;
  if (s.length === n) {
    let i = 0;
    while (i < n && bytes[at + i] === buf[start + i]) i++;
    if (i === n) return s;
  }
  const fresh = (buf as unknown as Latin1Slicer).latin1Slice(start, end);
  cache[slot] = fresh;
  for (let i = 0; i < n; i++) bytes[at + i] = buf[start + i]!;
  return fresh;
}
