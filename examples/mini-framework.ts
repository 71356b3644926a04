// A mini framework in one file: regex routes with named groups, handlers
// that take a Request and return a Response (tsgi/helpers), JSON and form
// bodies, and 404 / 500 handlers. Run it with
//   npx tsgi http examples/mini-framework.ts
import type { App, Environ } from 'tsgi';
import { HttpError, Request, Response } from 'tsgi/helpers';

type Params = Record<string, string>;
type Handler = (req: Request, params: Params) => Response | Promise<Response>;

export class Mini {
  readonly #routes: Array<{ method: string; pattern: RegExp; handler: Handler }> = [];
  #notFound: Handler = (req) => Response.json({ error: 'not found', path: req.path }, { status: 404 });
  #onError: (err: unknown, req: Request) => Response = (err, req) => {
    if (err instanceof HttpError) return Response.json({ error: err.message }, { status: err.status });
    req.environ['wsgi.errors'].write(`${err instanceof Error ? err.stack : String(err)}\n`);
    return Response.json({ error: 'internal error' }, { status: 500 });
  };

  /** `pattern` matches the whole path; named groups become params (UTF-8 text). */
  route(method: string, pattern: RegExp, handler: Handler): this {
    this.#routes.push({ method: method.toUpperCase(), pattern: new RegExp(`^(?:${pattern.source})$`, pattern.flags), handler });
    return this;
  }
  get(pattern: RegExp, handler: Handler): this { return this.route('GET', pattern, handler); }
  post(pattern: RegExp, handler: Handler): this { return this.route('POST', pattern, handler); }
  notFound(handler: Handler): this { this.#notFound = handler; return this; }
  onError(handler: (err: unknown, req: Request) => Response): this { this.#onError = handler; return this; }

  async #dispatch(environ: Environ): Promise<Response> {
    const req = new Request(environ, { maxBodyBytes: 64 * 1024 });
    try {
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      for (const r of this.#routes) {
        const m = r.method === method ? r.pattern.exec(req.path) : null;
        if (m) return await r.handler(req, { ...m.groups });
      }
      return await this.#notFound(req, {});
    } catch (err) {
      return this.#onError(err, req);
    }
  }

  /** The app: awaits the handler, then sends its Response. */
  readonly app: App = async (environ, startResponse) => (await this.#dispatch(environ)).send(startResponse);
}

const notes: string[] = [];

const mini = new Mini()
  .get(/\//, () => Response.html('<h1>mini</h1><form method="post" action="notes"><input name="text"><button>add</button></form>\n'))
  .get(/\/hello\/(?<name>[^/]+)/, (_req, { name }) => Response.text(`Hello, ${name}!\n`))
  .get(/\/notes/, () => Response.json(notes))
  .post(/\/notes/, async (req) => {
    // JSON or an HTML form: the same note either way.
    const text = req.contentType === 'application/json'
      ? String((await req.json<{ text?: unknown }>()).text ?? '')
      : (await req.form()).get('text') ?? '';
    if (text === '') throw new HttpError(400, 'ERR_BAD_REQUEST_BODY', 'a note needs text');
    notes.push(text);
    return Response.json({ id: notes.length, text }, { status: 201 });
  })
  .get(/\/items\/(?<id>\d+)/, (_req, { id }) => Response.json({ id: Number(id) }))
  .get(/\/boom/, () => { throw new Error('a handler failed'); });

export default mini.app;
