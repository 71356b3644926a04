// Property tests of FastCGI params (FastCGI 1.0 §3.4): pairs of any length
// encoded, framed in PARAMS records and cut anywhere decode to the same
// variables (F2, R2); any bytes fail only with the decoder's own errors (R7).
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/contract/errors.js';
import { ParamsDecoder, encodePairs, encodeParams, writeLength } from '../../src/protocol/fastcgi/params.js';
import { RecordDecoder } from '../../src/protocol/fastcgi/records.js';
import { RUNS, bytes, cut, cuts, model, pairs } from './arbitraries.js';

const LIMITS = { maxBytes: 1 << 20, maxCount: 1000 };

function decodeContent(pieces: readonly Buffer[]): Record<string, string> {
  const d = new ParamsDecoder(LIMITS);
  for (const p of pieces) d.push(p);
  d.end();
  return d.vars;
}

describe('FastCGI params, properties', () => {
  it('F2 R2 pairs in a PARAMS stream cut anywhere decode to the variables the repeat rule gives', () => {
    fc.assert(fc.property(pairs, cuts, (list, sizes) => {
      const stream = encodeParams(1, list);
      const d = new ParamsDecoder(LIMITS);
      let ended = false;
      new RecordDecoder().push(Buffer.concat(cut(stream, sizes)), (type, _id, content) => {
        expect(type).toBe(4);
        if (content.length === 0) { d.end(); ended = true; } else d.push(content);
      });
      expect(ended).toBe(true);
      expect(d.vars).toEqual(model(list));
    }), { numRuns: RUNS });
  });

  it('R2 a params body split into records at any points gives the same variables as in one record', () => {
    fc.assert(fc.property(pairs, cuts, (list, sizes) => {
      const body = encodePairs(list);
      expect(decodeContent(cut(body, sizes))).toEqual(decodeContent([body]));
    }), { numRuns: RUNS });
  });

  it('F2 a length is 1 byte below 128 and 4 bytes with the top bit set from 128 to 2^31-1', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0x7fffffff }), (n) => {
      const b = Buffer.alloc(4);
      const end = writeLength(b, 0, n);
      expect(end).toBe(n < 128 ? 1 : 4);
      expect(n < 128 ? b[0] : b.readUInt32BE(0) & 0x7fffffff).toBe(n);
      if (n >= 128) expect(b[0]! & 0x80).toBe(0x80);
    }), { numRuns: RUNS });
  });

  it('R7 any bytes as params, in any records: only ERR_FCGI_BAD_PARAMS / ERR_LIMIT_PARAMS, the same outcome as in one record', () => {
    const run = (pieces: readonly Buffer[]): string => {
      try {
        return JSON.stringify(decodeContent(pieces));
      } catch (err) {
        expect(err).toBeInstanceOf(GatewayError);
        expect(['ERR_FCGI_BAD_PARAMS', 'ERR_LIMIT_PARAMS']).toContain((err as GatewayError).code);
        return (err as GatewayError).code;
      }
    };
    fc.assert(fc.property(bytes, cuts, (data, sizes) => {
      expect(run(cut(data, sizes))).toBe(run([data]));
    }), { numRuns: RUNS });
  });
});
