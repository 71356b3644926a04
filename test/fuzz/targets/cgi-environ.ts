/**
 * Fuzz target: the CGI environment block parser (CGI1, C4). Any block parses
 * without an error into the same variables a plain reference reading gives
 * (NUL-separated entries, the first `=` splits, entries without a name or `=`
 * skipped, the last of a repeated name wins), one character per byte, and the
 * result keeps Object.prototype (R7).
 */
import { Buffer } from 'node:buffer';
import { parseEnvironBlock } from '../../../src/protocol/cgi.js';
import { check, outcome, show } from './oracle.js';

function reference(data: Buffer): Record<string, string> {
  const m = new Map<string, string>();
  for (const entry of data.toString('latin1').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) m.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  // A variable named __proto__ cannot be an own property of a plain object; like the other decoders (addVar) it is dropped.
  m.delete('__proto__');
  return Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** One input: see the file comment. */
export function fuzz(data: Buffer): void {
  const got = outcome([], () => parseEnvironBlock(data));
  check(got.ok, 'parseEnvironBlock threw');
  const vars = got.value;
  check(Object.getPrototypeOf(vars) === Object.prototype, 'the variables object lost Object.prototype');
  const sorted = Object.fromEntries(Object.entries(vars).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const want = reference(data);
  check(show(sorted) === show(want), `parsed ${show(sorted).slice(0, 300)}, expected ${show(want).slice(0, 300)}`);
  // The same block as a plain Uint8Array (not a Buffer) parses the same.
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  check(show(parseEnvironBlock(view)) === show(vars), 'a Uint8Array view parsed differently from the Buffer');
}

/** Starting inputs: a typical CGI environment. */
export const seeds: Buffer[] = [
  Buffer.from('GATEWAY_INTERFACE=CGI/1.1\0REQUEST_METHOD=GET\0PATH_INFO=/caf\xe9\0QUERY_STRING=\0HTTP_X=a=b\0', 'latin1'),
  Buffer.from('=x\0NOEQ\0A=1\0A=2', 'latin1'),
];

/** Byte strings worth splicing in. */
export const dictionary: Buffer[] = [Buffer.from('\0'), Buffer.from('='), Buffer.from('__proto__='), Buffer.from('HTTP_')];
