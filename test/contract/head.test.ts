import { describe, expect, it } from 'vitest';
import { checkHeaders, checkStatus } from '../../src/contract/head.js';

describe('head', () => {
  it('C11 C12 C13 a list or status that differs from the last valid one in any way is checked again', () => {
    // Each valid call is remembered; the next must not be let through because it resembles it.
    expect(checkHeaders([['Content-Type', 'text/plain'], ['Content-Length', '5']]).declared).toBe(5);
    expect(checkHeaders([['Content-Type', 'text/plain'], ['Content-Length', '5']]).declared).toBe(5);
    expect(checkHeaders([['Content-Type', 'text/plain'], ['Content-Length', '7']]).declared).toBe(7);
    expect(() => checkHeaders([['Content-Type', 'text/plain'], ['Content-Length', 'x']])).toThrow(expect.objectContaining({ code: 'ERR_BAD_CONTENT_LENGTH' }));
    expect(() => checkHeaders([['Content-Type', 'text/plain\r\nX: y'], ['Content-Length', '7']])).toThrow(expect.objectContaining({ code: 'ERR_BAD_HEADER' }));
    expect(() => checkHeaders([['Connection', 'close'], ['Content-Length', '7']])).toThrow(expect.objectContaining({ code: 'ERR_HOP_BY_HOP_HEADER' }));
    expect(() => checkHeaders([['Content-Type', 'text/plain'], ['Content-Length', '7', 'extra']])).toThrow(expect.objectContaining({ code: 'ERR_BAD_HEADER' }));
    expect(() => checkHeaders([['Content-Type', 'text/plain'], 'Content-Length: 7'])).toThrow(expect.objectContaining({ code: 'ERR_BAD_HEADER' }));
    expect(() => checkHeaders([['Status', '200']])).toThrow(expect.objectContaining({ code: 'ERR_BAD_HEADER' }));
    expect(checkHeaders([]).declared).toBe(-1);
    expect(checkHeaders([]).declared).toBe(-1);
    expect(() => checkHeaders([['Transfer-Encoding', 'chunked']])).toThrow(expect.objectContaining({ code: 'ERR_HOP_BY_HOP_HEADER' }));
    expect(() => checkHeaders([['TE', 'x']])).toThrow(expect.objectContaining({ code: 'ERR_HOP_BY_HOP_HEADER' }));
    checkStatus('200 OK');
    checkStatus('200 OK');
    expect(() => checkStatus('200')).toThrow(expect.objectContaining({ code: 'ERR_BAD_STATUS' }));
    expect(() => checkStatus(200)).toThrow(expect.objectContaining({ code: 'ERR_BAD_STATUS' }));
    expect(() => checkStatus('200 OK\r\n')).toThrow(expect.objectContaining({ code: 'ERR_BAD_STATUS' }));
  });
});
