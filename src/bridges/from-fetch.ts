/**
 * A fetch handler — `(Request) => Response`, or an object with a `fetch`
 * method (Hono, itty-router, `export default { fetch }`) — as a tsgi app
 * (B1, B5, B6).
 */
import type { AsyncResource } from 'node:async_hooks';
import { Buffer } from 'node:buffer';
import { STATUS_CODES } from 'node:http';
import { liveInput } from '../contract/live-input.js';
import type { App, Body, Environ, Header, StartResponse } from '../contract/types.js';
import { delegateMembers, type OwnAnswer } from './delegate.js';
import { again, within, type Exchange } from './guard.js';
import { installLightResponse, takeLight } from './light-response.js';
import { dropped, headerName, origin, requestTarget, urlSafe } from './target.js';

/** A fetch handler: a function, or an object with `fetch` (called with the object as `this`). */
export type FetchHandler =
  | ((request: Request, ...rest: unknown[]) => Response | Promise<Response>)
  | { fetch(request: Request, ...rest: unknown[]): Response | Promise<Response> };

const BLOCK = 65536;

/** Options of fromFetch. */
export interface FetchBridgeOptions {
  /**
   * Extra arguments after the Request, as some runtimes pass them (Hono reads
   * its `env` from the second one). Called per request with the environ;
   * default: the environ itself as `env`.
   */
  args?: (environ: Environ) => unknown[];
  /**
   * Installs tsgi's lighter Response as the global `Response` (see
   * light-response.ts): a string, bytes or empty body is then sent as it
   * was given, without the stream Node's Response makes for it. The CLI
   * sets it for a fetch app when `TSGI_FETCH_RESPONSE=light`. Default:
   * false (the global is left alone).
   */
  lightResponse?: boolean;
}

/**
 * Wraps a fetch handler as an app. The `Request` has the full URL from the
 * environ (scheme, Host, the raw path and query), the headers, the body as a
 * `ReadableStream` pulled from `wsgi.input` as it is read (never buffered
 * first), and a `signal` that aborts with `tsgi.abort`. The `Response`'s
 * status and reason, every header (each Set-Cookie on its own) and its body
 * stream become the app's response; the stream is read only as fast as the
 * web server takes it, and cancelled when the client goes away.
 */
export function fromFetch(handler: FetchHandler, options: FetchBridgeOptions = {}): App {
  const call: (request: Request, ...rest: unknown[]) => Response | Promise<Response> =
    typeof handler === 'function' ? handler
      : handler !== null && typeof handler === 'object' && typeof handler.fetch === 'function' ? handler.fetch.bind(handler)
        : (() => { throw new TypeError('fromFetch takes a (Request) => Response function or an object with a fetch method'); })();
  const args = options.args;
  if (options.lightResponse === true) installLightResponse();
  // Not an async function: a handler that answers at once (Hono does for a
  // synchronous route) and a Response without a body cost no promise.
  return (environ, startResponse) => {
    const request = toRequest(environ);
    const x = new FetchExchange(environ);
    // An exception thrown later in a callback made during this call fails this request only (guard.ts).
    const response = args === undefined ? within(x, call, request, environ) : within(x, callWith, call, [request, ...args(environ)]);
    if (response instanceof Response) return x.done(respond(response, x, startResponse));
    return x.settle(response).then((r) => respond(r, x, startResponse)).then((b) => x.done(b));
  };
}

/** The handler called with the arguments FetchBridgeOptions.args gave. */
function callWith(call: (request: Request, ...rest: unknown[]) => Response | Promise<Response>, args: [Request, ...unknown[]]): Response | Promise<Response> {
  return call(...args);
}

/**
 * A fetch request as the guard sees it: in the bridge until its response is
 * whole or its body stream closed. An exception thrown meanwhile rejects the
 * handler's pending promise, or fails the body stream (C18).
 */
class FetchExchange implements Exchange {
  readonly environ: Environ;
  live = true;
  /** The exception that failed the request. */
  error: unknown = undefined;
  failed = false;
  scope: AsyncResource | undefined = undefined;
  #reject: ((err: unknown) => void) | undefined;
  /** The body stream's reader, once there is one to cancel. */
  reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

  constructor(environ: Environ) {
    this.environ = environ;
  }

