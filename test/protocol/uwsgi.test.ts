// The uwsgi codec against the public vectors UV1–UV6, each fed split at every
// byte offset.
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/contract/errors.js';
import { UwsgiDecoder, decodeVars, encodePacket, type UwsgiPacket } from '../../src/protocol/uwsgi.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

function splits(bytes: Buffer): Buffer[][] {
  const out: Buffer[][] = [[bytes]];
  for (let i = 1; i < bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)]);
  out.push([...bytes].map((b) => Buffer.from([b])));
  return out;
}

/** Feeds the pieces; returns the packet and every byte after it. */
function feed(pieces: Buffer[]): { packet: UwsgiPacket; rest: Buffer } {
  const d = new UwsgiDecoder();
  let got: { packet: UwsgiPacket; rest: Buffer } | null = null;
  const after: Buffer[] = [];
  for (const p of pieces) {
    if (got) { after.push(p); continue; }
    got = d.push(p);
    if (got) after.push(got.rest);
  }
  if (!got) throw new Error('packet incomplete');
  return { packet: got.packet, rest: Buffer.concat(after) };
}

function failure(pieces: Buffer[]): GatewayError {
  const d = new UwsgiDecoder();
  try {
    for (const p of pieces) if (d.push(p)) break;
  } catch (err) {
    return err as GatewayError;
  }
  throw new Error('no error');
}

const UV1 = Buffer.concat([
  hex('00 3e 00 00'),
  hex('0e 00'), ascii('REQUEST_METHOD'), hex('03 00'), ascii('GET'),
  hex('09 00'), ascii('PATH_INFO'), hex('01 00'), ascii('/'),
  hex('0f 00'), ascii('SERVER_PROTOCOL'), hex('08 00'), ascii('HTTP/1.1'),
]);

describe('uwsgi codec', () => {
  it('UV1 U1 a GET packet decodes the same at every split offset', () => {
    expect(UV1.length).toBe(66);
    for (const pieces of splits(UV1)) {
      const { packet, rest } = feed(pieces);
      expect(packet).toEqual({ modifier1: 0, modifier2: 0, vars: { REQUEST_METHOD: 'GET', PATH_INFO: '/', SERVER_PROTOCOL: 'HTTP/1.1' } });
      expect(rest.length).toBe(0);
    }
    expect(encodePacket([['REQUEST_METHOD', 'GET'], ['PATH_INFO', '/'], ['SERVER_PROTOCOL', 'HTTP/1.1']]).equals(UV1)).toBe(true);
  });

  it('UV2 U3 the body follows the vars block, outside the datasize', () => {
    const uv2 = Buffer.concat([hex('00 29 00 00 0e 00'), ascii('REQUEST_METHOD'), hex('04 00'), ascii('POST'), hex('0e 00'), ascii('CONTENT_LENGTH'), hex('01 00'), ascii('5'), ascii('hello')]);
    for (const pieces of splits(uv2)) {
      const { packet, rest } = feed(pieces);
      expect(packet.vars).toEqual({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: '5' });
      expect(rest.toString()).toBe('hello');
    }
  });

  it('UV3 an empty value is legal', () => {
    for (const pieces of splits(hex('00 05 00 00 01 00 58 00 00'))) expect(feed(pieces).packet.vars).toEqual({ X: '' });
  });

  it('UV4 U5 repeated keys: HTTP_* joined with ", ", HTTP_COOKIE with "; ", others: the last wins', () => {
    const p = encodePacket([['HTTP_X_DUP', 'a'], ['HTTP_X_DUP', 'b'], ['HTTP_COOKIE', 'a=1'], ['HTTP_COOKIE', 'b=2'], ['PATH_INFO', '/1'], ['PATH_INFO', '/2']]);
    for (const pieces of splits(p)) {
      expect(feed(pieces).packet.vars).toEqual({ HTTP_X_DUP: 'a, b', HTTP_COOKIE: 'a=1; b=2', PATH_INFO: '/2' });
    }
  });

  it('UV5 empty CONTENT_TYPE and CONTENT_LENGTH decode as empty strings (the server drops them, C3)', () => {
    expect(decodeVars(encodePacket([['CONTENT_TYPE', ''], ['CONTENT_LENGTH', '']]).subarray(4))).toEqual({ CONTENT_TYPE: '', CONTENT_LENGTH: '' });
  });

  it('UV6 U2 an HTTP request line is recognised as such, at every split', () => {
    const http = ascii('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    for (const pieces of splits(http)) {
      const err = failure(pieces);
      expect(err.code).toBe('ERR_UWSGI_HTTP_CLIENT');
      expect(err.message).toMatch(/HTTP client/);
      expect(err.message).toMatch(/21573/);
    }
    expect(failure([ascii('POST /x HTTP/1.1\r\n')]).code).toBe('ERR_UWSGI_HTTP_CLIENT');
  });

  it('U2 modifier1 other than 0 is refused', () => {
    const err = failure([hex('05 00 00 00')]);
    expect(err.code).toBe('ERR_UWSGI_BAD_MODIFIER');
    expect(err.message).toMatch(/modifier1 5/);
  });

  it('U1 the whole 65535-byte range of datasize is accepted', () => {
    const big = 'c'.repeat(65535 - 4 - 'HTTP_COOKIE'.length);
    const p = encodePacket([['HTTP_COOKIE', big]]);
    expect(p.readUInt16LE(1)).toBe(65535);
    for (const cut of [1, 3, 4, 5, 30000, 65538]) {
      expect(feed([p.subarray(0, cut), p.subarray(cut), ascii('body')]).packet.vars.HTTP_COOKIE).toBe(big);
    }
    expect(() => encodePacket([['HTTP_COOKIE', `${big}x`]])).toThrow(GatewayError);
  });

  it('U1 C4 keys and values are latin-1: every byte value survives', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const block = Buffer.concat([hex('03 00'), ascii('ALL'), hex('00 01'), all]);
    const v = decodeVars(block).ALL!;
    for (let i = 0; i < 256; i++) expect(v.charCodeAt(i)).toBe(i);
  });

  it('U6 UWSGI_* vars are dropped', () => {
    expect(decodeVars(encodePacket([['UWSGI_FILE', '/tmp/evil.py'], ['UWSGI_SCRIPT', 'x'], ['A', '1']]).subarray(4))).toEqual({ A: '1' });
  });

  it('U7 malformed packets: zero-length key, truncated key or value', () => {
    const cases: [string, Buffer][] = [
      ['zero-length key', hex('00 04 00 00 00 00 00 00')],
      ['truncated key', hex('00 04 00 00 05 00 41 42')],
      ['truncated value', hex('00 06 00 00 01 00 41 09 00 42')],
      ['value length cut off', hex('00 04 00 00 01 00 41 00')],
      ['key length cut off', hex('00 01 00 00 01')],
    ];
    for (const [what, bytes] of cases) {
      for (const pieces of splits(bytes)) {
        const err = failure(pieces);
        expect(err.code, what).toBe('ERR_UWSGI_BAD_PACKET');
      }
    }
    // More vars than the limit.
    const many = encodePacket(Array.from({ length: 20 }, (_, i) => [`K${i}`, 'v'] as [string, string]));
    expect(() => new UwsgiDecoder({ maxCount: 10 }).push(many)).toThrow(expect.objectContaining({ code: 'ERR_LIMIT_PARAMS' }));
  });
});
