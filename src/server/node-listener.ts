/**
 * The reverse bridge (B7): a tsgi app as a Node request listener, to mount in
 * node:http, Express (`app.use('/legacy', toNodeListener(app))`), Vite's dev
 * server or anything else that takes `(req, res)`.
 */
import { Buffer } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../contract/errors.js';
import { log } from '../contract/log.js';
import type { App } from '../contract/types.js';
import { RequestAbort } from '../gateway/abort.js';
import { runApp } from '../gateway/engine.js';
import { ErrorStream } from '../gateway/errors-stream.js';
import { environFor } from '../gateway/intake.js';
import { BodySpool } from '../gateway/spool.js';
import { httpVars } from '../protocol/http-env.js';
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
  const limits = { maxBytes: options.maxBodyBytes ?? 100 * 1024 * 1024, memoryBytes: options.memoryBodyBytes ?? 1024 * 1024 };
  const errors = options.errors ? new ErrorStream(options.errors) : ErrorStream.toFd(2);
  return (req, res) => {
    void serve(app, req, res, limits, errors, options.mount).catch((err: unknown) => {
      log('error', `toNodeListener: ${err instanceof Error ? err.stack : String(err)}`);
      res.destroy();
    });
  };
}

async function serve(app: App, req: IncomingMessage, res: ServerResponse, limits: { maxBytes: number; memoryBytes: number },
  errors: ErrorStream, mount: string | undefined): Promise<void> {
  const controller = new RequestAbort();
  res.on('close', () => { if (!res.writableFinished) controller.abort(new Error('client went away')); });
  let spool: BodySpool;
  try {
    spool = await readBody(req, limits);
  } catch (err) {
    const tooLarge = err instanceof GatewayError && err.code === 'ERR_LIMIT_BODY';
    const text = tooLarge ? `${(err as Error).message}\n` : 'could not read the request body\n';
    if (!res.headersSent && !res.destroyed) {
      res.writeHead(tooLarge ? 413 : 400, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    }
    return;
  }
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
    mount: (mount ?? base ?? '').replace(/\/+$/, ''),
  });
  const source = spool.source();
  const environ = environFor(vars, { source, length: spool.length }, { errors, abort: controller, multiprocess: false, runOnce: false });
  try {
    await runApp(app, environ, new ServerResponseSink(res), controller);
  } finally {
    source.dispose?.();
  }
}

/** The whole body into a spool; a stream a body parser already read is an empty body. */
function readBody(req: IncomingMessage, limits: { maxBytes: number; memoryBytes: number }): Promise<BodySpool> {
  const spool = new BodySpool(limits);
  if (req.readableEnded || req.complete && req.readableLength === 0 && !req.readable) return Promise.resolve(spool);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limits.maxBytes) {
    return Promise.reject(new GatewayError('ERR_LIMIT_BODY', `request body of ${declared} bytes exceeds the limit of ${limits.maxBytes} bytes`));
  }
  return new Promise((resolve, reject) => {
    const fail = (err: unknown): void => { cleanup(); spool.dispose(); req.resume(); reject(err); };
    const onData = (chunk: Buffer): void => { try { spool.push(chunk); } catch (err) { fail(err); } };
    const onEnd = (): void => { cleanup(); resolve(spool); };
    const onClose = (): void => { if (!req.readableEnded) fail(new Error('client closed the connection during the body')); };
    const cleanup = (): void => { req.off('data', onData); req.off('end', onEnd); req.off('error', fail); req.off('close', onClose); };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', fail);
    req.on('close', onClose);
  });
}