  /** The handler's promise, which fail() can reject first. */
  settle(response: unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#reject = reject;
      Promise.resolve(response).then(resolve, reject);
    });
  }

  /** The body as the gateway gets it; a whole one ends the request's time in the bridge. */
  done(body: Body | Promise<Body>): Body | Promise<Body> {
    if (Array.isArray(body)) { this.live = false; this.scope = undefined; }
    else if (body instanceof Promise) return body.then((b: Body) => this.done(b));
    return body;
  }

  fail(err: unknown): boolean {
    if (this.failed || !this.live) return false;
    this.failed = true;
    this.error = err;
    const reject = this.#reject;
    this.#reject = undefined;
    if (reject !== undefined) reject(err);
    // A body being read: cancelled, and the iterator throws the error instead of ending.
    this.reader?.cancel(err).catch(() => {});
    return true;
  }
}

/** The handler's Response as the app's response: status and reason, headers, body (B6). */
function respond(response: unknown, x: FetchExchange, startResponse: StartResponse): Body | Promise<Body> {
  if (x.failed) throw x.error;
  if (!(response instanceof Response)) {
    throw new TypeError(`the fetch handler must return a Response, got ${response === null ? 'null' : typeof response}`);
  }
  const light = takeLight(response);
  const status = light === undefined ? response.status : light.status;
  const reason = (light === undefined ? response.statusText : light.statusText) || STATUS_CODES[status] || 'Unknown';
  const headers: Header[] = [];
  for (const [name, value] of light === undefined ? response.headers : light.headers) {
    // B6: Headers iterate each Set-Cookie on its own; hop-by-hop ones are the gateway's (C13).
    if (!dropped(name)) headers.push([name, value]);
  }
  startResponse(`${status} ${reason}`, headers);
  // A light Response's body is the string or bytes it was given: no stream to read.
  if (light !== undefined) return light.body === null || light.body.length === 0 ? [] : [light.body];
  const body = response.body;
  if (body === null) return [];
  return responseBody(body, x);
}

const ENV = Symbol('tsgi.environ');
const URL_ = Symbol('tsgi.url');
const REAL = Symbol('tsgi.request');
interface LazyRequest { [ENV]: Environ; [URL_]: string; [REAL]?: Request }

/**
 * A Request whose `method` and `url` are read from the environ, and which
 * makes the real `Request` (headers, body stream, signal) only when anything
 * else is asked for. A router that looks at the URL alone (Hono answering a
 * GET) never pays for one: building a Request costs several times what the
 * rest of such a request does (bench:bridges). `instanceof Request` holds;
 * every other member is the real Request's.
 */
const LAZY: object = Object.create(Request.prototype);
delegateMembers(LAZY, Request.prototype, (self) => real(self as LazyRequest), new Map<PropertyKey, OwnAnswer>([
  ['method', (self) => (self as LazyRequest)[REAL]?.method ?? (self as LazyRequest)[ENV].REQUEST_METHOD],
  ['url', (self) => (self as LazyRequest)[URL_]],
]));

function real(r: LazyRequest): Request {
  return (r[REAL] ??= makeRequest(r[ENV], r[URL_]));
}

/** The environ as a fetch Request (B5). */
export function toRequest(environ: Environ): Request {
  const r = Object.create(LAZY) as LazyRequest;
  r[ENV] = environ;
  r[URL_] = origin(environ) + urlSafe(requestTarget(environ));
  return r as unknown as Request;
}

function makeRequest(environ: Environ, url: string): Request {
  const method = environ.REQUEST_METHOD;
  const headers = new Headers();
  const keys = Object.keys(environ);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (key.charCodeAt(0) !== 72 || !key.startsWith('HTTP_')) continue;
    const v = environ[key];
    if (typeof v === 'string') headers.append(headerName(key), v);
  }
  if (environ.CONTENT_TYPE) headers.set('content-type', environ.CONTENT_TYPE);
  const length = Number(environ.CONTENT_LENGTH || 0);
  if (length > 0) headers.set('content-length', String(length));
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal: environ['tsgi.abort'] };
  const live = liveInput(environ);
  if (live !== undefined && method !== 'GET' && method !== 'HEAD') {
    // X3: a body still arriving, pulled chunk by chunk as the handler reads it.
    init.body = liveStream(live);
    init.duplex = 'half';
  } else if (length > 0 && method !== 'GET' && method !== 'HEAD') {
    init.body = inputStream(environ, length);
    init.duplex = 'half';
  }
  return new Request(url, init);
}

/** `wsgi.input` as a byte stream, read block by block as the handler reads it. */
function inputStream(environ: Environ, length: number): ReadableStream<Uint8Array> {
  const input = environ['wsgi.input'];
  let left = length;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = await input.read(Math.min(left, BLOCK));
      if (chunk.length === 0) { left = 0; controller.close(); return; }
      left -= chunk.length;
      // A copy: the stream's reader owns what it is given, and the input may reuse its buffers.
      controller.enqueue(new Uint8Array(chunk));
      if (left <= 0) controller.close();
    },
  }, { highWaterMark: 0 });
}

