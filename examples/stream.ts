// A streaming body: an async generator yielding chunks over time.
// ?n=5&delay=200 sets how many chunks and the pause between them (ms).
// The generator's finally block runs when the client goes away (tsgi.abort).
import type { App } from 'tsgi';
import { setTimeout as sleep } from 'node:timers/promises';

const app: App = (environ, startResponse) => {
  const q = new URLSearchParams(environ.QUERY_STRING);
  const n = Math.min(Number(q.get('n') ?? 5) || 5, 1000);
  const delay = Math.min(Number(q.get('delay') ?? 200) || 0, 10_000);
  const signal = environ['tsgi.abort'];
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8'], ['Cache-Control', 'no-store']]);
  return (async function* body() {
    try {
      for (let i = 1; i <= n; i++) {
        yield Buffer.from(`chunk ${i} of ${n}\n`);
        if (i < n) await sleep(delay, undefined, { signal }).catch(() => {});
        if (signal.aborted) return;
      }
    } finally {
      environ['wsgi.errors'].write(`stream: finished (aborted: ${signal.aborted})\n`);
    }
  })();
};

export default app;
