/**
 * The FastCGI application server (FastCGI 1.0; F1–F14, S1–S6): `serveFastCgi`
 * and `tsgi fastcgi`. Behind nginx `fastcgi_pass`, Apache `mod_proxy_fcgi`
 * or `mod_fcgid`, and anything else that speaks FastCGI.
 */
import type { Socket } from 'node:net';
import { log } from '../contract/log.js';
import type { App } from '../contract/types.js';
import type { OffloadOptions } from '../gateway/offload.js';
import { FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS, ProtocolStatus, RecordType, Role } from '../protocol/fastcgi/constants.js';
import { decodePairs, encodePairs } from '../protocol/fastcgi/params.js';
import { RecordDecoder, decodeBeginRequest, encodeEndRequest, encodeRecord, encodeUnknownType } from '../protocol/fastcgi/records.js';
import { FcgiRequest, type FcgiContext, type FcgiLink } from './fastcgi-request.js';
import { detach, type Handoff } from './handoff.js';
import { peerFilter, type ListenOptions } from './listen.js';
import { RequestTable } from './request-table.js';
import {
  DrainWait, appContext, startSocketServer, type Connection, type SocketLimits, type SocketServer,
} from './socket-server.js';

/** Options of serveFastCgi. Every limit is on by default (S1). */
export interface FastCgiOptions extends ListenOptions, SocketLimits, OffloadOptions {
  /** URL prefix the app is mounted at: SCRIPT_NAME, stripped from PATH_INFO (F13). */
  mount?: string;
  /** Serve concurrent requests on one connection (F6, default true); false answers FCGI_CANT_MPX_CONN. */
  multiplex?: boolean;
  /**
   * F12: the only peer addresses a TCP listener accepts (a list, or the
   * comma-separated form). Default: the FCGI_WEB_SERVER_ADDRS environment variable.
   */
  webServerAddrs?: string | readonly string[];
  /** `wsgi.multiprocess` (several processes serve the app, e.g. under mod_fcgid). */
  multiprocess?: boolean;
  /**
   * X3: a RESPONDER's app starts once its params are in and reads FCGI_STDIN
   * as it arrives through `environ['tsgi.input']` (nginx:
   * `fastcgi_request_buffering off`). Default false: the body is spooled first.
   */
  streamBodies?: boolean;
}

/** A running FastCGI server. */
export type FastCgiServer = SocketServer;

interface Ctx extends FcgiContext {
  readonly multiplex: boolean;
}

/** Serves `app` over FastCGI. */
export function serveFastCgi(app: App, options: FastCgiOptions = {}): Promise<FastCgiServer> {
  const ctx: Ctx = { ...appContext(app, options), multiplex: options.multiplex ?? true };
  const state = ctx.state;
  const allowed = peerFilter(options.webServerAddrs ?? process.env.FCGI_WEB_SERVER_ADDRS);
  return startSocketServer('FastCGI', options, state, (socket) => {
    // F12: only TCP peers have an address to check; a unix socket is guarded by its file mode.
    if (allowed !== null && socket.remoteAddress !== undefined && !allowed(socket)) {
      log('warn', `FastCGI: refused a connection from ${socket.remoteAddress}: not in FCGI_WEB_SERVER_ADDRS`);
      return null;
    }
    return new FcgiConnection(socket, ctx);
  });
}

/**
 * S6, P11: on a stop with no process to take over, how long the web server
 * must have begun no request on any connection of this process before its
 * kept-alive connections are closed. Closing one while the web server is
 * still sending races it: it may be writing the next request into that very
 * connection (a lost POST; seen behind nginx under load when each connection
 * was judged by its own idle time alone). Under steady load they are served
 * on until --graceful-timeout.
 */
const DRAIN_IDLE_MS = 1000;

