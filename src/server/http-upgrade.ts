/**
 * Upgrade requests on the dev HTTP server (W2): node:http hands them over
 * as `(req, socket, head)`, outside its request/response machinery. The app
 * runs on them as on any request, with `tsgi.upgrade` to take the socket as
 * a tunnel; an app that answers normally instead (it does not switch
 * protocols) is answered here, on the raw socket, and the connection closes.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Buffer } from 'node:buffer';
import { escapeLog } from '../contract/access-log.js';
import { log } from '../contract/log.js';
import type { App, Header, WsgiErrors } from '../contract/types.js';
import { RequestAbort } from '../gateway/abort.js';
import { runApp, type ResponseSink } from '../gateway/engine.js';
import { admit, environFor, refusalResponse } from '../gateway/intake.js';
import type { TunnelPool } from './tunnel.js';

/** What the dev server gives the upgrade path. */
export interface UpgradeContext {
  readonly app: App;
  readonly tunnels: TunnelPool;
  readonly errors: WsgiErrors;
  readonly mount: string;
  readonly multiprocess: boolean;
  readonly accessLog: boolean;
  /** The request's CGI variables, as the dev server builds them for any request. */
  vars(req: IncomingMessage): Record<string, string>;
}

/**
 * A plain HTTP/1.1 response on the raw socket, for an upgrade request the app
 * answered without switching: delimited by the close (`Connection: close`).
 * Ignored once the app has taken the socket (its own bytes are the response).
 */
class RawSink implements ResponseSink {
  readonly #socket: Socket;
  taken = false;
  status = '';
  bytes = 0;
  constructor(socket: Socket) {
    this.#socket = socket;
  }
  head(status: string, headers: readonly Header[], chunk: Uint8Array | null, last: boolean): void | Promise<void> {
    this.status = status.slice(0, 3);
    if (this.taken) return;
    let text = `HTTP/1.1 ${status}\r\n`;
    for (let i = 0; i < headers.length; i++) text += `${headers[i]![0]}: ${headers[i]![1]}\r\n`;
    this.#socket.write(Buffer.from(`${text}Connection: close\r\n\r\n`, 'latin1'));
    if (chunk !== null) this.write(chunk);
    if (last) this.end();
  }
  write(chunk: Uint8Array): void | Promise<void> {
    if (this.taken) return;
    this.bytes += chunk.length;
    if (this.#socket.write(chunk)) return;
    const s = this.#socket;
    return new Promise((resolve) => {
      const done = (): void => { s.off('drain', done); s.off('close', done); resolve(); };
      s.on('drain', done);
      s.on('close', done);
    });
  }
  end(): void {
    if (!this.taken) this.#socket.end();
  }
  abort(): void {
    if (!this.taken) this.#socket.destroy();
  }
}

/** Runs the app on one upgrade request node:http handed over. */
export async function serveUpgrade(ctx: UpgradeContext, req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
  const started = process.hrtime.bigint();
  const line = `${req.method} ${req.url} HTTP/${req.httpVersion}`;
  socket.on('error', (err) => log('debug', `HTTP upgrade: ${err.message}`));
  const vars = ctx.vars(req);
  const plan = admit(vars, { mount: ctx.mount, maxBodyBytes: Number.MAX_SAFE_INTEGER, streams: false });
  const sink = new RawSink(socket);
  if (plan.kind !== 'none') {
    // An upgrade request has no body (RFC 9110 §7.8: the bytes after it belong to the new protocol).
    const r = plan.kind === 'refuse' ? refusalResponse(plan) : refusalResponse({ status: '400 Bad Request', reason: 'an upgrade request with a body' });
    log('warn', `HTTP ${escapeLog(line)}: ${plan.kind === 'refuse' ? plan.reason : 'an upgrade request with a body'}`);
    void sink.head(r.status, r.headers, r.body, true);
    return;
  }
  const abort = new RequestAbort();
  const onClose = (): void => { if (!sink.taken) abort.abort(new Error('client went away')); };
  socket.once('close', onClose);
  const environ = environFor(vars, null, { errors: ctx.errors, abort, multiprocess: ctx.multiprocess, runOnce: false });
  environ['tsgi.upgrade'] = () => {
    if (sink.taken || sink.status !== '') throw new Error('tsgi.upgrade(): the response already began, or the connection was taken');
    const tunnel = ctx.tunnels.take(socket, null);
    sink.taken = true;
    socket.off('close', onClose);
    return { socket: tunnel, head };
  };
  await runApp(ctx.app, environ, sink, abort);
  if (ctx.accessLog && environ['tsgi.logged'] !== true) {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    log('info', `${socket.remoteAddress ?? '-'} "${escapeLog(line)}" ${sink.status || '-'} ${sink.bytes} ${ms.toFixed(1)}ms`);
  }
}
