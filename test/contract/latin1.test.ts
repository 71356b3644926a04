import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { fromWsgiString, isLatin1, latin1, latin1Bytes, wsgiString } from '../../src/contract/latin1.js';
import { fromClass } from '../../src/gateway/from-class.js';
import type { Environ, StartResponse } from '../../src/contract/types.js';
import { run } from '../helpers.js';

describe('latin-1 helpers', () => {
  it('C4 bytes map one-to-one to characters and back', () => {
    const all = Buffer.alloc(256);
    for (let i = 0; i < 256; i++) all[i] = i;
    const s = latin1(all);
    expect(s.length).toBe(256);
    expect(s.charCodeAt(0xe9)).toBe(0xe9);
    expect(latin1Bytes(s).equals(all)).toBe(true);
    expect(latin1(new Uint8Array([0x63, 0x61, 0x66, 0xe9]))).toBe('caf\xe9');
    expect(isLatin1('caf\xe9')).toBe(true);
    expect(isLatin1('\u20ac')).toBe(false);
    expect(() => latin1Bytes('\u20ac', 'header')).toThrow(/above U\+00FF/);
    expect(wsgiString('é')).toBe('\xc3\xa9');
    expect(fromWsgiString('\xc3\xa9')).toBe('é');
  });
});

describe('fromClass', () => {
  it('C17 a PEP 3333 class-style app runs, and its close() is called', async () => {
    const closed: string[] = [];
    class App {
      constructor(private environ: Environ, private start: StartResponse) {}
      *[Symbol.iterator]() { this.start('200 OK', [['Content-Type', 'text/plain']]); yield Buffer.from(`hi ${this.environ.PATH_INFO}`); }
      close() { closed.push('closed'); }
    }
    const { sink } = await run(fromClass(App), { PATH_INFO: '/x' });
    expect(sink.text).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nhi /x');
    expect(closed).toEqual(['closed']);
  });

  it('C19 fromClass rejects a class whose instances are not iterable', () => {
    class NotIterable {}
    expect(() => fromClass(NotIterable as never)).toThrow(/\[Symbol\.iterator\]/);
  });
});
