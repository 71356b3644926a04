import { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { FdSource, InputStream, MemorySource } from '../../src/gateway/input.js';
import { BodySpool } from '../../src/gateway/spool.js';
import { ErrorStream } from '../../src/gateway/errors-stream.js';

const mem = (s: string, length = Buffer.byteLength(s, 'latin1')) => new InputStream(new MemorySource(Buffer.from(s, 'latin1')), length);
const str = (u: Uint8Array) => Buffer.from(u).toString('latin1');

describe('wsgi.input', () => {
  it('C9 read() with no size returns the rest; with a size at most that many bytes', () => {
    const i = mem('hello world');
    expect(str(i.read(5))).toBe('hello');
    expect(str(i.read(0))).toBe('');
    expect(str(i.read())).toBe(' world');
    expect(i.read()).toHaveLength(0);
    expect(i.read(10)).toHaveLength(0);
    expect(str(mem('abc').read(-1))).toBe('abc');
    expect(str(mem('abc').read(null))).toBe('abc');
  });

  it('C9 never yields a byte past CONTENT_LENGTH', () => {
    const i = mem('0123456789EXTRA', 10);
    expect(str(i.read())).toBe('0123456789');
    expect(i.read(1)).toHaveLength(0);
    const j = mem('line1\nline2\nEXTRA', 9);
    expect([...j].map(str)).toEqual(['line1\n', 'lin']);
  });

  it('C9 readline(size?) and readlines(hint?)', () => {
    const i = mem('ab\ncd\n\nlast');
    expect(str(i.readline())).toBe('ab\n');
    expect(str(i.readline(1))).toBe('c');
    expect(str(i.readline())).toBe('d\n');
    expect(str(i.readline())).toBe('\n');
    expect(str(i.readline())).toBe('last');
    expect(i.readline()).toHaveLength(0);
    expect(mem('a\nb\nc\n').readlines().map(str)).toEqual(['a\n', 'b\n', 'c\n']);
    expect(mem('aa\nbb\ncc\n').readlines(4).map(str)).toEqual(['aa\n', 'bb\n']);
  });

  it('C9 iteration and async iteration yield lines as bytes', async () => {
    expect([...mem('x\ny\nz')].map(str)).toEqual(['x\n', 'y\n', 'z']);
    const out: string[] = [];
    for await (const line of mem('1\n2\n')) out.push(str(line));
    expect(out).toEqual(['1\n', '2\n']);
    expect(mem('x').read()).toBeInstanceOf(Uint8Array);
  });

  it('C9 a size that is not a number is a TypeError, as in Python', () => {
    expect(() => mem('abc').read('2' as unknown as number)).toThrow(TypeError);
    expect(() => mem('abc').read(Number.NaN)).toThrow(/takes a number of bytes/);
    expect(() => mem('abc').readline({} as unknown as number)).toThrow(TypeError);
    expect(() => mem('abc').readlines('x' as unknown as number)).toThrow(TypeError);
    expect(str(mem('abc').read(2.7))).toBe('ab');
  });

  it('C9 an absent body gives an empty chunk', () => {
    const i = new InputStream(new MemorySource(Buffer.alloc(0)), 0);
    expect(i.read()).toEqual(Buffer.alloc(0));
    expect(i.readline()).toHaveLength(0);
    expect(i.readlines()).toEqual([]);
  });

  it('C9 reads from a pipe are bounded by CONTENT_LENGTH (stdin under CGI)', () => {
    // A child reads 5 of the 11 bytes on its stdin through InputStream over fd 0.
    const script = `
      import { createRequire } from 'node:module';
      const { FdSource, InputStream } = createRequire(import.meta.url)(${JSON.stringify(new URL('../../lib/load.cjs', import.meta.url).pathname)});
      const i = new InputStream(new FdSource(0, false), 5);
      process.stdout.write(JSON.stringify([i.readline().toString(), i.read().toString(), i.read().length]));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { input: 'ab\ncdEXTRA' });
    expect(r.stderr.toString()).toBe('');
    expect(JSON.parse(r.stdout.toString())).toEqual(['ab\n', 'cd', 0]);
  });

  it('C9 a spooled body (temp file) reads the same as one in memory', () => {
    const spool = new BodySpool({ maxBytes: 1 << 20, memoryBytes: 10 });
    const parts = ['first line\n', 'second line\n', 'x'.repeat(5000), '\nend'];
    for (const p of parts) spool.push(Buffer.from(p));
    const src = spool.source();
    expect(src).toBeInstanceOf(FdSource);
    const i = new InputStream(src, spool.length);
    expect(str(i.readline())).toBe('first line\n');
    expect(str(i.read(7))).toBe('second ');
    expect(str(i.read())).toBe(`line\n${'x'.repeat(5000)}\nend`);
    src.dispose?.();
    expect(() => spool.push(Buffer.alloc(2 << 20))).toThrow(/exceeds the limit/);
  });
});

describe('wsgi.errors', () => {
  it('C10 write, writelines and flush never throw on any text', () => {
    const got: string[] = [];
    const e = new ErrorStream((t) => got.push(t));
    e.write('plain\n');
    e.write('\ud800 lone surrogate, \u0000 NUL, \u{1f600}\n');
    e.writelines(['a', 'b']);
    e.write(42 as unknown as string);
    e.flush();
    expect(got.join('')).toBe('plain\n\ud800 lone surrogate, \u0000 NUL, \u{1f600}\nab42');
    const broken = new ErrorStream(() => { throw new Error('sink broken'); });
    expect(() => { broken.write('x'); broken.writelines(['y']); broken.flush(); }).not.toThrow();
    expect(() => broken.writelines(null as unknown as string[])).not.toThrow();
  });
});

