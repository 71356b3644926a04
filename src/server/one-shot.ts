/**
 * The connection of the servers that take one request per connection, uwsgi
 * (U1–U8) and SCGI (G1–G5): a request head (the uwsgi vars packet, the SCGI
 * netstring), the body (exactly CONTENT_LENGTH bytes: spooled, or streamed to
 * a running app with X3), then a response delimited by closing the
 * connection, or an upgraded connection's tunnel (W2). What differs between
 * the two is a OneShotProtocol: the head's decoder, the response's first line
 * and how a 101 head is written for the front.
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { GatewayError } from '../contract/errors.js';
import { log } from '../contract/log.js';
import { wantsUpgrade } from '../contract/upgrade.js';
import type { Header } from '../contract/types.js';
import type { ResponseSink } from '../gateway/engine.js';
import { LiveBody } from '../gateway/body-stream.js';
import { admit, environFor, streamingEnviron, refusalResponse, type ReceivedBody, type RefusalStatus } from '../gateway/intake.js';
import { BodySpool } from '../gateway/spool.js';
import { detach, type Handoff } from './handoff.js';
import { RequestLife } from './request-life.js';
import type { HeadRewrite, Tunnel } from './tunnel.js';
import type { App } from '../contract/types.js';
import { ErrorStream as Errors } from '../gateway/errors-stream.js';
import type { OffloadOptions } from '../gateway/offload.js';
import type { ListenOptions } from './listen.js';
import { TunnelPool as Tunnels, type TunnelLimits } from './tunnel.js';
import {
  DrainWait, appContext, startSocketServer, type AppContext, type Connection, type Limits, type SocketLimits, type SocketServer,
} from './socket-server.js';

/** A push decoder of one request head. */
export interface HeadDecoder {
  /** Bytes held for a head not complete yet. */
  readonly pending: number;
}

/** What a protocol brings to OneShotConnection. */
export interface OneShotProtocol<D extends HeadDecoder> {
  /** For log lines: `uwsgi`, `scgi`. */
  readonly name: string;
  /** A decoder for one connection's request head. */
  decoder(): D;
  /** Feeds `chunk`: null until the head is complete, then its variables and the bytes after it. */
  take(decoder: D, chunk: Buffer): { vars: Record<string, string>; rest: Buffer } | null;
  /** The response head's first line for `status`, CR LF included. */
  statusLine(vars: Record<string, string>, status: string): string;
  /** How the app's `101` head is rewritten for the front (W2), or null to pass it as written. */
  readonly tunnelHead: HeadRewrite | null;
}

/** What every connection of one server shares. */
export interface OneShotCtx<D extends HeadDecoder> extends AppContext {
  readonly protocol: OneShotProtocol<D>;
  readonly errors: Errors;
  readonly tunnels: Tunnels;
}

/** Options of serveUwsgi and serveScgi. Every limit is on by default (S1). */
export interface OneShotOptions extends ListenOptions, SocketLimits, OffloadOptions, TunnelLimits {
  /** URL prefix the app is mounted at: SCRIPT_NAME, stripped from PATH_INFO (U8, G4). */
  mount?: string;
  /** `wsgi.multiprocess`. */
  multiprocess?: boolean;
  /**
   * X3: the app starts once the request head is in and reads the body as it
   * arrives through `environ['tsgi.input']` (nginx: `uwsgi_request_buffering
   * off`). Default false: the body is spooled first.
   */
  streamBodies?: boolean;
}

/** Serves `app` with `protocol` (made for the server's limits), one request per connection. */
export function serveOneShot<D extends HeadDecoder>(app: App, options: OneShotOptions, protocol: (limits: Limits) => OneShotProtocol<D>): Promise<SocketServer> {
  const base = appContext(app, options);
  const p = protocol(base.state.limits);
  const ctx: OneShotCtx<D> = { ...base, protocol: p, errors: Errors.toFd(2), tunnels: new Tunnels(p.name, options, () => base.state.draining) };
  const state = ctx.state;
  return startSocketServer(p.name, options, state, (socket) => {
    if (state.full()) {
      // S1, O7: past the request limit and the queue's bound a connection is refused at once rather than queued without end.
      log('warn', `${p.name}: refused a connection: ${state.active} requests in flight or waiting (maxRequests ${state.limits.maxRequests} + queue ${state.limits.maxQueued})`);
      return null;
    }
    return new OneShotConnection(socket, ctx);
  });
}

const enum Phase { Head, Body, Running, Done, Tunnel }

const EMPTY = Buffer.alloc(0);

function destroySocket(socket: Socket): void {
  socket.destroy();
}

