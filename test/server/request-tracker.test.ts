// The per-request hook behind the access log, --max-requests and
// --request-timeout, and logging()'s default destination.
import { afterEach, describe, expect, it } from 'vitest';
import { accessLog, setAccessLog } from '../../src/contract/access-log.js';
import type { Header } from '../../src/contract/types.js';
import { logging } from '../../src/middleware/logging.js';
import { RequestTracker } from '../../src/server/request-tracker.js';
import { b, run } from '../helpers.js';

const TEXT: Header[] = [['Content-Type', 'text/plain']];
let tracker: RequestTracker | undefined;
afterEach(() => { tracker?.uninstall(); tracker = undefined; setAccessLog(null); });

describe('the request tracker', () => {
  it('writes one access line per finished request and counts them', async () => {
    const lines: string[] = [];
    const served: number[] = [];
    tracker = new RequestTracker({ accessLog: (l) => lines.push(l), onFinished: (n) => served.push(n) });
    tracker.install();
    await run((_e, s) => { s('201 Created', TEXT); return [b('abc')]; }, { REQUEST_URI: '/x' });
    await run((_e, s) => { s('200 OK', TEXT); return (async function* () { yield b('1'); yield b('22'); })(); }, { REQUEST_URI: '/y' });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/"GET \/x HTTP\/1\.1" 201 3 "-" "-" \d+$/);
    expect(lines[1]).toMatch(/"GET \/y HTTP\/1\.1" 200 3 /);
    expect(served).toEqual([1, 2]);
    expect(tracker.inFlight.size).toBe(0);
  });

  it('logging() writes to the access log when one is open, not to wsgi.errors', async () => {
    const lines: string[] = [];
    setAccessLog((l) => lines.push(l));
    expect(accessLog()).not.toBeNull();
    const r = await run(logging()((_e, s) => { s('200 OK', TEXT); return [b('hi')]; }), { REQUEST_URI: '/logged' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/"GET \/logged HTTP\/1\.1" 200 2 /);
    expect(r.errors).toBe('');
  });

  it('--request-timeout: a 504 when nothing was sent; after the head, the response is cut off; tsgi.abort fires either way', async () => {
    const lines: string[] = [];
    tracker = new RequestTracker({ accessLog: (l) => lines.push(l), requestTimeoutMs: 100 });
    tracker.install();
    const reasons: unknown[] = [];
    const waitAbort = (e: Record<string, unknown>) => new Promise<void>((resolve) => {
      const signal = e['tsgi.abort'] as AbortSignal;
      signal.addEventListener('abort', () => { reasons.push((signal.reason as { code?: string }).code); resolve(); });
    });
    const before = await run((e) => waitAbort(e as never).then(() => []), { REQUEST_URI: '/before' });
    expect(before.sink.events).toEqual(['head 504 Gateway Timeout 58 last']);
    const after = await run((e, s) => {
      s('200 OK', TEXT);
      return (async function* () { yield b('partial'); await waitAbort(e as never); })();
    }, { REQUEST_URI: '/after' });
    expect(after.sink.events).toEqual(['head 200 OK 7', 'abort']);
    expect(reasons).toEqual(['ERR_REQUEST_TIMEOUT', 'ERR_REQUEST_TIMEOUT']);
    expect(lines[0]).toMatch(/"GET \/before HTTP\/1\.1" 504 58 /);
    expect(lines[1]).toMatch(/"GET \/after HTTP\/1\.1" 200 7 /);
  });
});
