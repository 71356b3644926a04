/**
 * What middleware needs to watch a response go by without changing it: the
 * status and headers the app gave, the bytes it produced (body chunks and
 * write()), and the moment the gateway closes the body (C17), which is when
 * the response is over, whether it ended, failed or was aborted.
 */
import { WRAPPED_BODY, type App, type Body, type Environ, type Header, type ResponseProgress, type StartResponse } from '../contract/types.js';

/** What an observer learns about one response. */
export interface Observed {
  /** The status line the app gave last (`undefined` if it never called startResponse). */
  status: string | undefined;
  headers: Header[];
  /** Body bytes produced so far (iterated chunks plus write() data). */
  bytes: number;
  /** The error the app raised, if any. */
  error: unknown;
  /**
   * What the gateway handed the web server (`environ['tsgi.response']`):
   * the status that went out, and whether the response was cut off.
   * Undefined when the app runs outside a tsgi gateway.
   */
  response?: ResponseProgress | undefined;
}

/**
 * The status the client saw: the one the gateway sent (the app's, or its 500
 * when the app failed before the head went out, C18), even if the response was
 * then cut off; while nothing was sent, 500 if the app failed (the gateway is
 * about to send it), else the app's status; 0 when there was none.
 */
export function finalStatus(seen: Observed): number {
  const sent = seen.response?.status;
  if (sent !== undefined) return Number(sent.slice(0, 3));
  // Outside a gateway, an approximation: an error before any byte means a 500.
  if (seen.error !== undefined && (seen.response !== undefined || seen.bytes === 0)) return 500;
  return seen.status === undefined ? 0 : Number(seen.status.slice(0, 3));
}

/** Called once per request, when the response is over. */
export type OnDone = (environ: Environ, observed: Observed) => void;

/**
 * Wraps `app` so that `done` runs once per request, when the body is closed,
 * or at once when the app throws or its Promise rejects.
 */
export function observe(app: App, done: OnDone): App {
  return (environ, startResponse) => {
    const seen: Observed = { status: undefined, headers: [], bytes: 0, error: undefined, response: environ['tsgi.response'] };
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      done(environ, seen);
    };
    const start: StartResponse = (status, headers, excInfo) => {
      const write = startResponse(status, headers, excInfo);
      seen.status = status;
      seen.headers = headers;
      return (data) => {
        write(data);
        if (data instanceof Uint8Array) seen.bytes += data.length;
      };
    };
    const failed = (err: unknown): never => {
      seen.error = err;
      finish();
      throw err;
    };
    let result: ReturnType<App>;
    try {
      result = app(environ, start);
    } catch (err) {
      return failed(err);
    }
    const wrap = (body: Body): Body => {
      if (body === null || typeof body !== 'object') {
        // Not a body (C19): the gateway answers 500 and there will be no close() to wait for.
        seen.error = new TypeError('the app returned no iterable body');
        finish();
        return body;
      }
      return watchBody(body, {
      chunk: (c) => { seen.bytes += c.length; },
      error: (e) => { seen.error = e; },
      close: finish,
      });
    };
    return isThenable(result) ? Promise.resolve(result).then(wrap, failed) : wrap(result);
  };
}

/** Hooks of {@link watchBody}. */
export interface BodyHooks {
  /** Each chunk as the gateway pulls it. */
  chunk?(chunk: Uint8Array): void;
  /** The body's iterator threw. */
  error?(err: unknown): void;
  /** The gateway called close(); runs before the app's own close(). A Promise is waited for with it. */
  close(): unknown;
}

/**
 * The same body, observed. An array stays an array (the gateway's one-write
 * path and Content-Length, C20, still apply); an iterable stays sync or
 * async as it was; close() and an early return() reach the app's body.
 */
export function watchBody(body: Body, hooks: BodyHooks): Body {
  if (body === null || typeof body !== 'object') return body; // not a body: the gateway reports it (C19)
  let closed = false;
  const close = (): unknown => {
    if (closed) return undefined;
    closed = true;
    let mine: unknown;
    try {
      mine = hooks.close();
    } catch (err) {
      mine = Promise.reject(err); // reported with the app's close(), which still runs
    }
    const own = (body as { close?: unknown }).close;
    const theirs: unknown = typeof own === 'function' ? own.call(body) : undefined;
    return isThenable(mine) ? Promise.all([mine, theirs]) : theirs;
  };
  if (Array.isArray(body)) {
    if (hooks.chunk) for (const c of body) if (c instanceof Uint8Array) hooks.chunk(c);
    const copy = Array.from(body);
    Object.defineProperty(copy, 'close', { value: close, enumerable: false });
    return copy;
  }
  const step = (r: IteratorResult<unknown>): IteratorResult<unknown> => {
    if (!r.done && r.value instanceof Uint8Array) hooks.chunk?.(r.value);
    return r;
  };
  const threw = (err: unknown): never => {
    hooks.error?.(err);
    throw err;
  };
  if (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    return {
      [Symbol.asyncIterator]: () => {
        const it = (body as AsyncIterable<unknown>)[Symbol.asyncIterator]();
        return {
          next: () => {
            try {
              return Promise.resolve(it.next()).then(step, threw);
            } catch (err) {
              return threw(err);
            }
          },
          return: (v?: unknown) => (it.return ? it.return(v) : Promise.resolve({ done: true, value: v })),
        };
      },
      close,
      [WRAPPED_BODY]: body,
    } as Body;
  }
  if (typeof (body as Iterable<unknown>)[Symbol.iterator] !== 'function') return body;
  return {
    [Symbol.iterator]: () => {
      const it = (body as Iterable<unknown>)[Symbol.iterator]();
      return {
        next: () => {
          try {
            return step(it.next());
          } catch (err) {
            return threw(err);
          }
        },
        return: (v?: unknown) => (it.return ? it.return(v) : { done: true, value: v }),
      };
    },
    close,
  } as Body;
}

/** True for a Promise or any other thenable. */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

/** The value of the first header named `name` (any case), or undefined. */
export function headerValue(headers: readonly Header[], name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const h of headers) if (h[0].length === lower.length && h[0].toLowerCase() === lower) return h[1];
  return undefined;
}

/** A complete small response from a middleware (its own answer, not the app's). */
export function respond(startResponse: StartResponse, status: string, headers: Header[], body: string): Uint8Array[] {
  const bytes = Buffer.from(body, 'utf8');
  startResponse(status, [...headers, ['Content-Length', String(bytes.length)]]);
  return [bytes];
}
