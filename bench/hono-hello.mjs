// The Hono hello app of bench:bridges: `export default app` (a fetch handler,
// for `tsgi fastcgi`); run as `node bench/hono-hello.mjs PORT` it serves the
// same app with @hono/node-server (nginx proxy_pass in front).
import { Hono } from 'hono';
import { fileURLToPath } from 'node:url';

const app = new Hono();
app.get('/', (c) => c.text('Hello, world!\n'));
export default app;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { serve } = await import('@hono/node-server');
  serve({ fetch: app.fetch, port: Number(process.argv[2]), hostname: '127.0.0.1' });
  process.on('SIGTERM', () => process.exit(0));
}
