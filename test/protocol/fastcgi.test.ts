// The FastCGI codec against the public vectors FV1–FV8, each fed split at
// every byte offset, plus round trips and malformed input.
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/contract/errors.js';
import { ParamsDecoder, decodePairs, encodePairs, encodeParams, writeLength } from '../../src/protocol/fastcgi/params.js';
import {
  RecordDecoder, decodeBeginRequest, encodeBeginRequest, encodeEndRequest, encodeRecord, encodeStream, encodeUnknownType,
} from '../../src/protocol/fastcgi/records.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

interface Rec { type: number; id: number; content: Buffer }

/** Decodes `bytes` fed as the given pieces; the records with copied content. */
function decode(pieces: Buffer[]): Rec[] {
  const d = new RecordDecoder();
  const out: Rec[] = [];
  for (const p of pieces) d.push(p, (type, id, content) => out.push({ type, id, content: Buffer.from(content) }));
  expect(d.pending).toBe(0);
  return out;
}

/** Every way of cutting `bytes` in two, and one byte at a time. */
function splits(bytes: Buffer): Buffer[][] {
  const out: Buffer[][] = [[bytes]];
  for (let i = 1; i < bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)]);
  out.push([...bytes].map((b) => Buffer.from([b])));
  return out;
}

// FV4: a whole request, id 1.
const FV4 = Buffer.concat([
  hex('01 01 00 01 00 08 00 00 00 01 00 00 00 00 00 00'),
  hex('01 04 00 01 00 13 00 00 0e 03'), ascii('REQUEST_METHOD'), ascii('GET'),
  hex('01 04 00 01 00 19 00 00 0f 08'), ascii('SERVER_PROTOCOL'), ascii('HTTP/1.1'),
  hex('01 04 00 01 00 00 00 00'),
  hex('01 05 00 01 00 10 00 00'), ascii('0123456789abcdef'),
  hex('01 05 00 01 00 00 00 00'),
]);

