/**
 * One FastCGI request on a connection: its params and body streams in, the
 * app run by the engine, and the response framed as STDOUT records (this
 * class is the engine's ResponseSink).
 */
import { Buffer } from 'node:buffer';
import { GatewayError } from '../contract/errors.js';
import { log } from '../contract/log.js';
import type { Header } from '../contract/types.js';
import type { ResponseSink } from '../gateway/engine.js';
import { environVars } from '../gateway/environ.js';
import { ErrorStream } from '../gateway/errors-stream.js';
import { InputStream, MemorySource } from '../gateway/input.js';
import { LiveBody } from '../gateway/body-stream.js';
import { admit, environFor, streamingEnviron, limitRefusal, refusalResponse, type ReceivedBody, type RefusalStatus } from '../gateway/intake.js';
import { BodySpool } from '../gateway/spool.js';
import { cgiHead } from '../protocol/cgi.js';
import { HEADER_LEN, MAX_CONTENT, ProtocolStatus, RecordType, Role } from '../protocol/fastcgi/constants.js';
import { ParamsDecoder, paramsMemo } from '../protocol/fastcgi/params.js';
import { addCgiVar } from '../protocol/vars.js';
import { END_REQUEST_LEN, endRequestInto, encodeStream, paddingFor, writeHeader } from '../protocol/fastcgi/records.js';
import { RequestLife } from './request-life.js';
import type { AppContext } from './socket-server.js';

/** What a request needs from the server. */
export type FcgiContext = AppContext;

/** What a request needs from its connection. */
export interface FcgiLink {
  readonly ctx: FcgiContext;
  readonly peer: string;
  /** Queue bytes; false when the socket's buffer is full (wait for drain()). */
  write(buf: Buffer): boolean;
  /** Queue several buffers in one system call. */
  writev(bufs: Buffer[]): boolean;
  /** Resolves when the socket can take more (or is gone). */
  drain(): Promise<void>;
  /** X3: stop reading the socket for this request's streamed body; false when others share the connection. */
  holdInput(req: FcgiRequest): boolean;
  /** X3: read on. */
  releaseInput(): void;
  /** The request's FCGI_END_REQUEST was written (or it ended without one): its id is free. */
  ended(req: FcgiRequest): void;
  /** The response cannot be completed: close the connection so the web server sees it cut off. */
  cut(req: FcgiRequest, reason: string): void;
}

const enum Phase { Params, Body, Running, Done }

const ROLE_NAMES = ['', 'RESPONDER', 'AUTHORIZER', 'FILTER'];
const ZEROS = Buffer.alloc(8);
const NO_SOURCE = new MemorySource(Buffer.alloc(0));
/** How long an app may run on after FCGI_ABORT_REQUEST before the request is ended without it (F7). */
const ABORT_GRACE_MS = 2000;

/** Every request's params, stored for an environ (C3, C7), built against the request before. */
const ENVIRON_PARAMS = paramsMemo(addCgiVar, environVars);

/** One request (FastCGI 1.0 §5). */
export class FcgiRequest extends RequestLife implements ResponseSink {
  readonly id: number;
  readonly keepConn: boolean;
  readonly role: number;
  /** When BEGIN_REQUEST arrived (the server's coarse clock): for the read timeout. */
  readonly began: number;
  #link: FcgiLink;
  #phase = Phase.Params;
  #vars: Record<string, string> | null = null;
  #params: ParamsDecoder;
  #expect = 0;            // STDIN bytes to wait for; -1: until the stream ends
  #body: BodySpool | null = null;
  /** X3: the body streaming to a running app (streamBodies). */
  #live: LiveBody | null = null;
  #data: BodySpool | null = null;
  #dataExpect = 0;
  #stdinDone = false;
  #dataDone = false;
  #byServer = false;      // the web server sent FCGI_ABORT_REQUEST
  #ended = false;         // FCGI_END_REQUEST written: nothing more goes out (F9)
  #stderr = false;        // an FCGI_STDERR stream was opened

  constructor(link: FcgiLink, id: number, role: number, keepConn: boolean) {
    super(link.ctx);
    this.#link = link;
    this.id = id;
    this.role = role;
    this.keepConn = keepConn;
    const state = link.ctx.state;
    this.admit();
    this.began = state.now;
    this.#params = new ParamsDecoder(state.limits.params, ENVIRON_PARAMS);
  }

