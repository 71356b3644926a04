// A Fastify app under every tsgi adapter: `npx tsgi fastcgi examples/fastify.ts`.
// tsgi recognises the Fastify instance: it awaits ready() and serves its
// `routing` (req, res) entry point. A program of its own does the same:
//   await app.ready(); fromNodeListener(app.routing)
// (or passes a serverFactory whose handler it keeps). On plain node:http:
//   await app.listen({ port: 8000 }).
import Fastify from 'fastify';

const app = Fastify();

app.get('/', async (_req, reply) => reply.type('text/plain').send('Fastify, served by tsgi.\n'));
app.get('/hello', async (_req, reply) => reply.type('text/plain').send('Hello, world!\n'));
app.get('/info', async (req) => ({ method: req.method, url: req.url, ip: req.ip, protocol: req.protocol, hostname: req.hostname }));
app.post('/json', async (req) => ({ got: req.body }));
app.get('/cookies/set', async (_req, reply) => {
  reply.header('Set-Cookie', ['a=1; HttpOnly', 'b=2; Path=/']);
  return reply.type('text/plain').send('set\n');
});
app.get('/cookies', async (req) => ({ cookie: req.headers.cookie ?? null }));
app.get('/redirect', async (_req, reply) => reply.redirect('/hello'));
app.get('/boom', async () => { throw new Error('secret-token-123 must not reach the client'); });
app.setErrorHandler(async (_err, _req, reply) => reply.code(500).type('text/plain').send('Something broke.\n'));

export default app;
