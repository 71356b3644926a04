// The SCGI header codec, byte for byte (G1).
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/contract/errors.js';
import { decodeHeaderBlock, encodeHeader, ScgiDecoder, varsMemo } from '../../src/protocol/scgi.js';
import { addCgiVar } from '../../src/protocol/vars.js';
import { largestAllocation } from '../fuzz/targets/oracle.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
/** `content` as a netstring: its length (or `len`), ':', the content, ','. */
const ns = (content: string, len = content.length): Buffer => b(`${len}:${content},`);
/** The example request of the SCGI specification, as its bytes. */
const SPEC = b('70:CONTENT_LENGTH\x0027\x00SCGI\x001\x00REQUEST_METHOD\x00POST\x00REQUEST_URI\x00/deepthought\x00,What is the answer to life?');

/** Feeds `pieces` to a fresh decoder; returns what it gave. */
function feed(pieces: Buffer[], limits = {}): { vars: Record<string, string>; rest: Buffer } | null {
  const d = new ScgiDecoder(limits);
  for (const p of pieces) {
    const got = d.push(p);
    if (got !== null) return got;
  }
  return null;
}

function failure(pieces: Buffer[], limits = {}): GatewayError {
  try {
    feed(pieces, limits);
  } catch (err) {
    return err as GatewayError;
  }
  throw new Error('no error');
}

