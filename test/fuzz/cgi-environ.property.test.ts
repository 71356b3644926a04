// Property tests of the CGI environment block (CGI1, C4): any variables
// written as NUL-separated NAME=VALUE bytes read back as the same
// bytes-as-strings; any bytes parse without an error (R7).
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseEnvironBlock } from '../../src/protocol/cgi.js';
import { RUNS, bytes, latin1 } from './arbitraries.js';

const envName = latin1({ minLength: 1, maxLength: 30 }).filter((n) => !n.includes('=') && !n.includes('\0') && n !== '__proto__');
const envValue = latin1({ maxLength: 200 }).filter((v) => !v.includes('\0'));

describe('CGI environment block, properties', () => {
  it('CGI1 C4 variables written as NAME=VALUE\\0 bytes read back byte for byte (the last of a repeated name wins)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(envName, envValue), { maxLength: 40 }), fc.boolean(), (list, trailingNul) => {
      const text = list.map(([n, v]) => `${n}=${v}`).join('\0') + (trailingNul && list.length ? '\0' : '');
      const want = Object.fromEntries(new Map(list));
      expect(parseEnvironBlock(Buffer.from(text, 'latin1'))).toEqual(want);
    }), { numRuns: RUNS });
  });

  it('R7 any bytes parse without an error into latin-1 names without "=" or NUL', () => {
    fc.assert(fc.property(bytes, (data) => {
      const vars = parseEnvironBlock(new Uint8Array(data));
      for (const [k, v] of Object.entries(vars)) {
        expect(k.length > 0 && !k.includes('=') && !k.includes('\0') && !v.includes('\0')).toBe(true);
      }
    }), { numRuns: RUNS });
  });
});