/** X3: a live `tsgi.input` as a byte stream; nothing is pulled before the handler asks (back-pressure). */
function liveStream(live: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = live[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const r = await it.next();
      if (r.done === true) { controller.close(); return; }
      controller.enqueue(new Uint8Array(r.value));
    },
    async cancel() { await it.return?.(); },
  }, { highWaterMark: 0 });
}

type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;

/** A read of the Response's stream, and where it stands after a few microtasks. */
interface Read {
  promise: Promise<ReadResult>;
  result: ReadResult | undefined;
  failed: boolean;
  error: unknown;
}

function read(reader: ReadableStreamDefaultReader<Uint8Array>): Read {
  const r: Read = { promise: reader.read(), result: undefined, failed: false, error: undefined };
  r.promise.then((v) => { r.result = v; }, (e: unknown) => { r.failed = true; r.error = e; });
  return r;
}

/**
 * The Response body. When it is whole at once (a string, bytes or JSON body:
 * its chunk and its end are both ready within a few microtasks, on every
 * Node this runs on), it becomes a one-chunk array, so the gateway sends it
 * in one write with a Content-Length; else an async iterable that reads the
 * stream as the gateway takes it (B6) and cancels it from close() when the
 * client goes away. `tsgi.abort` is looked at only for a stream that has
 * nothing yet: making its AbortSignal costs more than the rest of a small
 * fetch response does (bench:bridges).
 */
async function responseBody(body: ReadableStream<Uint8Array>, x: FetchExchange): Promise<Body> {
  const environ = x.environ;
  const reader = body.getReader();
  x.reader = reader;
  // Both reads at once: the second is the end of a whole body, or the next chunk
  // of a live stream, which the iterator below takes up where it is.
  const first = read(reader);
  const second = read(reader);
  // Three turns are enough for undici's whole bodies (measured on Node 20, 22
  // and 24; one on 24); a macrotask here would hold every response back by a
  // turn of the loop.
  for (let turn = 0; turn < 3 && second.result === undefined && !second.failed && !first.failed; turn++) await undefined;
  if (x.failed) throw x.error;
  if (first.failed) throw first.error;
  if (first.result !== undefined && first.result.done) return [];
  if (first.result !== undefined && second.result !== undefined && second.result.done) return [bytes(first.result.value)];
  let head: ReadResult | undefined = first.result;
  if (head === undefined) {
    // Nothing yet (an idle SSE stream). The engine waits for this app's promise
    // without watching the client: the wait must not outlive a client that left.
    const signal = environ['tsgi.abort'];
    let onAbort: (() => void) | undefined;
    const gone = new Promise<undefined>((resolve) => {
      onAbort = () => resolve(undefined);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    head = signal.aborted ? undefined : await Promise.race([first.promise, gone]);
    signal.removeEventListener('abort', onAbort!);
    if (x.failed) throw x.error;
    if (head === undefined) { reader.cancel().catch(() => {}); return []; }
    if (head.done) return [];
  }
  const chunk = head.value;
  let pending: Promise<ReadResult> | undefined = second.promise;
  let done = false;
  async function* chunks(): AsyncGenerator<Uint8Array, undefined> {
    yield bytes(chunk);
    for (;;) {
      const r = await (pending ?? reader.read());
      pending = undefined;
      if (x.failed) throw x.error;
      if (r.done) { done = true; return undefined; }
      yield bytes(r.value);
    }
  }
  const gen = chunks();
  // The gateway drives these: the stream's pulls and cancel run as the request's (guard.ts).
  const iterator: AsyncIterator<Uint8Array> = { next: () => again(x, nextOf, gen, undefined), return: () => gen.return(undefined) };
  return {
    [Symbol.asyncIterator]: () => iterator,
    close() {
      again(x, closeBody, reader, done);
      x.live = false;
      x.reader = undefined;
      x.scope = undefined;
    },
  };
}

const nextOf = (gen: AsyncGenerator<Uint8Array, undefined>): Promise<IteratorResult<Uint8Array, undefined>> => gen.next();

function closeBody(reader: ReadableStreamDefaultReader<Uint8Array>, done: boolean): void {
  if (!done) reader.cancel().catch(() => {});
  else reader.releaseLock();
}

function bytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return Buffer.from(v);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  throw new TypeError('a Response body stream must yield Uint8Array chunks');
}