/** One connection: one request. */
export class OneShotConnection<D extends HeadDecoder> extends RequestLife implements Connection, ResponseSink {
  #socket: Socket;
  #ctx: OneShotCtx<D>;
  #p: OneShotProtocol<D>;
  #decoder: D;
  #phase = Phase.Head;
  #began: number;
  #vars: Record<string, string> | null = null;
  #expect = 0;
  #spool: BodySpool | null = null;
  /** X3: the body streaming to a running app (streamBodies). */
  #live: LiveBody | null = null;
  #ended = false;
  #drain: DrainWait;
  /** Bytes read past the request (the first bytes of an upgraded connection, W2). */
  #rest: Buffer = EMPTY;
  /** W2: the request asks to switch protocols. */
  #mayUpgrade = false;

  constructor(socket: Socket, ctx: OneShotCtx<D>) {
    super(ctx);
    this.#socket = socket;
    this.#ctx = ctx;
    this.#p = ctx.protocol;
    this.#began = ctx.state.now;
    this.#decoder = ctx.protocol.decoder();
    this.#drain = new DrainWait(socket, ctx.state);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', (err) => log('debug', `${this.#p.name}: ${this.#peer}: ${err.message}`));
    socket.on('close', this.#onClose);
  }

  get #peer(): string {
    const s = this.#socket;
    return s.remoteAddress ? `${s.remoteAddress}:${s.remotePort}` : 'unix socket peer';
  }

