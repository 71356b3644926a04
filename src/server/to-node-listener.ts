/**
 * The reverse bridge (B7): a tsgi app as a Node request listener, to mount in
 * node:http, Express (`app.use('/legacy', toNodeListener(app))`), Vite's dev
 * server or anything else that takes `(req, res)`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { log } from '../contract/log.js';
import type { App } from '../contract/types.js';
import { RequestAbort } from '../gateway/abort.js';
import { runApp } from '../gateway/engine.js';
import { ErrorStream } from '../gateway/errors-stream.js';
import { admit, environFor, limitRefusal, normalizeMount, refusalResponse, spoolLimits, type ReceivedBody } from '../gateway/intake.js';
import type { SpoolLimits } from '../gateway/spool.js';
import { httpVars } from '../protocol/http-env.js';
import { readRequestBody } from './read-body.js';
import { ServerResponseSink } from './response-sink.js';

/** Options of toNodeListener. Limits are on by default (S1). */
export interface NodeListenerOptions {
  /** Largest request body; past it 413 (default 100 MiB). */
  maxBodyBytes?: number;
  /** Bodies up to this size stay in memory, larger ones go to a temp file (default 1 MiB). */
  memoryBodyBytes?: number;
  /** URL prefix the app lives under (SCRIPT_NAME); default: Express's `req.baseUrl` when mounted, else ''. */
  mount?: string;
  /** `wsgi.errors` (default: stderr). */
  errors?: (text: string) => void;
}

/** The listener: `next` is accepted (and unused) so Express and Connect can mount it as middleware. */
export type TsgiListener = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;


/**
 * Serves `app` as a `(req, res)` listener. The request body is read first
 * (memory, then a temp file past `memoryBodyBytes`), because `wsgi.input`
 * reads synchronously; the response streams with backpressure; a client that
 * goes away fires `tsgi.abort`.
 */
export function toNodeListener(app: App, options: NodeListenerOptions = {}): TsgiListener {
  const limits = spoolLimits(options);
  const errors = options.errors ? new ErrorStream(options.errors) : ErrorStream.toFd(2);
  return (req, res) => {
    void serve(app, req, res, limits, errors, options.mount).catch((err: unknown) => {
      log('error', `toNodeListener: ${err instanceof Error ? err.stack : String(err)}`);
      res.destroy();
    });
  };
}

async function serve(app: App, req: IncomingMessage, res: ServerResponse, limits: SpoolLimits,
  errors: ErrorStream, mount: string | undefined): Promise<void> {
  const controller = new RequestAbort();
  res.on('close', () => { if (!res.writableFinished) controller.abort(new Error('client went away')); });
  // Mounted in Express or Connect: they strip the mount path from req.url and keep it in baseUrl.
  const x = req as IncomingMessage & { baseUrl?: unknown; originalUrl?: unknown };
  const base = typeof x.baseUrl === 'string' && typeof x.originalUrl === 'string' ? x.baseUrl : undefined;
  const socket = req.socket as IncomingMessage['socket'] & { encrypted?: boolean };
  const host = req.headers.host ?? socket.localAddress ?? 'localhost';
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(host);
  const https = socket.encrypted === true;
  const vars = httpVars({
    method: req.method ?? 'GET',
    url: base !== undefined ? (x.originalUrl as string) : (req.url ?? '/'),
    httpVersion: req.httpVersion,
    rawHeaders: req.rawHeaders,
    serverName: m?.[1] || 'localhost',
    serverPort: m?.[2] ?? String(socket.localPort ?? (https ? 443 : 80)),
    remoteAddr: socket.remoteAddress,
    remotePort: socket.remotePort === undefined ? undefined : String(socket.remotePort),
    https,
  });
  // The intake's rules, as under every adapter: the mount split, 400/413 before the body is read.
  let plan = admit(vars, { mount: normalizeMount(mount ?? base), maxBodyBytes: limits.maxBytes, streams: true });
  const sink = new ServerResponseSink(res);
  let body: ReceivedBody | null = null;
  if (plan.kind === 'length' || plan.kind === 'stream') {
    try {
      const spool = await readRequestBody(req, limits, plan.kind === 'length' ? plan.length : 0);
      body = { source: spool.source(), length: spool.length };
    } catch (err) {
      const refusal = limitRefusal(err);
      if (refusal === undefined) {
        plan = { kind: 'refuse', status: '400 Bad Request', reason: 'could not read the request body' };
      } else {
        plan = refusal;
      }
    }
  }
  if (plan.kind === 'refuse') {
    if (!res.headersSent && !res.destroyed) {
      const r = refusalResponse(plan);
      sink.head(r.status, r.headers, r.body, true);
    }
    return;
  }
  const environ = environFor(vars, body, { errors, abort: controller, multiprocess: false, runOnce: false });
  try {
    await runApp(app, environ, sink, controller);
  } finally {
    body?.source.dispose?.();
  }
}
