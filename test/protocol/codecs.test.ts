import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { cgiHead, parseEnvironBlock } from '../../src/protocol/cgi.js';
import { headerKey, httpVars } from '../../src/protocol/http-env.js';
import { unquote } from '../../src/protocol/uri.js';

describe('codecs', () => {
  it('C8 unquote percent-decodes exactly once, into bytes-as-string', () => {
    expect(unquote('/a%2cb')).toBe('/a,b');
    expect(unquote('/a%252cb')).toBe('/a%2cb');
    expect(unquote('/caf%E9')).toBe('/caf\xe9');
    expect(unquote('/caf%c3%a9')).toBe('/caf\xc3\xa9');
    expect(unquote('/%zz/%4/%')).toBe('/%zz/%4/%');
    expect(unquote('/%2F%2f')).toBe('///');
    expect(unquote('plain')).toBe('plain');
  });

  it('CGI1 the raw environment block decodes byte for byte', () => {
    const block = Buffer.concat([Buffer.from('PATH_INFO=/caf'), Buffer.from([0xe9, 0]), Buffer.from('EMPTY=\0A=b=c\0NOEQUALS\0=x\0')]);
    expect(parseEnvironBlock(block)).toEqual({ PATH_INFO: '/caf\xe9', EMPTY: '', A: 'b=c' });
  });

  it('CGI3 the head is Status, headers, blank line, CRLF', () => {
    expect(cgiHead('200 OK', [['A', '1'], ['B', 'caf\xe9']])).toBe('Status: 200 OK\r\nA: 1\r\nB: caf\xe9\r\n\r\n');
  });

  it('C7 the dev server maps headers to HTTP_* and never HTTP_CONTENT_*; repeated headers are joined', () => {
    const v = httpVars({
      method: 'POST', url: '/a%20b/c?x=%20', httpVersion: '1.1', serverName: 'h', serverPort: '8000',
      rawHeaders: ['Content-Type', 'text/plain', 'Content-Length', '3', 'X-Dup', 'a', 'x-dup', 'b', 'Cookie', 'a=1', 'Cookie', 'b=2', 'X_Under', 'spoof', 'Host', 'h'],
    });
    expect(v).toMatchObject({ CONTENT_TYPE: 'text/plain', CONTENT_LENGTH: '3', HTTP_X_DUP: 'a, b', HTTP_COOKIE: 'a=1; b=2', PATH_INFO: '/a b/c', QUERY_STRING: 'x=%20', REQUEST_URI: '/a%20b/c?x=%20', SERVER_PROTOCOL: 'HTTP/1.1' });
    expect('HTTP_CONTENT_TYPE' in v || 'HTTP_CONTENT_LENGTH' in v).toBe(false);
    expect('HTTP_X_UNDER' in v).toBe(false);
    expect(headerKey('X_Under')).toBeNull();
  });

  it('C8 the dev server mounts an app under a prefix', () => {
    const base = { method: 'GET', httpVersion: '1.1', serverName: 'h', serverPort: '1', rawHeaders: [], mount: '/app' };
    expect(httpVars({ ...base, url: '/app/x%2fy' })).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '/x/y' });
    expect(httpVars({ ...base, url: '/app' })).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '' });
    expect(httpVars({ ...base, url: '/application' })).toMatchObject({ SCRIPT_NAME: '', PATH_INFO: '/application' });
    expect(httpVars({ ...base, url: 'http://host/app/z?q' })).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '/z', QUERY_STRING: 'q' });
  });
});
