// Property tests of the FastCGI record layer (FastCGI 1.0 §3.3): any records
// encoded and cut anywhere decode to themselves; any bytes fail only with the
// decoder's own error, holding at most one record (R7).
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/contract/errors.js';
import { MAX_CONTENT, MAX_RECORD } from '../../src/protocol/fastcgi/constants.js';
import { RecordDecoder, encodeRecord, encodeStream } from '../../src/protocol/fastcgi/records.js';
import { RUNS, bytes, cut, cuts } from './arbitraries.js';

interface Rec { type: number; id: number; content: string }

function decode(pieces: readonly Buffer[]): Rec[] {
  const d = new RecordDecoder();
  const out: Rec[] = [];
  for (const p of pieces) d.push(p, (type, id, content) => out.push({ type, id, content: content.toString('hex') }));
  expect(d.pending).toBe(0);
  return out;
}

const record = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  id: fc.integer({ min: 0, max: 65535 }),
  content: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 60_000, maxLength: MAX_CONTENT })),
});

describe('FastCGI records, properties', () => {
  it('R2 records encoded and cut anywhere decode to the same records', () => {
    fc.assert(fc.property(fc.array(record, { maxLength: 6 }), cuts, (recs, sizes) => {
      const stream = Buffer.concat(recs.map((r) => encodeRecord(r.type, r.id, r.content)));
      const want = recs.map((r) => ({ type: r.type, id: r.id, content: Buffer.from(r.content).toString('hex') }));
      expect(decode(cut(stream, sizes))).toEqual(want);
      expect(decode([stream])).toEqual(want);
    }), { numRuns: RUNS / 3 });
  });

  it('F9 a stream of any length is framed in records of at most 65535 bytes, padded to 8, closed by an empty record', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 3 * MAX_CONTENT + 9 }), fc.boolean(), cuts, (len, end, sizes) => {
      const data = Buffer.alloc(len);
      for (let i = 0; i < len; i++) data[i] = (i * 7 + 3) & 0xff;
      const stream = encodeStream(6, 9, data, end);
      const recs = decode(cut(stream, sizes));
      const body = Buffer.concat(recs.filter((r) => r.content !== '').map((r) => Buffer.from(r.content, 'hex')));
      expect(body.equals(data)).toBe(true);
      expect(recs.every((r) => r.type === 6 && r.id === 9 && r.content.length / 2 <= MAX_CONTENT)).toBe(true);
      expect(recs.at(-1)?.content === '').toBe(end);
      expect(stream.length % 8).toBe(0);
    }), { numRuns: RUNS / 6 });
  });

  it('R7 any bytes in any chunking: only ERR_FCGI_* errors, the same outcome as fed whole, at most one record held', () => {
    const run = (pieces: readonly Buffer[]): string => {
      const d = new RecordDecoder();
      const out: string[] = [];
      try {
        for (const p of pieces) {
          d.push(p, (t, id, c) => out.push(`${t}/${id}/${c.toString('hex')}`));
          expect(d.pending).toBeLessThanOrEqual(MAX_RECORD);
        }
        return `ok ${out.join(' ')}`;
      } catch (err) {
        expect(err).toBeInstanceOf(GatewayError);
        expect(['ERR_FCGI_BAD_VERSION', 'ERR_FCGI_BAD_RECORD']).toContain((err as GatewayError).code);
        return `${(err as GatewayError).code} ${out.join(' ')}`;
      }
    };
    fc.assert(fc.property(bytes, cuts, (data, sizes) => {
      expect(run(cut(data, sizes))).toBe(run([data]));
    }), { numRuns: RUNS });
  });
});
