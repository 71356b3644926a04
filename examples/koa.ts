// A Koa app under every tsgi adapter: `npx tsgi fastcgi examples/koa.ts`.
// tsgi recognises the Koa app object (its callback() is the (req, res) listener).
// On plain node:http: http.createServer(app.callback()).listen(8000).
import Koa from 'koa';

const app = new Koa();

/** Koa has no body parser of its own: read the raw request stream. */
async function text(req: NodeJS.ReadableStream): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

app.use(async (ctx, next) => {
  try {
    await next();
  } catch {
    ctx.status = 500;
    ctx.type = 'text/plain';
    ctx.body = 'Something broke.\n';
  }
});

app.use(async (ctx) => {
  switch (ctx.path) {
    case '/': ctx.body = 'Koa, served by tsgi.\n'; return;
    case '/hello': ctx.body = 'Hello, world!\n'; return;
    case '/info': ctx.body = { method: ctx.method, url: ctx.url, ip: ctx.ip, protocol: ctx.protocol, secure: ctx.secure, host: ctx.host }; return;
    case '/json': ctx.body = { got: JSON.parse(await text(ctx.req)) as unknown }; return;
    case '/cookies/set':
      ctx.cookies.set('a', '1');
      ctx.cookies.set('b', '2', { httpOnly: false });
      ctx.body = 'set\n';
      return;
    case '/cookies': ctx.body = { a: ctx.cookies.get('a') ?? null, b: ctx.cookies.get('b') ?? null }; return;
    case '/redirect': ctx.redirect('/hello'); return;
    case '/boom': throw new Error('secret-token-123 must not reach the client');
    default: // Koa's own 404
  }
});

export default app;
