/**
 * The reverse bridge (B7): a tsgi app as a fetch handler `(Request) =>
 * Promise<Response>`, for runtimes and routers that take one (Bun, Deno,
 * Cloudflare-style workers, Hono's `app.mount`).
 */
import type { App, Header } from '../contract/types.js';
import { RequestAbort } from '../gateway/abort.js';
import { runApp, type ResponseSink } from '../gateway/engine.js';
import { ErrorStream } from '../gateway/errors-stream.js';
import { admit, environFor, limitRefusal, normalizeMount, refusalResponse, spoolLimits, type ReceivedBody } from '../gateway/intake.js';
import { BodySpool, type SpoolLimits } from '../gateway/spool.js';
import { httpVars } from '../protocol/http-env.js';

/** Options of toFetchHandler. Limits are on by default (S1). */
export interface FetchHandlerOptions {
  /** Largest request body; past it 413 (default 100 MiB). */
  maxBodyBytes?: number;
  /** Bodies up to this size stay in memory, larger ones go to a temp file (default 1 MiB). */
  memoryBodyBytes?: number;
  /** URL prefix the app lives under: becomes SCRIPT_NAME (default ''). */
  mount?: string;
  /** The client's address, when the runtime knows it (REMOTE_ADDR). */
  remoteAddress?: (request: Request) => string | undefined;
  /** `wsgi.errors` (default: stderr). */
  errors?: (text: string) => void;
}

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** The response a run produces: resolved at the head, its body a byte stream that waits for its reader. */
class FetchSink implements ResponseSink {
  readonly response: Promise<Response>;
  #resolve!: (r: Response) => void;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #wake: (() => void) | undefined;
  readonly #abort: RequestAbort;

  constructor(abort: RequestAbort) {
    this.#abort = abort;
    this.response = new Promise((resolve) => { this.#resolve = resolve; });
  }

  head(status: string, headers: readonly Header[], chunk: Uint8Array | null, last: boolean): void | Promise<void> {
    const code = Number(status.slice(0, 3));
    const init = { status: code, statusText: status.slice(4), headers: headers.map(([k, v]) => [k, v] as [string, string]) };
    if (NULL_BODY.has(code)) { this.#resolve(new Response(null, init)); return; }
    if (last) { this.#resolve(new Response(chunk ? new Uint8Array(chunk) : null, init)); return; }
    const stream = new ReadableStream<Uint8Array>({
      start: (c) => { this.#controller = c; },
      pull: () => { const w = this.#wake; this.#wake = undefined; w?.(); },
      cancel: (reason) => { this.#abort.abort(reason ?? new Error('the response body was cancelled')); const w = this.#wake; this.#wake = undefined; w?.(); },
    }, { highWaterMark: 1 });
    this.#resolve(new Response(stream, init));
    if (chunk) return this.write(chunk);
  }

  write(chunk: Uint8Array): void | Promise<void> {
    const c = this.#controller;
    if (!c) return;
    c.enqueue(new Uint8Array(chunk));
    // Backpressure (S4): wait until the reader wants more.
    if ((c.desiredSize ?? 1) <= 0 && !this.#abort.aborted) return new Promise((resolve) => { this.#wake = resolve; });
  }

  end(): void { try { this.#controller?.close(); } catch { /* cancelled */ } }

  abort(reason: unknown): void {
    if (!this.#controller) {
      this.#resolve(Response.error());
      return;
    }
    try { this.#controller.error(reason instanceof Error ? reason : new Error(String(reason))); } catch { /* cancelled */ }
  }
}

/**
 * Serves `app` as a fetch handler. The Request's body is read first (memory,
 * then a temp file), because `wsgi.input` reads synchronously; the Response
 * resolves when the app's head is ready and its body streams as it is read;
 * `request.signal` and cancelling the body fire `tsgi.abort`.
 */
export function toFetchHandler(app: App, options: FetchHandlerOptions = {}): (request: Request) => Promise<Response> {
  const limits = spoolLimits(options);
  const errors = options.errors ? new ErrorStream(options.errors) : ErrorStream.toFd(2);
  const mount = normalizeMount(options.mount);
  return async (request) => {
    const controller = new RequestAbort();
    const signal = request.signal;
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
    const url = new URL(request.url);
    const https = url.protocol === 'https:';
    const raw: string[] = [];
    for (const [k, v] of request.headers) raw.push(k, v);
    const remote = options.remoteAddress?.(request);
    const vars = httpVars({
      method: request.method,
      url: url.pathname + url.search,
      httpVersion: '1.1',
      rawHeaders: raw,
      serverName: url.hostname.replace(/^\[|\]$/g, ''),
      serverPort: url.port || (https ? '443' : '80'),
      remoteAddr: remote,
      https,
    });
    // The intake's rules, as under every adapter: the mount split, 400/413 before the body is read.
    let plan = admit(vars, { mount, maxBodyBytes: limits.maxBytes, streams: true });
    let body: ReceivedBody | null = null;
    if (request.body !== null && plan.kind !== 'refuse') {
      try {
        const spool = await readBody(request, limits, plan.kind === 'length' ? plan.length : 0);
        body = { source: spool.source(), length: spool.length };
      } catch (err) {
        const refusal = limitRefusal(err);
        if (refusal === undefined) throw err;
        plan = refusal;
      }
    }
    if (plan.kind === 'refuse') {
      const r = refusalResponse(plan);
      return new Response(r.body, { status: Number(r.status.slice(0, 3)), headers: r.headers });
    }
    const environ = environFor(vars, body, { errors, abort: controller, multiprocess: false, runOnce: false });
    const sink = new FetchSink(controller);
    void runApp(app, environ, sink, controller).finally(() => body?.source.dispose?.());
    return sink.response;
  };
}

/** The Request's body whole into a spool (memory, then a temp file): wsgi.input reads synchronously. */
async function readBody(request: Request, limits: SpoolLimits, expected: number): Promise<BodySpool> {
  const spool = new BodySpool(limits, expected);
  if (!request.body) return spool;
  try {
    for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) spool.push(chunk);
  } catch (err) {
    spool.dispose();
    throw err;
  }
  return spool;
}