/** One connection from the web server: records in, requests out. */
class FcgiConnection implements Connection, FcgiLink {
  readonly ctx: Ctx;
  readonly peer: string;
  #socket: Socket;
  #decoder = new RecordDecoder();
  /** Requests whose END_REQUEST has not been written, by id. */
  #requests = new RequestTable<FcgiRequest>();
  #closeWhenIdle = false;
  #closing = false;
  /** Since when no request has been in progress (the idle and header timeouts, R5). */
  #idleSince: number;
  /** No request has begun on this connection yet. */
  #fresh = true;
  #drain: DrainWait;
  /** Input not decoded yet because the output is backed up (R3). */
  #held: Buffer | null = null;
  #paused = false;
  /** X3: reading stopped because a streamed body's app lags (holdInput). */
  #inputHeld = false;
  /** A chunk is being decoded: replies are gathered into one system call (#consume). */
  #batching = false;
  /** The one reply written while decoding, not yet handed to the socket. */
  #reply: Buffer | null = null;
  #corked = false;
  /** P11: give the connection away at the next request boundary. */
  #handoff: Handoff | null = null;
  /** A boundary check is queued (#release). */
  #releasing = false;

  constructor(socket: Socket, ctx: Ctx) {
    this.#socket = socket;
    this.ctx = ctx;
    this.peer = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'unix socket peer';
    this.#idleSince = ctx.state.now;
    this.#drain = new DrainWait(socket, ctx.state);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', (err) => log('debug', `FastCGI: ${this.peer}: ${err.message}`));
    socket.on('close', this.#onClose);
  }

  readonly #onData = (chunk: Buffer): void => {
    if (!this.#closing) this.#consume(chunk);
  };

  /**
   * Decodes a chunk. Replies written meanwhile go out in one system call: the
   * first is held until the chunk is decoded, and only a second one corks the
   * socket (most chunks carry one request and get one reply, which then costs
   * no cork). R3: once the socket's buffer is full, decoding stops after the
   * current record, the rest of the chunk is held and reading pauses until the
   * peer has taken the backlog, so a peer that sends without reading holds at
   * most a buffer's worth of replies.
   */
  #consume(chunk: Buffer): void {
    this.#batching = true;
    try {
      const used = this.#decoder.push(chunk, this.#onRecord);
      if (used < chunk.length) this.#held = chunk.subarray(used);
    } catch (err) {
      // S2: a protocol error costs this connection only.
      log('warn', `FastCGI: ${this.peer}: ${err instanceof Error ? err.message : String(err)}; closing the connection`);
      this.#destroy();
    } finally {
      this.#batching = false;
      this.#flush();
    }
    if (this.#drain.pending !== null) this.#pauseUntilDrained();
    else if (this.#handoff !== null && this.#requests.size === 0) this.#release(); // P11: e.g. a management record ended the head
  }

  /** Writes the reply held back while a chunk was decoded, or uncorks the socket. */
  #flush(): void {
    const one = this.#reply;
    if (one !== null) {
      this.#reply = null;
      if (!this.#closing && !this.#socket.write(one)) this.#blocked();
    } else if (this.#corked) {
      this.#corked = false;
      this.#socket.uncork();
    }
  }

  /** R3: reading waits for the peer to take what was written. */
  #pauseUntilDrained(): void {
    if (this.#paused || this.#closing) return;
    this.#paused = true;
    this.#socket.pause();
    void this.#drain.pending!.then(() => {
      this.#paused = false;
      if (this.#closing) return;
      const held = this.#held;
      this.#held = null;
      if (held !== null) this.#consume(held);
      if (!this.#paused && !this.#inputHeld && !this.#closing) this.#socket.resume();
    });
  }

  /**
   * X3: a streamed body's app has a high-water mark unread. Reading the
   * socket stops, but only while that request is the connection's only one:
   * with others multiplexed on it (nginx never does), stopping would starve
   * them, so that body buffers on, within maxBodyBytes.
   */
  holdInput(req: FcgiRequest): boolean {
    if (this.#closing || this.#requests.size !== 1 || this.#requests.get(req.id) !== req) return false;
    if (!this.#inputHeld) {
      this.#inputHeld = true;
      this.#socket.pause();
    }
    return true;
  }

  /** X3: the app caught up (or the request ended): read on. */
  releaseInput(): void {
    if (!this.#inputHeld) return;
    this.#inputHeld = false;
    if (!this.#paused && !this.#closing) this.#socket.resume();
  }

  /** One record; false stops decoding while the output is backed up (R3). */
  readonly #onRecord = (type: number, id: number, content: Buffer): boolean => {
    this.#record(type, id, content);
    return this.#drain.pending === null && !this.#closing;
  };

  #record(type: number, id: number, content: Buffer): void {
    if (id === 0) { this.#management(type, content); return; }
    switch (type) {
      case RecordType.BeginRequest: this.#begin(id, content); return;
      case RecordType.Params: this.#requests.get(id)?.params(content); return;
      case RecordType.Stdin: this.#requests.get(id)?.stdin(content); return;
      case RecordType.Data: this.#requests.get(id)?.data(content); return;
      case RecordType.AbortRequest: this.#requests.get(id)?.abortRequest(); return;
      case RecordType.EndRequest:
      case RecordType.Stdout:
      case RecordType.Stderr:
      case RecordType.GetValuesResult:
      case RecordType.UnknownType:
        // F3: records only an application sends; a peer sending them is not a web server.
        throw new Error(`FastCGI: the peer sent record type ${type}, which only an application sends`);
      default:
        // F3: a type this side does not know (or GET_VALUES off request 0).
        this.write(encodeUnknownType(type));
    }
  }

  /** Records on request id 0 (§4). */
  #management(type: number, content: Buffer): void {
    if (type !== RecordType.GetValues) {
      this.write(encodeUnknownType(type));
      return;
    }
    // F4: answer exactly the variables asked for that this side knows.
    const limits = this.ctx.state.limits;
    const known: Record<string, string> = {
      [FCGI_MAX_CONNS]: String(limits.maxConnections),
      [FCGI_MAX_REQS]: String(this.ctx.multiplex ? limits.maxRequests : Math.min(limits.maxRequests, limits.maxConnections)),
      [FCGI_MPXS_CONNS]: this.ctx.multiplex ? '1' : '0',
    };
    const answer: [string, string][] = [];
    for (const name of Object.keys(decodePairs(content))) {
      if (Object.hasOwn(known, name)) answer.push([name, known[name]!]);
    }
    this.write(encodeRecord(RecordType.GetValuesResult, 0, encodePairs(answer)));
  }

  /** FCGI_BEGIN_REQUEST (§5.1). */
  #begin(id: number, content: Buffer): void {
    const { role, flags } = decodeBeginRequest(content);
    if (this.#requests.has(id)) {
      throw new Error(`FastCGI: FCGI_BEGIN_REQUEST for request ${id}, which is still active`);
    }
    const keep = (flags & 1) !== 0;
    const state = this.ctx.state;
    let refusal: ProtocolStatus | undefined;
    if (!this.ctx.multiplex && this.#requests.size > 0) refusal = ProtocolStatus.CantMpxConn; // F6
    else if (role < Role.Responder || role > Role.Filter) refusal = ProtocolStatus.UnknownRole; // F8
    else if (state.full()) refusal = ProtocolStatus.Overloaded;                                  // F11, O7
    else if (this.#requests.size >= state.limits.maxConnectionRequests) refusal = ProtocolStatus.Overloaded; // R3
    if (refusal !== undefined) {
      if (refusal === ProtocolStatus.Overloaded) {
        log('warn', `FastCGI: ${this.peer}: request ${id} refused: ${state.active} requests in flight or waiting, ${this.#requests.size} on this connection (maxRequests ${state.limits.maxRequests}, queue ${state.limits.maxQueued}, maxConnectionRequests ${state.limits.maxConnectionRequests})`);
      }
      this.write(encodeEndRequest(id, 0, refusal));
      if (!keep && this.#requests.size === 0) this.#end();
      return;
    }
    this.#fresh = false;
    // The coarse clock may be a tick behind: a stop reads the real time (P11).
    if (this.ctx.state.draining) this.ctx.state.lastBegan = Date.now();
    this.#requests.add(new FcgiRequest(this, id, role, keep));
  }

  // --- FcgiLink ---

  write(buf: Buffer): boolean {
    if (this.#closing) return true;
    const s = this.#socket;
    if (this.#batching && !this.#corked) {
      // The first reply of the chunk is held (what the socket would answer is known: it has room).
      if (this.#reply === null && s.writableLength + buf.length < s.writableHighWaterMark) {
        this.#reply = buf;
        return true;
      }
      this.#cork();
    }
    return s.write(buf) || this.#blocked();
  }

  /** A second reply in one chunk: cork, after the held one. */
  #cork(): void {
    const s = this.#socket;
    s.cork();
    this.#corked = true;
    const one = this.#reply;
    if (one !== null) {
      this.#reply = null;
      s.write(one);
    }
  }

  writev(bufs: Buffer[]): boolean {
    if (this.#closing) return true;
    const s = this.#socket;
    if (this.#batching && !this.#corked) this.#cork();
    s.cork();
    let ok = true;
    for (let i = 0; i < bufs.length; i++) ok = s.write(bufs[i]!);
    s.uncork();
    return ok || this.#blocked();
  }

  /** The socket's buffer is full: wait for it to drain (for the write timeout too), reading paused (R3). */
  #blocked(): false {
    void this.#drain.wait();
    this.#pauseUntilDrained();
    return false;
  }

  drain(): Promise<void> {
    return this.#drain.pending ?? Promise.resolve();
  }

  ended(req: FcgiRequest): void {
    this.#requests.remove(req);
    this.releaseInput();
    if (!req.keepConn) this.#closeWhenIdle = true; // F5
    if (this.#requests.size === 0) {
      this.#idleSince = this.ctx.state.draining ? Date.now() : this.ctx.state.now;
      // P11: a drain never closes here, right after a response: the web server may already be
      // writing its next request into the connection. It is handed off, or closed by sweep().
      if (this.#closeWhenIdle) this.#end();
      else if (this.#handoff !== null) this.#release();
    }
  }

  cut(req: FcgiRequest, reason: string): void {
    log('warn', `FastCGI: ${this.peer}: request ${req.id}: response cut off (${reason}); closing the connection`);
    this.#requests.remove(req);
    this.#end();
  }

  // --- Connection ---

  sweep(now: number): void {
    if (this.#closing) return;
    const limits = this.ctx.state.limits;
    if (this.#drain.stalled(now, limits.writeTimeoutMs)) {
      log('warn', `FastCGI: ${this.peer}: the web server took no response bytes for ${limits.writeTimeoutMs} ms; closing the connection`);
      this.#destroy();
      return;
    }
    // While the peer has replies to take, the write timeout above is the one that applies.
    if (this.#drain.pending !== null) return;
    if (this.#requests.size === 0) {
      // R5: a connection that has not begun a request (or has begun a record and stalled) gets the
      // short header timeout; one that served requests and waits for the next, the idle timeout.
      const waiting = this.#fresh || this.#decoder.pending > 0;
      if (waiting && now - this.#idleSince > limits.headerTimeoutMs) {
        log('debug', `FastCGI: ${this.peer}: no request within ${limits.headerTimeoutMs} ms; closing the connection`);
        this.#destroy();
      } else if (this.ctx.state.draining
        ? now - Math.max(this.#idleSince, this.ctx.state.lastBegan) > DRAIN_IDLE_MS
        : now - this.#idleSince > limits.idleTimeoutMs) {
        // Timers run before the loop polls for input: a process that was held up (a busy
        // machine) may have a request waiting unread on this very connection. So the close waits
        // for the poll, and happens only if nothing arrived meanwhile (P11).
        const read = this.#socket.bytesRead;
        setImmediate(() => {
          if (this.#requests.size === 0 && this.#decoder.pending === 0 && this.#socket.bytesRead === read) this.#end();
        });
      }
      return;
    }
    for (const req of this.#requests.list()) {
      const limit = req.inHead ? Math.min(limits.headerTimeoutMs, limits.readTimeoutMs) : req.receiving ? limits.readTimeoutMs : Infinity;
      if (now - req.began > limit) {
        log('warn', `FastCGI: ${this.peer}: request ${req.id} not received within ${limit} ms; closing the connection`);
        this.#destroy();
        return;
      }
    }
  }

  idleSince(): number | undefined {
    return this.#requests.size === 0 && this.#decoder.pending === 0 && !this.#closing ? this.#idleSince : undefined;
  }

  headSince(): number | undefined {
    if (this.#closing) return undefined;
    if (this.#requests.size === 0) return this.#decoder.pending > 0 ? this.#idleSince : undefined;
    // Every request on it still in its params: nothing started, nothing lost by closing it.
    let since = Infinity;
    for (const req of this.#requests.list()) {
      if (!req.inHead) return undefined;
      since = Math.min(since, req.began);
    }
    return since;
  }

  evict(): void {
    this.#destroy();
  }

  destroy(): void {
    this.#destroy();
  }

  shutdown(): void {
    // S6, P11: an idle keep-alive connection is closed by sweep(), once the web server has gone
    // quiet (DRAIN_IDLE_MS), not at once: it may have a request on its way on this connection.
  }

  handOff(handoff: Handoff): void {
    this.#handoff = handoff;
    this.#release();
  }

  /**
   * P11: hands the connection off if it is at a request boundary: no request
   * begun (not even part of a record), no input held, every reply with the
   * kernel. Checked on the next tick, after the chunk being decoded (which
   * may begin another request) and its replies are done; libuv reads only
   * after that tick, so nothing can arrive between the check and the send.
   */
  #release(): void {
    if (this.#releasing || this.#closing) return;
    this.#releasing = true;
    process.nextTick(this.#tryRelease);
  }

  readonly #tryRelease = (): void => {
    this.#releasing = false;
    const handoff = this.#handoff;
    if (handoff === null || this.#closing) return;
    if (this.#requests.size > 0 || this.#decoder.pending > 0 || this.#held !== null || this.#paused || this.#reply !== null || this.#corked) return;
    const s = this.#socket;
    if (s.writableLength > 0) {
      // A reply still on its way to the kernel: the check runs again once it is written.
      this.#releasing = true;
      s.write(Buffer.alloc(0), () => { this.#releasing = false; this.#release(); });
      return;
    }
    s.off('data', this.#onData);
    const rest = detach(s);
    if (rest === null) {
      // This Node cannot stop a socket reading: serve on, and close as a stop does.
      this.#handoff = null;
      s.on('data', this.#onData);
      s.resume();
      return;
    }
    this.#closing = true;
    s.off('end', this.#onEnd);
    s.off('close', this.#onClose);
    this.ctx.state.remove(this);
    handoff(s, rest);
  };

  /** Close after what was written has been sent. */
  #end(): void {
    if (this.#closing) return;
    if (this.#reply !== null) this.#flush(); // the last reply goes before the end
    this.#closing = true;
    this.#socket.end();
    // A peer that never closes its side must not keep the socket forever.
    this.#socket.setTimeout(5000, () => this.#socket.destroy());
  }

  #destroy(): void {
    this.#closing = true;
    this.#socket.destroy();
  }

  /**
   * R6: the web server shut down its sending side. Requests received whole
   * are answered in full (FastCGI lets a peer half-close); one still
   * arriving can never complete and is dropped; then the connection closes.
   */
  readonly #onEnd = (): void => {
    this.#closeWhenIdle = true;
    for (const req of this.#requests.list()) {
      // O7: one waiting for a slot is not run either: nginx closes its upstream connection when
      // its client leaves (it never half-closes one it awaits a response on).
      if (req.receiving || req.waiting) {
        this.#requests.remove(req);
        req.connectionLost();
      }
    }
    if (this.#requests.size === 0) this.#end();
  };

  readonly #onClose = (): void => {
    this.#closing = true;
    for (const req of this.#requests.list()) req.connectionLost();
    this.#requests.clear();
    this.ctx.state.remove(this);
  };
}
