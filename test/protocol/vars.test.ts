import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { RequestAbort } from '../../src/gateway/abort.js';
import { completeEnviron } from '../../src/gateway/environ.js';
import { ErrorStream } from '../../src/gateway/errors-stream.js';
import { emptyInput } from '../../src/gateway/input.js';
import { cgiHead } from '../../src/protocol/cgi.js';
import { latin1Text } from '../../src/protocol/text.js';
import { addCgiVar, addVar } from '../../src/protocol/vars.js';

/** A small deterministic generator, so that a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const NAMES = [
  'CONTENT_TYPE', 'CONTENT_LENGTH', 'REMOTE_USER', 'HTTPS', 'REQUEST_SCHEME', 'SERVER_NAME', 'QUERY_STRING',
  'HTTP_CONTENT_TYPE', 'HTTP_CONTENT_LENGTH', 'HTTP_COOKIE', 'HTTP_X_A', 'HTTP_HOST', 'PATH_INFO', 'SCRIPT_NAME', 'X_OTHER',
];
const VALUES = ['', '', 'a', 'on', 'https', '/p', 'h:80', '5'];

describe('vars', () => {
  it('C3 C7 addCgiVar gives the environ that addVar and the clean-up give, repeated names included', () => {
    const next = rng(3333);
    const errors = new ErrorStream(() => {});
    const input = emptyInput();
    for (let round = 0; round < 2000; round++) {
      const a: Record<string, string> = {};
      const b: Record<string, string> = {};
      const n = Math.floor(next() * 12);
      for (let i = 0; i < n; i++) {
        const name = NAMES[Math.floor(next() * NAMES.length)]!;
        const value = VALUES[Math.floor(next() * VALUES.length)]!;
        addVar(a, name, value);
        addCgiVar(b, name, value);
      }
      const abort = new RequestAbort();
      const x = { errors, abort, multiprocess: false, runOnce: false };
      const ea = completeEnviron(a, x, input);
      const eb = completeEnviron(b, { ...x, clean: true }, input);
      expect({ ...eb, 'tsgi.abort': null }).toEqual({ ...ea, 'tsgi.abort': null });
    }
  });

  it('C2 SERVER_NAME falls back to the Host header without its port', () => {
    const errors = new ErrorStream(() => {});
    const host = (h: string) => completeEnviron({ HTTP_HOST: h }, { errors, abort: new RequestAbort(), multiprocess: false, runOnce: false }, emptyInput()).SERVER_NAME;
    expect(host('example.org:8080')).toBe('example.org');
    expect(host('example.org:')).toBe('example.org');
    expect(host('example.org')).toBe('example.org');
    expect(host('[::1]:8080')).toBe('[::1]');
    expect(host('a:1:2')).toBe('a:1');
    expect(host('host::')).toBe('host:');
    expect(host(':80')).toBe('localhost');
    expect(host('')).toBe('localhost');
  });

  it('C4 latin1Text returns exactly the bytes, whatever its cache held before', () => {
    const next = rng(44);
    // Few distinct byte values and lengths, so that cache slots are reused
    // by different strings that share their sampled bytes.
    const alphabet = [0x41, 0x42, 0xe9, 0x00, 0xff];
    for (let round = 0; round < 20000; round++) {
      const len = Math.floor(next() * 70);
      const buf = Buffer.alloc(len + 4);
      for (let i = 0; i < buf.length; i++) buf[i] = alphabet[Math.floor(next() * alphabet.length)]!;
      const start = Math.floor(next() * 4);
      const end = start + len;
      const want = buf.toString('latin1', start, end);
      expect(latin1Text(buf, start, end)).toBe(want);
    }
  });

  it('CGI3 cgiHead gives the right head when a response repeats or changes the one before', () => {
    const h = (status: string, headers: [string, string][]) => cgiHead(status, headers);
    expect(h('200 OK', [['A', '1']])).toBe('Status: 200 OK\r\nA: 1\r\n\r\n');
    expect(h('200 OK', [['A', '1']])).toBe('Status: 200 OK\r\nA: 1\r\n\r\n');
    expect(h('200 OK', [['A', '2']])).toBe('Status: 200 OK\r\nA: 2\r\n\r\n');
    expect(h('404 Not Found', [['A', '2']])).toBe('Status: 404 Not Found\r\nA: 2\r\n\r\n');
    expect(h('404 Not Found', [['A', '2'], ['B', '3']])).toBe('Status: 404 Not Found\r\nA: 2\r\nB: 3\r\n\r\n');
    expect(h('404 Not Found', [['A', '2']])).toBe('Status: 404 Not Found\r\nA: 2\r\n\r\n');
    expect(h('404 Not Found', [])).toBe('Status: 404 Not Found\r\n\r\n');
    const many = Array.from({ length: 20 }, (_, i): [string, string] => [`H${i}`, String(i)]);
    const text = `Status: 200 OK\r\n${many.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
    expect(h('200 OK', many)).toBe(text);
    expect(h('200 OK', many)).toBe(text);
  });
});