  /** Still receiving its params or body (the read timeout applies). */
  get receiving(): boolean {
    // X3: a streamed body is under the read timeout until it is all in, as a spooled one is.
    return this.#phase < Phase.Running || (this.#live !== null && !this.#live.settled);
  }

  /** Still receiving its params (the header timeout applies, R5). */
  get inHead(): boolean {
    return this.#phase === Phase.Params;
  }

  /** FCGI_PARAMS content; the empty record ends the stream. Throws on a malformed stream (the connection closes). */
  params(content: Buffer): void {
    if (this.#phase !== Phase.Params) {
      throw new GatewayError('ERR_FCGI_BAD_RECORD', `FastCGI: FCGI_PARAMS for request ${this.id} after its params stream ended`);
    }
    if (content.length > 0) { this.#params.push(content); return; }
    this.#params.end();
    const vars = this.#vars = this.#params.vars;
    const ctx = this.#link.ctx;
    if (this.role === Role.Authorizer) {
      // §6.3: an authorizer gets no body (its CONTENT_LENGTH describes the request being authorized).
      admit(vars, { mount: ctx.mount, maxBodyBytes: Infinity, streams: false });
      this.#stdinDone = this.#dataDone = true;
      this.#start();
      return;
    }
    const plan = admit(vars, { mount: ctx.mount, maxBodyBytes: ctx.state.limits.spool.maxBytes, streams: true });
    if (plan.kind === 'refuse') {
      this.#reject(plan);
      return;
    }
    this.#expect = plan.kind === 'length' ? plan.length : plan.kind === 'stream' ? -1 : 0;
    if (this.role === Role.Filter) {
      const dl = vars.FCGI_DATA_LENGTH ?? '';
      this.#dataExpect = /^[0-9]{1,15}$/.test(dl) ? Number(dl) : -1;
    } else {
      this.#dataDone = true;
    }
    this.#stdinDone = this.#expect === 0;
    this.#dataDone ||= this.#dataExpect === 0;
    if (ctx.streamBodies && this.role === Role.Responder && !this.#stdinDone) {
      // X3: the app starts now and reads FCGI_STDIN as it comes.
      let held = false;
      this.#live = new LiveBody({
        pause: () => { held = this.#link.holdInput(this); },
        resume: () => { if (held) { held = false; this.#link.releaseInput(); } },
      }, ctx.state.limits.spool.maxBytes);
      this.#start();
      return;
    }
    if (this.#stdinDone && this.#dataDone) this.#start();
    else this.#phase = Phase.Body;
  }

  /** FCGI_STDIN content; the empty record ends the stream. */
  stdin(content: Buffer): void {
    const live = this.#live;
    if (live !== null) {
      if (live.settled) return; // the rest of a body that failed, or that the app stopped reading
      if (content.length === 0) { live.end(); return; }
      const room = this.#expect < 0 ? content.length : this.#expect - live.received;
      live.push(room < content.length ? content.subarray(0, room) : content);
      if (this.#expect >= 0 && live.received >= this.#expect) live.end();
      return;
    }
    if (this.#phase !== Phase.Body || this.#stdinDone) return; // trailing records of a request already answered
    this.#body ??= new BodySpool(this.#link.ctx.state.limits.spool, this.#expect);
    if (this.#feed(this.#body, this.#expect, content)) {
      this.#stdinDone = true;
      if (this.#dataDone) this.#start();
    }
  }

  /** FCGI_DATA content (FILTER role, §6.4), after STDIN. */
  data(content: Buffer): void {
    if (this.#phase !== Phase.Body || this.#dataDone || this.role !== Role.Filter) return;
    this.#data ??= new BodySpool(this.#link.ctx.state.limits.spool, this.#dataExpect);
    if (this.#feed(this.#data, this.#dataExpect, content)) {
      this.#dataDone = true;
      if (this.#stdinDone) this.#start();
    }
  }

  /** Adds stream bytes to a spool; true once the stream is complete. */
  #feed(spool: BodySpool, expect: number, content: Buffer): boolean {
    if (content.length === 0) return true; // end of stream; a short body shows as EOF in wsgi.input
    const room = expect < 0 ? content.length : expect - spool.length;
    try {
      spool.push(room < content.length ? content.subarray(0, room) : content);
    } catch (err) {
      const refusal = limitRefusal(err);
      if (refusal === undefined) throw err;
      this.#reject(refusal);
      return false;
    }
    return expect >= 0 && spool.length >= expect;
  }

  /** FCGI_ABORT_REQUEST (§5.4, F7). */
  abortRequest(): void {
    if (this.#phase === Phase.Done) return;
    if (this.#phase !== Phase.Running) {
      // The app never started: nothing to stop.
      this.#dispose();
      this.#phase = Phase.Done;
      this.#writeEnd();
      return;
    }
    this.#byServer = true;
    this.#live?.fail(new GatewayError('ERR_BAD_REQUEST_BODY', 'FastCGI: the web server aborted the request during the body'));
    this.abortState.abort(new Error('FastCGI: the web server aborted the request (FCGI_ABORT_REQUEST)'));
    // Normally END_REQUEST follows once the body stopped and close() ran; an app that ignores
    // tsgi.abort must not keep the web server waiting.
    setTimeout(() => { if (!this.#ended) this.#writeEnd(); }, ABORT_GRACE_MS).unref();
  }

  /** The connection is gone: abort whatever runs; nothing can be written. */
  connectionLost(): void {
    this.#ended = true;
    this.release();
    if (this.#phase === Phase.Running) {
      this.#live?.fail(new GatewayError('ERR_BAD_REQUEST_BODY', 'FastCGI: the connection to the web server closed during the body'));
      this.abortState.abort(new Error('FastCGI: the connection to the web server closed'));
    } else if (this.#phase !== Phase.Done) {
      this.#dispose();
      this.#phase = Phase.Done;
    }
  }

  /** Answers without running the app (400, 413), then drops the rest of the request's input. */
  #reject(plan: { status: RefusalStatus; reason: string }): void {
    log('warn', `FastCGI: ${this.#link.peer}: request ${this.id}: ${plan.reason}`);
    this.#dispose();
    this.#phase = Phase.Done;
    const r = refusalResponse(plan);
    void this.#out(cgiHead(r.status, r.headers), r.body, true);
  }

  #start(): void {
    this.#phase = Phase.Running;
    const ctx = this.#link.ctx;
    const vars = this.#vars!;
    vars.FCGI_ROLE = ROLE_NAMES[this.role]!;
    const extras = { errors: new ErrorStream(this), abort: this.abortState, multiprocess: ctx.multiprocess, runOnce: false, clean: true, offload: ctx.offload };
    const environ = this.#live !== null
      ? streamingEnviron(vars, this.#live, extras)
      : environFor(vars, this.#received(this.#body, this.#expect < 0), extras);
    this.#body = null;
    if (this.role === Role.Filter) {
      // F8: the filtered file (FCGI_DATA) as a second input stream.
      const data = this.#received(this.#data ?? new BodySpool(ctx.state.limits.spool), true)!;
      this.#data = null;
      (environ as Record<string, unknown>)['tsgi.data'] = new InputStream(data.source, data.length);
    }
    this.run(environ, this);
  }

  /** A finished spool as the body the intake takes; null for no body (or, unless `streamed`, an empty one). */
  #received(spool: BodySpool | null, streamed: boolean): ReceivedBody | null {
    if (spool === null) return streamed ? { source: NO_SOURCE, length: 0 } : null;
    return { source: this.own(spool.source()), length: spool.length };
  }

  protected appFinished(): void {
    // X3: an app that answered without reading its whole body: the rest of FCGI_STDIN is dropped as it comes.
    this.#live?.fail(new Error('the response was sent before the body was read'));
    this.#phase = Phase.Done;
    if (!this.#ended) this.#writeEnd();
  }

  #dispose(): void {
    this.#body?.dispose();
    this.#data?.dispose();
    this.#body = this.#data = null;
    this.dispose();
  }

  // --- ResponseSink: the engine's calls, framed as STDOUT records (F9) ---

  head(status: string, headers: readonly Header[], chunk: Uint8Array | null, last: boolean): void | Promise<void> {
    if (this.#ended) return;
    return this.#out(cgiHead(status, headers), chunk, last);
  }

  write(chunk: Uint8Array): void | Promise<void> {
    if (this.#ended) return;
    return this.#out(null, chunk, false);
  }

  end(): void {
    if (!this.#ended) void this.#out(null, null, true);
  }

  abort(reason: unknown): void {
    if (this.#ended) return;
    // F7: an abort the web server asked for ends with END_REQUEST once the app is done (appFinished).
    if (this.#byServer) return;
    // Anything else (an error after the head, a short body): close the connection, so the web
    // server sees the response cut off instead of complete.
    this.#ended = true;
    this.release();
    this.#link.cut(this, reason instanceof Error ? reason.message : String(reason));
  }

  /**
   * Frames a head (latin-1 text), a body chunk and, when `end`, the stream end
   * and END_REQUEST, in as few writes as possible: one buffer when the
   * content fits one record, else a vector of views without copying the body.
   */
  #out(head: string | null, chunk: Uint8Array | null, end: boolean): void | Promise<void> {
    const id = this.id;
    const hlen = head === null ? 0 : head.length;
    const clen = chunk === null ? 0 : chunk.length;
    const content = hlen + clen;
    const tail = end ? HEADER_LEN + (this.#stderr ? HEADER_LEN : 0) + END_REQUEST_LEN : 0;
    let ok: boolean;
    if (content <= MAX_CONTENT) {
      const pad = paddingFor(content);
      const out = Buffer.allocUnsafe((content > 0 ? HEADER_LEN + content + pad : 0) + tail);
      let off = 0;
      if (content > 0) {
        writeHeader(out, 0, RecordType.Stdout, id, content, pad);
        if (head !== null) (out as unknown as LatinWriter).latin1Write(head, HEADER_LEN);
        if (chunk !== null) out.set(chunk, HEADER_LEN + hlen);
        off = HEADER_LEN + content;
        for (let i = 0; i < pad; i++) out[off++] = 0;
      }
      if (end) this.#tail(out, off);
      ok = this.#link.write(out);
    } else {
      const parts: Buffer[] = [];
      if (head !== null) parts.push(encodeStream(RecordType.Stdout, id, Buffer.from(head, 'latin1'), false));
      if (chunk !== null) {
        const view = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        for (let pos = 0; pos < clen; pos += MAX_CONTENT) {
          const n = Math.min(MAX_CONTENT, clen - pos);
          const pad = paddingFor(n);
          const h = Buffer.allocUnsafe(HEADER_LEN);
          writeHeader(h, 0, RecordType.Stdout, id, n, pad);
          parts.push(h, view.subarray(pos, pos + n));
          if (pad) parts.push(ZEROS.subarray(0, pad));
        }
      }
      if (end) {
        const t = Buffer.allocUnsafe(tail);
        this.#tail(t, 0);
        parts.push(t);
      }
      ok = this.#link.writev(parts);
    }
    if (end) {
      this.#ended = true;
      this.release();
      this.#link.ended(this);
    } else if (!ok) {
      return this.#link.drain();
    }
  }

  /** The empty STDOUT (and STDERR, if opened) records and END_REQUEST (F9, FV2, FV8). */
  #tail(out: Buffer, off: number): void {
    writeHeader(out, off, RecordType.Stdout, this.id, 0, 0);
    off += HEADER_LEN;
    if (this.#stderr) {
      writeHeader(out, off, RecordType.Stderr, this.id, 0, 0);
      off += HEADER_LEN;
    }
    endRequestInto(out, off, this.id, 0, ProtocolStatus.RequestComplete);
  }

  #writeEnd(): void {
    if (this.#ended) return;
    void this.#out(null, null, true);
  }

  /** wsgi.errors (F10): FCGI_STDERR records, which nginx and Apache write to their error logs. */
  errorText(text: string): void {
    if (text === '') return;
    if (this.#ended) {
      // F9: nothing for a request after its END_REQUEST; the text goes to the log instead.
      log('warn', `FastCGI request ${this.id} (ended): ${text.replace(/\n$/, '')}`);
      return;
    }
    this.#stderr = true;
    this.#link.write(encodeStream(RecordType.Stderr, this.id, Buffer.from(text, 'utf8'), false));
  }
}

/** Buffer's latin-1 writer without write()'s argument parsing (present in every Node release; untyped). */
interface LatinWriter { latin1Write(s: string, offset: number): number }
