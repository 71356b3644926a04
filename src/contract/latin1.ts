/**
 * Bytes-as-string helpers (PEP 3333 "Unicode Issues"): every character of an
 * environ value or response header is one byte, U+0000–U+00FF.
 */
import { Buffer } from 'node:buffer';
import { GatewayError } from './errors.js';

const NOT_LATIN1 = /[^\x00-\xff]/;

/** Decode bytes one-to-one into a bytes-as-string (0xE9 → '\xe9'). */
export function latin1(bytes: Uint8Array, start = 0, end = bytes.length): string {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buf.toString('latin1', start, end);
}

/** True when every character of `s` is in U+0000–U+00FF. */
export function isLatin1(s: string): boolean {
  return !NOT_LATIN1.test(s);
}

/**
 * Encode a bytes-as-string back into bytes. Throws `ERR_NOT_LATIN1` for a
 * character above U+00FF instead of silently re-encoding it.
 */
export function latin1Bytes(s: string, what = 'value'): Buffer {
  if (NOT_LATIN1.test(s)) {
    throw new GatewayError('ERR_NOT_LATIN1', `${what} ${JSON.stringify(s)} has a character above U+00FF; encode text to bytes first (e.g. wsgiString())`);
  }
  return Buffer.from(s, 'latin1');
}

/** Text → bytes-as-string holding its UTF-8 bytes ('é' → '\xc3\xa9'). */
export function wsgiString(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** Bytes-as-string holding UTF-8 → text ('\xc3\xa9' → 'é'); invalid bytes become U+FFFD. */
export function fromWsgiString(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}
