/**
 * CGI codec (RFC 3875): the process environment block in, the response head out.
 * Pure: bytes in, values out.
 */
import { Buffer } from 'node:buffer';
import { PairsMemo } from '../contract/pairs-memo.js';
import type { Header } from '../contract/types.js';

/**
 * Decodes a NUL-separated `NAME=VALUE` block (Linux `/proc/self/environ`) into
 * bytes-as-strings, so a byte that is not valid UTF-8 survives (CGI1, C4).
 * Entries without `=` are skipped; the first `=` splits name from value.
 */
export function parseEnvironBlock(block: Uint8Array): Record<string, string> {
  const buf = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
  // One latin-1 decode of the whole block, then string slicing: half the cost of
  // decoding each name and value on its own, and this runs at every CGI start.
  const text = buf.toString('latin1');
  const vars: Record<string, string> = {};
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\0', start);
    if (end < 0) end = text.length;
    const eq = text.indexOf('=', start);
    if (eq > start && eq < end) vars[text.slice(start, eq)] = text.slice(eq + 1, end);
    start = end + 1;
  }
  return vars;
}

/** The last head cgiHead built, with the status and headers it was built from (most responses repeat the one before). */
const heads = new PairsMemo<string>();

/**
 * The CGI response head (RFC 3875 §6.3.3, PEP 3333 `run_with_cgi`):
 * `Status: NNN Reason`, each header, a blank line; CRLF line ends; latin-1 bytes (CGI3).
 * The same status and headers as the call before give the same string again,
 * already flat, without building it.
 */
export function cgiHead(status: string, headers: readonly Header[]): string {
  const same = heads.find(status, headers);
  if (same !== undefined) return same;
  let s = `Status: ${status}\r\n`;
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i]!;
    s += `${h[0]}: ${h[1]}\r\n`;
  }
  s += '\r\n';
  heads.remember(status, headers, s);
  return s;
}