describe('SCGI header codec', () => {
  it('G1 the specification\'s example decodes to its four pairs, the body after the comma', () => {
    const got = feed([SPEC])!;
    expect(got.vars).toEqual({ CONTENT_LENGTH: '27', SCGI: '1', REQUEST_METHOD: 'POST', REQUEST_URI: '/deepthought' });
    expect(got.rest.toString('latin1')).toBe('What is the answer to life?');
  });

  it('G1 the same bytes cut at every offset (one byte at a time too) decode the same', () => {
    for (let cut = 1; cut < SPEC.length; cut++) {
      const got = feed([SPEC.subarray(0, cut), SPEC.subarray(cut)])!;
      expect(got.vars.REQUEST_URI, `cut ${cut}`).toBe('/deepthought');
      // The bytes after the netstring come back as rest only from the chunk that completed it.
      if (cut <= 73) expect(got.rest.toString('latin1'), `cut ${cut}`).toBe('What is the answer to life?');
    }
    const d = new ScgiDecoder();
    let got = null;
    let i = 0;
    for (; got === null; i++) got = d.push(SPEC.subarray(i, i + 1));
    expect(i).toBe(74);
    expect(got.vars.SCGI).toBe('1');
  });

  it('G1 encodeHeader writes CONTENT_LENGTH and SCGI first, latin-1 bytes as they are', () => {
    expect(encodeHeader([['A', 'caf\xe9']], 5).toString('latin1')).toBe('31:CONTENT_LENGTH\x005\x00SCGI\x001\x00A\x00caf\xe9\x00,');
    expect(feed([encodeHeader([['HTTP_X', '\xff\x01']])])!.vars.HTTP_X).toBe('\xff\x01');
  });

  it('G1 empty values are kept; repeated HTTP_* names are joined', () => {
    const vars = feed([encodeHeader([['QUERY_STRING', ''], ['HTTP_COOKIE', 'a=1'], ['HTTP_COOKIE', 'b=2'], ['HTTP_X', 'a'], ['HTTP_X', 'b']])])!.vars;
    expect(vars).toEqual({ CONTENT_LENGTH: '0', SCGI: '1', QUERY_STRING: '', HTTP_COOKIE: 'a=1; b=2', HTTP_X: 'a, b' });
  });

  const malformed: [string, Buffer, RegExp][] = [
    ['non-digit in the length', b('7x:CONTENT_LENGTH\x000\x00,'), /byte 0x78 in the length/],
    ['a leading zero', b('024:CONTENT_LENGTH\x000\x00SCGI\x001\x00,'), /leading zero/],
    ['"0" then digits', b('00:,'), /leading zero/],
    ['no length', b(':abc,'), /no length before the colon/],
    ['a minus sign', b('-5:'), /byte 0x2d in the length/],
    ['a space', b(' 24:'), /byte 0x20 in the length/],
    ['no comma', b('24:CONTENT_LENGTH\x000\x00SCGI\x001\x00;'), /no comma after the 24 bytes/],
    ['a length one short (the comma lands on a NUL)', ns('CONTENT_LENGTH\x000\x00SCGI\x001\x00', 23), /no comma/],
    ['an empty header', b('0:,'), /CONTENT_LENGTH is not the first pair/],
    ['CONTENT_LENGTH second', ns('SCGI\x001\x00CONTENT_LENGTH\x000\x00'), /CONTENT_LENGTH is not the first pair/],
    ['CONTENT_LENGTH lower case', ns('content_length\x000\x00SCGI\x001\x00'), /CONTENT_LENGTH is not the first pair/],
    ['CONTENT_LENGTH empty', ns('CONTENT_LENGTH\x00\x00SCGI\x001\x00'), /CONTENT_LENGTH "" is not a decimal length/],
    ['CONTENT_LENGTH not a number', ns('CONTENT_LENGTH\x00-1\x00SCGI\x001\x00'), /CONTENT_LENGTH "-1" is not a decimal length/],
    ['CONTENT_LENGTH with a leading zero', ns('CONTENT_LENGTH\x0007\x00SCGI\x001\x00'), /CONTENT_LENGTH "07"/],
    ['CONTENT_LENGTH twice', ns('CONTENT_LENGTH\x000\x00SCGI\x001\x00CONTENT_LENGTH\x009\x00'), /CONTENT_LENGTH comes twice/],
    ['no SCGI', ns('CONTENT_LENGTH\x000\x00'), /no SCGI pair/],
    ['SCGI 2', ns('CONTENT_LENGTH\x000\x00SCGI\x002\x00'), /SCGI is "2", not "1"/],
    ['SCGI empty', ns('CONTENT_LENGTH\x000\x00SCGI\x00\x00'), /SCGI is ""/],
    ['SCGI twice', ns('CONTENT_LENGTH\x000\x00SCGI\x001\x00SCGI\x001\x00'), /SCGI comes twice/],
    ['a CGI name twice', ns('CONTENT_LENGTH\x000\x00SCGI\x001\x00PATH_INFO\x00/\x00PATH_INFO\x00/\x00'), /PATH_INFO comes twice/],
    ['an odd number of NULs', ns('CONTENT_LENGTH\x000\x00SCGI\x001\x00X\x00'), /the last value is not NUL-terminated|has no value/],
    ['a name without its NUL', ns('CONTENT_LENGTH\x000\x00SCGI\x001\x00X'), /the last value is not NUL-terminated/],
    ['an empty name', ns('CONTENT_LENGTH\x000\x00SCGI\x001\x00\x00v\x00'), /an empty name at byte 24/],
    ['a name and value, no terminating NUL', ns('CONTENT_LENGTH\x000\x00SCGI\x001\x00X\x00v'), /the last value is not NUL-terminated/],
  ];

  it('G1 every malformed form throws ERR_SCGI_BAD_HEADER naming what is wrong', () => {
    for (const [what, bytes, message] of malformed) {
      for (const pieces of [[bytes], [...bytes].map((c) => Buffer.from([c]))]) {
        const err = failure(pieces);
        expect(err.code, what).toBe('ERR_SCGI_BAD_HEADER');
        expect(err.message, what).toMatch(message);
      }
    }
  });

  it('G1 an HTTP client is told apart in the message', () => {
    const err = failure([b('GET / HTTP/1.1\r\n\r\n')]);
    expect(err.code).toBe('ERR_SCGI_BAD_HEADER');
    expect(err.message).toContain('an HTTP client spoke to the SCGI socket (it sent "GET / HT…")');
  });

  it('G1 S1 a length past maxBytes is refused at the digit that crosses it, before anything is buffered', () => {
    const d = new ScgiDecoder({ maxBytes: 100 });
    expect(d.push(b('10'))).toBeNull();
    expect(d.pending).toBe(2);
    let err: GatewayError | undefined;
    try { d.push(b('1')); } catch (e) { err = e as GatewayError; }
    expect(err?.code).toBe('ERR_LIMIT_PARAMS');
    expect(err?.message).toBe('SCGI: a request header of 101 bytes is over the limit of 100');
    // A length of a billion digits never gets past the limit's own digits.
    expect(failure([b('9'.repeat(1000))], {}).message).toBe('SCGI: a request header of 9999999+ bytes is over the limit of 1048576');
    // Exactly the limit is accepted.
    const at = encodeHeader([['X', 'v'.repeat(100 - 24 - 3)]]);
    expect(at.toString('latin1').startsWith('100:')).toBe(true);
    expect(feed([at], { maxBytes: 100 })!.vars.X).toHaveLength(73);
  });

  it('G1 S1 the buffer grows with the bytes that arrive, not with the length announced', () => {
    const d = new ScgiDecoder();
    const header = encodeHeader([['HTTP_COOKIE', 'c'.repeat(1024 * 1024 - 100)]]);
    expect(header.toString('latin1', 0, 8)).toBe('1048513:');
    let largest = largestAllocation(() => { d.push(header.subarray(0, 100)); });
    expect(largest).toBeLessThanOrEqual(4096);
    largest = largestAllocation(() => { d.push(header.subarray(100, 20_000)); });
    expect(largest).toBeLessThanOrEqual(40_000);
    let got = null;
    for (let at = 20_000; got === null; at += 65536) got = d.push(header.subarray(at, at + 65536));
    expect(got.vars.HTTP_COOKIE).toHaveLength(1024 * 1024 - 100);
  });

  it('G1 S1 more pairs than maxCount: ERR_LIMIT_PARAMS', () => {
    const pairs: [string, string][] = Array.from({ length: 9 }, (_, i) => [`V${i}`, '']);
    expect(feed([encodeHeader(pairs)], { maxCount: 11 })).not.toBeNull();
    expect(failure([encodeHeader([...pairs, ['W', '']])], { maxCount: 11 }).code).toBe('ERR_LIMIT_PARAMS');
  });

  it('G1 the vars memo gives the same variables as decoding from scratch, changed values and all', () => {
    const memo = varsMemo(addCgiVar, () => ({}));
    const block = (v: string, extra: [string, string][] = []): Buffer => {
      const h = encodeHeader([['REQUEST_METHOD', 'GET'], ['REQUEST_URI', v], ['CONTENT_TYPE', ''], ...extra]);
      return h.subarray(h.indexOf(0x3a) + 1, h.length - 1);
    };
    const seq = [block('/a'), block('/a'), block('/b'), block('/a', [['HTTP_X', '1']]), block('/c'), block('/c')];
    for (const bytes of seq) {
      expect(decodeHeaderBlock(bytes, {}, memo)).toEqual(decodeHeaderBlock(bytes, {}, varsMemo(addCgiVar, () => ({}))));
    }
    if (memo.on) expect(memo.last).not.toBeNull();
    // A remembered request never lets a malformed one through.
    const dup = Buffer.concat([block('/c'), b('REQUEST_METHOD\x00POST\x00')]);
    expect(() => decodeHeaderBlock(dup, {}, memo)).toThrow(/REQUEST_METHOD comes twice/);
  });
});