  readonly #onData = (chunk: Buffer): void => {
    try {
      if (this.#phase === Phase.Head) {
        const got = this.#p.take(this.#decoder, chunk);
        if (got === null) return;
        // Kept before the app can run: an upgrade takes what follows the request (W2).
        this.#rest = got.rest;
        if (this.#head(got.vars)) {
          this.#rest = EMPTY;
          this.#body(got.rest);
        }
      } else if (this.#live !== null) {
        this.#body(chunk);
      } else if (this.#phase === Phase.Body) {
        this.#body(chunk);
      }
      // U3, G3: bytes after the body are ignored.
    } catch (err) {
      // S2, U7, G1: a malformed request head costs this connection only, and the app is not called.
      log('warn', `${this.#p.name}: ${this.#peer}: ${err instanceof Error ? err.message : String(err)}; closing the connection`);
      this.#phase = Phase.Done;
      this.#socket.destroy();
    }
  };

  /** The request head arrived; true when a body is to be read. */
  #head(vars: Record<string, string>): boolean {
    this.#vars = vars;
    // U3, G3: the body is exactly CONTENT_LENGTH bytes, whatever HTTP_TRANSFER_ENCODING says (the web server de-chunks).
    const plan = admit(vars, { mount: this.#ctx.mount, maxBodyBytes: this.#ctx.state.limits.spool.maxBytes, streams: false });
    if (plan.kind === 'refuse') {
      this.#reject(plan);
      return false;
    }
    this.#expect = plan.kind === 'length' ? plan.length : 0;
    this.admit();
    if (this.#expect === 0) {
      this.#start();
      return false;
    }
    if (this.#ctx.streamBodies) {
      // X3: the app starts now; back-pressure is this connection's own socket (one request per connection).
      const s = this.#socket;
      this.#live = new LiveBody({ pause: () => s.pause(), resume: () => s.resume() }, this.#ctx.state.limits.spool.maxBytes);
      this.#startStreaming();
      return true;
    }
    this.#phase = Phase.Body;
    return true;
  }

  #body(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const live = this.#live;
    if (live !== null) {
      // U3, G3: exactly CONTENT_LENGTH bytes; what follows is ignored.
      if (live.settled) return;
      const room = this.#expect - live.received;
      live.push(room < chunk.length ? chunk.subarray(0, room) : chunk);
      if (live.received >= this.#expect) {
        live.end();
        this.#socket.pause();
      }
      return;
    }
    const spool = (this.#spool ??= new BodySpool(this.#ctx.state.limits.spool, this.#expect));
    const room = this.#expect - spool.length;
    spool.push(room < chunk.length ? chunk.subarray(0, room) : chunk);
    if (room < chunk.length) this.#rest = chunk.subarray(room);
    if (spool.length >= this.#expect) this.#start();
  }

  #start(): void {
    this.#phase = Phase.Running;
    // U3, G3: nothing after the body matters; reading stops (R3: a peer cannot make us buffer it).
    this.#socket.pause();
    let body: ReceivedBody | null = null;
    if (this.#spool !== null) {
      body = { source: this.own(this.#spool.source()), length: this.#spool.length };
      this.#spool = null;
    }
    const environ = environFor(this.#vars!, body, {
      errors: this.#ctx.errors,
      abort: this.abortState,
      multiprocess: this.#ctx.multiprocess,
      runOnce: false,
      clean: true,
      offload: this.#ctx.offload,
    });
    // W2: a request that asks to switch protocols may take the connection.
    // (A closure only then: the hot path allocates none.)
    if (wantsUpgrade(environ)) { this.#mayUpgrade = true; environ['tsgi.upgrade'] = () => this.#upgrade(); }
    this.run(environ, this);
  }

  /** W2: the app takes the connection: from now on a byte tunnel, and no response of the engine's is sent. */
  #upgrade(): { socket: Tunnel; head: Buffer } {
    if (this.#phase !== Phase.Running || this.#ended) {
      throw new GatewayError('ERR_STREAM_MISUSE', `${this.#p.name}: tsgi.upgrade() after the response began, or twice`);
    }
    const tunnel = this.#ctx.tunnels.take(this.#socket, this.#p.tunnelHead);
    const s = this.#socket;
    s.off('data', this.#onData);
    s.off('end', this.#onEnd);
    this.#phase = Phase.Tunnel;
    this.#ended = true;
    const head = this.#rest;
    this.#rest = EMPTY;
    return { socket: tunnel, head };
  }

  /** O7: while the request waits for a slot, the connection is read (and what comes ignored, U3, G3) to see the web server leave. */
  protected override waitChanged(waiting: boolean): void {
    // W2: not for a request that may upgrade: what follows it belongs to the tunnel. X3: nor for
    // one whose body is still streaming in: that body's reader drives the socket.
    if (this.#mayUpgrade || this.#live !== null) return;
    if (waiting) this.#socket.resume();
    else this.#socket.pause();
  }

  /** X3: runs the app with the body still coming. */
  #startStreaming(): void {
    this.#phase = Phase.Running;
    const environ = streamingEnviron(this.#vars!, this.#live!, {
      errors: this.#ctx.errors,
      abort: this.abortState,
      multiprocess: this.#ctx.multiprocess,
      runOnce: false,
      clean: true,
      offload: this.#ctx.offload,
    });
    this.run(environ, this);
  }

  protected appFinished(): void {
    if (this.#phase === Phase.Tunnel) return;
    // X3: an app that answered without reading its whole body: the rest is not read.
    this.#live?.fail(new Error('the response was sent before the body was read'));
    this.#phase = Phase.Done;
    if (!this.#ended) this.#cutOff();
  }

  /** Answers without running the app (400, 413), through the same framing as any response, and closes. */
  #reject(plan: { status: RefusalStatus; reason: string }): void {
    log('warn', `${this.#p.name}: ${this.#peer}: ${plan.reason}`);
    this.#phase = Phase.Done;
    const r = refusalResponse(plan);
    void this.head(r.status, r.headers, r.body, true);
  }

  #dispose(): void {
    this.#spool?.dispose();
    this.#spool = null;
    this.dispose();
  }

  // --- ResponseSink (U4, G2) ---

  head(status: string, headers: readonly Header[], chunk: Uint8Array | null, last: boolean): void | Promise<void> {
    if (this.#ended) return;
    let head = this.#p.statusLine(this.#vars!, status);
    for (let i = 0; i < headers.length; i++) head += `${headers[i]![0]}: ${headers[i]![1]}\r\n`;
    head += '\r\n';
    const clen = chunk === null ? 0 : chunk.length;
    const s = this.#socket;
    let ok: boolean;
    if (clen <= 16384) {
      // One buffer, one write: head and body together.
      const out = Buffer.allocUnsafe(head.length + clen);
      out.write(head, 0, 'latin1');
      if (chunk !== null) out.set(chunk, head.length);
      if (last) { this.#ended = true; s.write(out, this.#close); return; }
      ok = s.write(out);
    } else {
      s.cork();
      s.write(Buffer.from(head, 'latin1'));
      ok = s.write(chunk!);
      s.uncork();
      if (last) { this.#ended = true; s.write(EMPTY, this.#close); return; }
    }
    if (!ok) return this.#drain.wait();
  }

  write(chunk: Uint8Array): void | Promise<void> {
    if (this.#ended) return;
    if (!this.#socket.write(chunk)) return this.#drain.wait();
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#socket.write(EMPTY, this.#close);
  }

  /**
   * U4, G2: the response is complete once its bytes are with the kernel: close
   * the connection then. Closing outright (rather than a half-close and a
   * wait for the web server's FIN) saves a system call and a wake-up per
   * request; the web server has sent all it had to send.
   */
  readonly #close = (): void => {
    // Not from within the write's callback: Node checks for a destroyed stream right after the
    // callback returns, and then makes an ERR_STREAM_DESTROYED error (with its stack trace) for
    // callbacks that no one has registered, on every request.
    process.nextTick(destroySocket, this.#socket);
  };

  abort(): void {
    if (this.#ended) return;
    this.#cutOff();
  }

  /**
   * The response cannot be completed. A response here is delimited by the
   * close, so an orderly close would make a cut-off body look complete: over
   * TCP the connection is reset instead, which nginx and Apache report as an
   * upstream error. A unix socket cannot be reset: there the web server can
   * only tell when the response declared its Content-Length.
   */
  #cutOff(): void {
    this.#ended = true;
    const s = this.#socket;
    log('warn', `${this.#p.name}: ${this.#peer}: response cut off; ${s.remoteAddress !== undefined ? 'resetting' : 'closing'} the connection`);
    if (s.remoteAddress !== undefined) s.resetAndDestroy();
    else s.destroy();
  }

  // --- Connection ---

  sweep(now: number): void {
    const limits = this.#ctx.state.limits;
    // R5: the request head within the header timeout, the whole request within the read timeout.
    const receiving = this.#phase === Phase.Body || (this.#live !== null && !this.#live.settled);
    const limit = this.#phase === Phase.Head ? Math.min(limits.headerTimeoutMs, limits.readTimeoutMs) : receiving ? limits.readTimeoutMs : Infinity;
    if (now - this.#began > limit) {
      log(this.#phase === Phase.Head && this.#decoder.pending === 0 ? 'debug' : 'warn',
        `${this.#p.name}: ${this.#peer}: request not received within ${limit} ms; closing the connection`);
      this.#phase = Phase.Done;
      this.#socket.destroy();
    } else if (this.#drain.stalled(now, limits.writeTimeoutMs)) {
      log('warn', `${this.#p.name}: ${this.#peer}: the web server took no response bytes for ${limits.writeTimeoutMs} ms; closing the connection`);
      this.abortState.abort(new Error(`${this.#p.name}: write timeout`));
      this.#socket.destroy();
    }
  }

  shutdown(): void {
    // S6, P11: a request in flight finishes. So does one not received yet: the web server opened
    // the connection to send it (accepted just before the stop, it may be on its way), and closing
    // it would lose it. The header timeout still bounds a peer that sends nothing.
  }

  /**
   * P11: one request per connection, so the only connection there is to give
   * away is one that has sent nothing yet (accepted just before the worker
   * began to retire); once its request has begun, it is served here and the
   * connection closes with the response, as always.
   */
  handOff(handoff: Handoff): void {
    if (this.#phase !== Phase.Head || this.#decoder.pending > 0) return;
    const s = this.#socket;
    s.off('data', this.#onData);
    const rest = detach(s);
    if (rest === null) { s.on('data', this.#onData); s.resume(); return; }
    this.#phase = Phase.Done;
    s.off('end', this.#onEnd);
    s.off('close', this.#onClose);
    this.release();
    this.#ctx.state.remove(this);
    handoff(s, rest);
  }

  idleSince(): number | undefined {
    return this.#phase === Phase.Head && this.#decoder.pending === 0 ? this.#began : undefined;
  }

  headSince(): number | undefined {
    return this.#phase === Phase.Head && this.#decoder.pending > 0 ? this.#began : undefined;
  }

  evict(): void {
    this.#phase = Phase.Done;
    this.#socket.destroy();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  /**
   * The web server shut down its sending side before the whole request
   * arrived: it can never be answered. Once the request is whole, reading has
   * stopped and a half-close is not even seen (R6): the response goes out in
   * full. A web server that goes away altogether is noticed at the next write.
   */
  readonly #onEnd = (): void => {
    this.#live?.fail(new GatewayError('ERR_BAD_REQUEST_BODY', `${this.#p.name}: the web server closed the connection during the body`));
    if (this.waiting) {
      // O7: the web server closed the connection while the request waited for a slot: its client
      // has left (nginx and Apache close an upstream connection, never half-close it, when their
      // client goes). The request is dropped unrun (the close aborts it).
      this.#ended = true;
      this.#socket.destroy();
      return;
    }
    if (this.#phase === Phase.Head || this.#phase === Phase.Body) {
      this.#phase = Phase.Done;
      this.#dispose();
      this.#socket.destroy();
    }
  };

  readonly #onClose = (): void => {
    this.#live?.fail(new GatewayError('ERR_BAD_REQUEST_BODY', `${this.#p.name}: the connection closed during the body`));
    if (this.#phase === Phase.Running || this.#phase === Phase.Tunnel) {
      this.#ended = true;
      this.abortState.abort(new Error(`${this.#p.name}: the connection closed`));
    } else if (this.#phase === Phase.Body) {
      this.#dispose();
    }
    this.release();
    this.#ctx.state.remove(this);
  };
}