describe('FastCGI codec', () => {
  it('FV1 F2 name-value lengths: 1-byte below 128, 4-byte with the top bit set', () => {
    const enc = (n: number): string => { const b = Buffer.alloc(4); return b.subarray(0, writeLength(b, 0, n)).toString('hex'); };
    expect(enc(0)).toBe('00');
    expect(enc(127)).toBe('7f');
    expect(enc(128)).toBe('80000080');
    expect(enc(1000)).toBe('800003e8');
    expect(enc(33554431)).toBe('81ffffff');
    expect(() => enc(2 ** 31)).toThrow(GatewayError);
  });

  it('FV2 an empty STDOUT record for request 1', () => {
    expect(encodeStream(6, 1, Buffer.alloc(0), true).toString('hex')).toBe('0106000100000000');
    expect(encodeRecord(6, 1).toString('hex')).toBe('0106000100000000');
  });

  it('FV3 F9 66000 bytes of STDIN for request 300: records of at most 65535 bytes, padded to 8, then the empty one', () => {
    const out = encodeStream(5, 300, Buffer.alloc(66000), true);
    expect(out.subarray(0, 8).toString('hex')).toBe('0105012cffff0100');
    const second = 8 + 65535 + 1;
    expect(out.subarray(second, second + 8).toString('hex')).toBe('0105012c01d10700');
    const third = second + 8 + 465 + 7;
    expect(out.subarray(third).toString('hex')).toBe('0105012c00000000');
    expect(out.length).toBe(third + 8);
    // Padding is zero bytes (F9).
    expect(out[8 + 65535]).toBe(0);
    expect(out.subarray(second + 8 + 465, third).equals(Buffer.alloc(7))).toBe(true);
    for (const pieces of [[out], [out.subarray(0, 9), out.subarray(9, 65550), out.subarray(65550)]]) {
      const recs = decode(pieces);
      expect(recs.map((r) => [r.type, r.id, r.content.length])).toEqual([[5, 300, 65535], [5, 300, 465], [5, 300, 0]]);
    }
  });

  it('FV4 F2 a whole request decodes the same at every split offset', () => {
    for (const pieces of splits(FV4)) {
      const recs = decode(pieces);
      expect(recs.map((r) => [r.type, r.id, r.content.length])).toEqual([[1, 1, 8], [4, 1, 19], [4, 1, 25], [4, 1, 0], [5, 1, 16], [5, 1, 0]]);
      expect(decodeBeginRequest(recs[0]!.content)).toEqual({ role: 1, flags: 0 });
      const params = new ParamsDecoder({ maxBytes: 1000, maxCount: 10 });
      for (const r of recs.filter((x) => x.type === 4)) params.push(r.content);
      params.end();
      expect(params.vars).toEqual({ REQUEST_METHOD: 'GET', SERVER_PROTOCOL: 'HTTP/1.1' });
      expect(recs[4]!.content.toString()).toBe('0123456789abcdef');
    }
  });

  it('FV4 F2 the same record stream re-encodes byte for byte', () => {
    const again = Buffer.concat([
      encodeBeginRequest(1, 1, 0),
      // FV4 has no padding; ours pads to 8, which decodes to the same records.
    ]);
    expect(again.toString('hex')).toBe(FV4.subarray(0, 16).toString('hex'));
    const params = encodeParams(1, [['REQUEST_METHOD', 'GET'], ['SERVER_PROTOCOL', 'HTTP/1.1']]);
    const recs = decode([params]);
    expect(recs.map((r) => r.type)).toEqual([4, 4]);
    expect(decodePairs(recs[0]!.content)).toEqual({ REQUEST_METHOD: 'GET', SERVER_PROTOCOL: 'HTTP/1.1' });
  });

  it('F2 a pair may straddle PARAMS records at any byte, and long lengths use 4 bytes', () => {
    const long = 'x'.repeat(300);
    const body = encodePairs([['A', '1'], ['LONG_VALUE', long], ['B'.repeat(130), ''], ['C', 'caf\xe9\xff\x00']]);
    for (let cut = 0; cut <= body.length; cut++) {
      for (const cut2 of [cut, Math.min(body.length, cut + 1), Math.min(body.length, cut + 5)]) {
        const d = new ParamsDecoder({ maxBytes: 10_000, maxCount: 10 });
        d.push(body.subarray(0, cut));
        d.push(body.subarray(cut, cut2));
        d.push(body.subarray(cut2));
        d.end();
        expect(d.vars).toEqual({ A: '1', LONG_VALUE: long, ['B'.repeat(130)]: '', C: 'caf\xe9\xff\x00' });
      }
    }
  });

  it('F2 C4 params are latin-1: every byte value survives as one character', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const body = Buffer.concat([Buffer.from([8, 0x80, 0, 1, 0]), ascii('ALLBYTES'), all]);
    const d = new ParamsDecoder({ maxBytes: 10_000, maxCount: 10 });
    d.push(body);
    d.end();
    const v = d.vars.ALLBYTES!;
    expect(v.length).toBe(256);
    for (let i = 0; i < 256; i++) expect(v.charCodeAt(i)).toBe(i);
    // And names: 0xE9 is the character U+00E9, not a UTF-8 decoding.
    expect(decodePairs(encodePairs([['N\xe9', 'v']]))).toEqual({ 'N\xe9': 'v' });
  });

  it('U5 F2 repeated HTTP_* params are joined (Cookie with "; "), others: the last wins', () => {
    const v = decodePairs(encodePairs([['HTTP_X_DUP', 'a'], ['HTTP_X_DUP', 'b'], ['HTTP_COOKIE', 'a=1'], ['HTTP_COOKIE', 'b=2'], ['SCRIPT_NAME', '/1'], ['SCRIPT_NAME', '/2'], ['__proto__', 'x'], ['constructor', 'c']]));
    expect(v).toEqual({ HTTP_X_DUP: 'a, b', HTTP_COOKIE: 'a=1; b=2', SCRIPT_NAME: '/2', constructor: 'c' });
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
  });

  it('FV5 ABORT_REQUEST decodes between the records of a request', () => {
    const abort = hex('01 02 00 01 00 00 00 00');
    const stream = Buffer.concat([FV4.subarray(0, FV4.length - 8), abort]);
    for (const pieces of splits(stream)) {
      expect(decode(pieces).map((r) => r.type)).toEqual([1, 4, 4, 4, 5, 2]);
    }
  });

  it('FV6 S2 a PARAMS record whose lengths promise more than it holds is a GatewayError, not a crash', () => {
    const fv6 = hex('01 01 00 01 00 08 00 00 00 01 01 00 00 00 00 00 01 04 00 01 00 0a 00 00 32 32 03 04 05 06 07 08 09 0a 01 04 00 01 00 00 00 00');
    for (const pieces of splits(fv6)) {
      const recs = decode(pieces);
      const d = new ParamsDecoder({ maxBytes: 1000, maxCount: 10 });
      let caught: unknown;
      try {
        for (const r of recs.filter((x) => x.type === 4)) {
          if (r.content.length) d.push(r.content); else d.end();
        }
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(GatewayError);
      expect((caught as GatewayError).code).toBe('ERR_FCGI_BAD_PARAMS');
    }
  });

  it('F3 S2 a version other than 1 is ERR_FCGI_BAD_VERSION, and the decoder then refuses input', () => {
    for (const pieces of splits(hex('02 01 00 01 00 08 00 00 00 01 00 00 00 00 00 00'))) {
      const d = new RecordDecoder();
      let caught: unknown;
      try {
        for (const p of pieces) d.push(p, () => {});
      } catch (err) {
        caught = err;
      }
      expect((caught as GatewayError).code).toBe('ERR_FCGI_BAD_VERSION');
      expect(() => d.push(FV4, () => {})).toThrow(GatewayError);
    }
  });

  it('S1 S2 huge or malformed name-value lengths are refused before anything is buffered', () => {
    // A 4-byte length of 2^31-1: refused at once, not after 2 GB arrive.
    const d = new ParamsDecoder({ maxBytes: 65536, maxCount: 10 });
    expect(() => d.push(hex('ff ff ff ff 01'))).toThrow(/params limit/);
    const e = new ParamsDecoder({ maxBytes: 100, maxCount: 10 });
    expect(() => e.push(Buffer.alloc(101, 1))).toThrow(expect.objectContaining({ code: 'ERR_LIMIT_PARAMS' }));
    const f = new ParamsDecoder({ maxBytes: 1000, maxCount: 2 });
    expect(() => f.push(encodePairs([['A', '1'], ['B', '2'], ['C', '3']]))).toThrow(expect.objectContaining({ code: 'ERR_LIMIT_PARAMS' }));
    // An empty name.
    expect(() => decodePairs(hex('00 01 41'))).toThrow(expect.objectContaining({ code: 'ERR_FCGI_BAD_PARAMS' }));
    // A truncated record header at the end of the stream simply waits for more.
    const r = new RecordDecoder();
    r.push(hex('01 06 00'), () => { throw new Error('no record yet'); });
    expect(r.pending).toBe(3);
    // A BEGIN_REQUEST body of the wrong size.
    expect(() => decodeBeginRequest(Buffer.alloc(7))).toThrow(expect.objectContaining({ code: 'ERR_FCGI_BAD_RECORD' }));
    expect(() => encodeRecord(6, 1, Buffer.alloc(65536))).toThrow(GatewayError);
  });

  it('FV7 F4 GET_VALUES decodes, and GET_VALUES_RESULT encodes as the vector says', () => {
    const fv7 = Buffer.concat([hex('01 09 00 00 00 11 07 00 0f 00'), ascii('FCGI_MPXS_CONNS'), Buffer.alloc(7)]);
    for (const pieces of splits(fv7)) {
      const recs = decode(pieces);
      expect(recs).toHaveLength(1);
      expect(recs[0]!.type).toBe(9);
      expect(recs[0]!.id).toBe(0);
      expect(decodePairs(recs[0]!.content)).toEqual({ FCGI_MPXS_CONNS: '' });
    }
    const result = encodeRecord(10, 0, encodePairs([['FCGI_MPXS_CONNS', '1']]));
    // 2 length bytes + 15 name bytes + 1 value byte = 18, padded with 6.
    expect(result.subarray(0, 8).toString('hex')).toBe('010a000000120600');
    expect(result.subarray(8).equals(Buffer.concat([hex('0f 01'), ascii('FCGI_MPXS_CONNS1'), Buffer.alloc(6)]))).toBe(true);
  });

  it('FV8 END_REQUEST for request 1, appStatus 0, REQUEST_COMPLETE', () => {
    expect(encodeEndRequest(1, 0, 0).toString('hex')).toBe('01030001000800000000000000000000');
    expect(encodeEndRequest(0x1234, 0x01020304, 2).toString('hex')).toBe('01031234000800000102030402000000');
  });

  it('F3 FCGI_UNKNOWN_TYPE names the type it does not know', () => {
    expect(encodeUnknownType(42).toString('hex')).toBe('010b000000080000' + '2a00000000000000');
  });

  it('F9 round trip: any data framed as a stream decodes to the same bytes at every split', () => {
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) & 255));
    const framed = encodeStream(6, 9, data, true);
    for (const cut of [1, 7, 8, 9, 65543, 65544, 65545, framed.length - 1]) {
      const recs = decode([framed.subarray(0, cut), framed.subarray(cut)]);
      expect(Buffer.concat(recs.map((r) => r.content)).equals(data)).toBe(true);
      expect(recs.at(-1)!.content.length).toBe(0);
      expect(recs.every((r) => r.content.length <= 65535)).toBe(true);
    }
    expect(framed.length % 8).toBe(0);
  });
});
