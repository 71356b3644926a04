// A class-based app with a route table: the router is an object, its `app`
// is what a gateway calls. Unknown paths get a 404, known paths with another
// method a 405 with Allow. Run it with
//   npx tsgi http examples/router.ts
import type { App, Body, Environ, Header, StartResponse } from 'tsgi';

type Handler = (environ: Environ, startResponse: StartResponse) => Body;

const TEXT: Header[] = [['Content-Type', 'text/plain; charset=utf-8']];

export class Router {
  readonly #routes = new Map<string, Map<string, Handler>>();

  /** Adds a route: an exact path and a method. */
  add(method: string, path: string, handler: Handler): this {
    const byMethod = this.#routes.get(path) ?? new Map<string, Handler>();
    byMethod.set(method.toUpperCase(), handler);
    this.#routes.set(path, byMethod);
    return this;
  }

  /** The PEP 3333 app: an arrow function, so `this` stays the router. */
  readonly app: App = (environ, startResponse) => {
    const byMethod = this.#routes.get(environ.PATH_INFO || '/');
    if (!byMethod) {
      startResponse('404 Not Found', TEXT);
      return [Buffer.from(`No route for ${environ.PATH_INFO}\n`, 'latin1')];
    }
    const method = environ.REQUEST_METHOD === 'HEAD' ? 'GET' : environ.REQUEST_METHOD;
    const handler = byMethod.get(method);
    if (!handler) {
      startResponse('405 Method Not Allowed', [...TEXT, ['Allow', [...byMethod.keys()].join(', ')]]);
      return [Buffer.from('Method Not Allowed\n')];
    }
    return handler(environ, startResponse);
  };
}

const router = new Router()
  .add('GET', '/', (_env, start) => {
    start('200 OK', TEXT);
    return [Buffer.from('Routes: GET /, GET /hello, POST /echo\n')];
  })
  .add('GET', '/hello', (env, start) => {
    const name = new URLSearchParams(env.QUERY_STRING).get('name') ?? 'world';
    start('200 OK', TEXT);
    return [Buffer.from(`Hello, ${name}!\n`, 'utf8')];
  })
  .add('POST', '/echo', (env, start) => {
    const body = env['wsgi.input'].read();
    start('200 OK', [['Content-Type', env.CONTENT_TYPE ?? 'application/octet-stream']]);
    return [body];
  });

export default router.app;
