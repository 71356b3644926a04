// Property tests of the uwsgi packet (U1, U3, U5, U6): vars of any shape
// encoded, followed by a body and cut anywhere, decode to the same variables
// and the same body bytes; any bytes fail only with the decoder's own errors,
// the same way in any chunking (R2, R7).
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/contract/errors.js';
import { UwsgiDecoder, decodeVars, encodePacket } from '../../src/protocol/uwsgi.js';
import { RUNS, bytes, cut, cuts, model, pairs } from './arbitraries.js';

function decode(pieces: readonly Buffer[]): { vars: Record<string, string>; modifier2: number; rest: string } | null {
  const d = new UwsgiDecoder({ maxCount: 1000 });
  for (let i = 0; i < pieces.length; i++) {
    const got = d.push(pieces[i]!);
    if (got) return { vars: got.packet.vars, modifier2: got.packet.modifier2, rest: Buffer.concat([got.rest, ...pieces.slice(i + 1)]).toString('hex') };
  }
  return null;
}

const fits = (list: ReadonlyArray<readonly [string, string]>): boolean => list.reduce((n, [k, v]) => n + 4 + k.length + v.length, 0) <= 65535;

describe('uwsgi packets, properties', () => {
  it('U1 U3 U5 U6 vars and a body cut anywhere decode to the modelled variables and the same body', () => {
    fc.assert(fc.property(pairs.filter(fits), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 300 }), cuts, (list, mod2, body, sizes) => {
      const stream = Buffer.concat([encodePacket(list, mod2), body]);
      const want = { vars: model(list, (n) => n.startsWith('UWSGI_')), modifier2: mod2, rest: Buffer.from(body).toString('hex') };
      expect(decode(cut(stream, sizes))).toEqual(want);
      expect(decode([stream])).toEqual(want);
    }), { numRuns: RUNS });
  });

  it('R7 any bytes in any chunking: only uwsgi errors, the same outcome as fed whole', () => {
    const run = (pieces: readonly Buffer[]): string => {
      try {
        return JSON.stringify(decode(pieces));
      } catch (err) {
        expect(err).toBeInstanceOf(GatewayError);
        expect(['ERR_UWSGI_BAD_MODIFIER', 'ERR_UWSGI_HTTP_CLIENT', 'ERR_UWSGI_BAD_PACKET', 'ERR_LIMIT_PARAMS']).toContain((err as GatewayError).code);
        return (err as GatewayError).code;
      }
    };
    // Mostly packets with a plausible header, so the vars decoder is reached.
    const packet = fc.tuple(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 700 })).map(([u, size]) => {
      const b = Buffer.alloc(4 + u.length);
      b.writeUInt16LE(size, 1);
      b.set(u, 4);
      return b;
    });
    fc.assert(fc.property(fc.oneof(bytes, packet), cuts, (data, sizes) => {
      expect(run(cut(data, sizes))).toBe(run([data]));
    }), { numRuns: RUNS });
  });

  it('R7 decodeVars on any bytes returns variables or throws ERR_UWSGI_BAD_PACKET / ERR_LIMIT_PARAMS', () => {
    fc.assert(fc.property(bytes, (data) => {
      try {
        const vars = decodeVars(data);
        expect(Object.getPrototypeOf(vars)).toBe(Object.prototype);
      } catch (err) {
        expect(err).toBeInstanceOf(GatewayError);
        expect(['ERR_UWSGI_BAD_PACKET', 'ERR_LIMIT_PARAMS']).toContain((err as GatewayError).code);
      }
    }), { numRuns: RUNS });
  });
});
