// A Hono app (a fetch handler: `export default app` has app.fetch) under
// every tsgi adapter: `npx tsgi fastcgi examples/hono.ts`. On plain Node:
// serve({ fetch: app.fetch, port: 8000 }) from @hono/node-server.
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { setCookie, getCookie } from 'hono/cookie';

const app = new Hono();

app.get('/', (c) => c.text('Hono, served by tsgi.\n'));
app.get('/hello', (c) => c.text('Hello, world!\n'));
app.get('/info', (c) => c.json({ method: c.req.method, url: c.req.url, path: c.req.path }));
app.post('/json', async (c) => c.json({ got: await c.req.json() }));
app.post('/form', async (c) => {
  const body = await c.req.parseBody();
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) out[k] = typeof v === 'string' ? v : { name: v.name, size: v.size, type: v.type };
  return c.json({ got: out });
});
app.get('/cookies/set', (c) => {
  setCookie(c, 'a', '1', { httpOnly: true });
  setCookie(c, 'b', '2', { path: '/' });
  return c.text('set\n');
});
app.get('/cookies', (c) => c.json({ a: getCookie(c, 'a') ?? null, b: getCookie(c, 'b') ?? null }));
app.get('/redirect', (c) => c.redirect('/hello'));
app.get('/boom', () => { throw new Error('secret-token-123 must not reach the client'); });
app.get('/sse', (c) => {
  const n = Number(c.req.query('n') ?? 1e9);
  return streamSSE(c, async (stream) => {
    for (let i = 0; i < n && !stream.aborted; i++) {
      await stream.writeSSE({ id: String(i), data: `tick ${i}` });
      await stream.sleep(20);
    }
  });
});
app.onError((_err, c) => c.text('Something broke.\n', 500));

export default app;
