// One app inside a stack of middleware: an access log, CORS, sessions (a
// page that counts your visits), Basic auth on /admin, static files under
// /static, and the validator around it all. Run it with
//   SESSION_SECRET=$(openssl rand -base64 48) ADMIN_PASSWORD=… npx tsgi http examples/middleware-stack.ts
// Sessions live in this process's memory: under CGI, where every request is
// a new process, the count starts again each time (use another SessionStore).
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { App } from 'tsgi';
import { auth, compose, cors, getSession, logging, session, staticFiles, timing } from 'tsgi/middleware';

const page: App = (environ, startResponse) => {
  const s = getSession(environ);
  if ((environ.PATH_INFO || '/') === '/admin') {
    startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
    return [Buffer.from(`Welcome to the admin page, ${environ.REMOTE_USER}.\n`, 'latin1')];
  }
  if ((environ.PATH_INFO || '/') !== '/') {
    startResponse('404 Not Found', [['Content-Type', 'text/plain; charset=utf-8']]);
    return [Buffer.from('Not Found\n')];
  }
  const visits = (s.get<number>('visits') ?? 0) + 1;
  s.set('visits', visits);
  startResponse('200 OK', [['Content-Type', 'text/html; charset=utf-8']]);
  return [Buffer.from(`<!doctype html><link rel="stylesheet" href="static/style.css">
<p>You have visited this page ${visits} time${visits === 1 ? '' : 's'}.</p>
<p><a href="admin">Admin</a> (Basic auth) · <a href="static/hello.txt">a static file</a></p>
`)];
};

export default compose(page,
  logging(),
  timing(),
  cors({ origins: ['http://localhost:3000'], credentials: true }),
  session({ secret: process.env.SESSION_SECRET ?? randomBytes(32).toString('base64') }),
  auth({ basic: { admin: process.env.ADMIN_PASSWORD ?? 'change-me' }, protect: ['/admin'] }),
  staticFiles({ root: fileURLToPath(new URL('./public/', import.meta.url)), prefix: '/static', maxAge: 3600 }),
);
