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

/** The bytes `buf[start, end)` as a bytes-as-string (one character per byte, C4). */
export function latin1Text(buf: Buffer, start: number, end: number): string {
  const n = end - start;
  if (n === 0) return '';
  if (n > MAX_CACHED) return (buf as unknown as Latin1Slicer).latin1Slice(start, end);
  let h = n;
  for (let i = start; i < end; i++) h = (Math.imul(h, 31) + buf[i]!) | 0;
  const slot = (h ^ (h >>> 11)) & (SIZE - 1);
  const s = cache[slot]!;
  if (s.length === n) {
    let i = 0;
    while (i < n && s.charCodeAt(i) === buf[start + i]) i++;
    if (i === n) return s;
  }
  const fresh = (buf as unknown as Latin1Slicer).latin1Slice(start, end);
  cache[slot] = fresh;
  return fresh;
}
