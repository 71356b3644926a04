// O4, the master's side of a worker's stack: what it keeps of an answer (P13:
// bounded, whatever the worker sends) and which slow requests it logs (once each).
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MAX_STACK, SlowRequests, StackPipe, parseAnswer, requestAge } from '../../src/server/arbiter/stacks.js';

describe('O4 stack answers from a worker', () => {
  it('O4 P13 a stack is kept as sent; an error says why there is none; garbage is named as such', () => {
    expect(parseAnswer(JSON.stringify({ stack: '    at f (file:///a.js:1:2)' }))).toBe('    at f (file:///a.js:1:2)');
    expect(parseAnswer(JSON.stringify({ error: 'no inspector' }))).toBe('(no stack: no inspector)');
    expect(parseAnswer('{"stack": 42}')).toBe('(no stack: the worker sent an unreadable answer)');
    expect(parseAnswer('not json')).toBe('(no stack: the worker sent an unreadable answer)');
  });

  it('O4 P13 a stack longer than the bound is cut, and says so', () => {
    const text = parseAnswer(JSON.stringify({ stack: 'x'.repeat(MAX_STACK * 3) }));
    expect(text).toBe(`${'x'.repeat(MAX_STACK)}\n    ... (cut at ${MAX_STACK} characters)`);
  });

  it('O4 the pipe: one question, one answer shared by every asker; no answer becomes a timeout text', async () => {
    const wire = new PassThrough();
    const asked: string[] = [];
    const pipe = new StackPipe(Object.assign(wire, { write: (d: string) => { asked.push(d); return true; } }) as unknown as PassThrough);
    const a = pipe.ask(5000);
    const b = pipe.ask(5000);
    expect(asked).toEqual(['s\n']);
    wire.push(Buffer.from(`${JSON.stringify({ stack: '    at g (x.js:2:3)' })}\n`));
    expect(await Promise.all([a, b])).toEqual(['    at g (x.js:2:3)', '    at g (x.js:2:3)']);
    expect(await pipe.ask(1)).toBe('(no stack: the worker did not answer within 1 ms)');
  });
});

describe('O4 --slow-log decides', () => {
  it('O4 the board\'s age is read back; anything else is ignored', () => {
    expect(requestAge('GET /x?y=1 (running 12.5 s)')).toEqual({ request: 'GET /x?y=1', age: 12.5 });
    expect(requestAge('GET /x')).toBeNull();
  });

  it('O4 a request is due once, when it passes the limit; the same line started later is another request', () => {
    const slow = new SlowRequests(2);
    const t0 = 1_000_000;
    expect(slow.due(['GET /a (running 1.0 s)'], t0)).toEqual([]);
    expect(slow.due(['GET /a (running 2.1 s)'], t0 + 1100)).toEqual(['GET /a (running 2.1 s)']);
    // The board's ages lag by up to a tick: the same start, seen again and again, is not logged again.
    for (let i = 1; i <= 20; i++) expect(slow.due([`GET /a (running ${(2.1 + i * 0.25 - 0.1).toFixed(1)} s)`], t0 + 1100 + i * 250)).toEqual([]);
    // It ended, and a new GET /a has been running 3 s: logged.
    expect(slow.due([], t0 + 7000)).toEqual([]);
    expect(slow.due(['GET /a (running 3.0 s)'], t0 + 20_000)).toEqual(['GET /a (running 3.0 s)']);
  });
});
