/**
 * The `res` side of the listener bridge: a real `http.ServerResponse` (B2)
 * whose head and body go to the gateway's `startResponse` and body iterator
 * instead of a socket (B4). Node's own header methods (setHeader, getHeader,
 * appendHeader …) keep their validation, so a bad header fails as it fails
 * under node:http; only the methods that would touch the socket are replaced.
 */
import type { AsyncResource } from 'node:async_hooks';
import { Buffer } from 'node:buffer';
import { ServerResponse, STATUS_CODES } from 'node:http';
import { getDefaultHighWaterMark } from 'node:stream';
import type { Environ, Header, StartResponse, Write } from '../contract/types.js';
import { writeEarlyHints } from './early-hints.js';
import { again, thrown, type Exchange } from './guard.js';
import { BridgeSocket, finishUnread, type BridgeRequest } from './node-request.js';
import { CHUNKED, HAS_DATE, HAS_LENGTH, headList, httpDate, nodeError, statusLine } from './response-head.js';
import { HEADER_FIELD, ownHeadersSent } from './header-field.js';

type Callback = (err?: Error | null) => void;
type Item = { chunk: Buffer; cb: Callback | undefined };

const EMPTY = Buffer.alloc(0);
const DONE: IteratorResult<Uint8Array> = { value: undefined, done: true };

// BridgeResponse's #flags.
const HEAD = 1; // the head went to startResponse
const BODYLESS = 2; // HEAD request, or a status without a body
const ENDED = 4; // end() was called
const FINISHED = 8; // the gateway took the whole response
const CLOSED = 16; // the body's close() ran
const NEED_DRAIN = 32; // write() returned false; 'drain' is owed
const ITERATING = 64; // the body was handed over as an async iterable

/**
 * The request as the guard sees it (guard.ts): a separate object, as Express
 * swaps the prototype of `res` and its methods with it.
 */
class ResponseExchange implements Exchange {
  readonly environ: Environ;
  /** Dropped once the request is over: a callback made in it may outlive it by far (a pool's socket). */
  res: BridgeResponse | undefined;
  scope: AsyncResource | undefined = undefined;
  constructor(environ: Environ, res: BridgeResponse) {
    this.environ = environ;
    this.res = res;
  }
  get live(): boolean { return this.res !== undefined; }
  fail(err: unknown): boolean { return this.res !== undefined && BridgeResponse.failLate(this.res, err); }
}

/**
 * `res`. The bridge hands the gateway either the whole body at once (a
 * listener that ended its response before returning: Express's `res.send`)
 * or this object as an async iterable that yields each chunk as it is
 * written, `write()` returning false (and `'drain'` following) while the
 * gateway has not taken what was written (B4 backpressure).
 */
export class BridgeResponse extends ServerResponse {
  #startResponse: StartResponse;
  #write: Write | undefined;
  #socket: BridgeSocket;
  #length = -1;
  #queue: Item[] = [];
  #queued = 0;
  /**
   * The response's yes/no states, one bit each (HEAD … ITERATING below): one
   * field instead of seven, so that the object (already ServerResponse's
   * fifty-odd) holds them without growing its property store twice more.
   */
  #flags = 0;
  #error: unknown;
  #waiter: { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (e: unknown) => void } | undefined;
  readonly #hwm = getDefaultHighWaterMark(false);
  readonly #exchange: ResponseExchange;

  constructor(req: BridgeRequest, socket: BridgeSocket, startResponse: StartResponse) {
    super(req);
    // As for `req` (node-request.ts): own before Express swaps the prototype, so that
    // writeHead's and Express's stores to them stay fast. statusCode and statusMessage
    // keep the defaults ServerResponse.prototype gives them.
    const self = this as unknown as Record<string, unknown>;
    self.statusCode = this.statusCode;
    self.statusMessage = this.statusMessage;
    self.locals = undefined;
    self.__onFinished = undefined;
    this.#startResponse = startResponse;
    this.#socket = socket;
    this.#exchange = new ResponseExchange(req.environ, this);
    BridgeSocket.watch(socket, BridgeResponse.#socketDestroyed, this);
    if (req.method === 'HEAD') this.#flags = BODYLESS;
    (this as { socket: unknown }).socket = socket;
    // Express (and others) swap the prototype of `res` for their own, which
    // inherits from ServerResponse.prototype, not from this class: the methods
    // that replace the socket path are own properties so that they stay.
    // (Private fields stay with the object whatever its prototype.)
    const own = this as unknown as Record<string, unknown>;
    own.writeHead = P.writeHead;
    own.write = P.write;
    own.end = P.end;
    own.flushHeaders = P.flushHeaders;
    own.writeEarlyHints = P.writeEarlyHints;
    own.destroy = P.destroy;
    if (!HEADER_FIELD) ownHeadersSent(this, () => this.#head);
  }

  // headersSent, and setHeader & co. throwing ERR_HTTP_HEADERS_SENT afterwards, are
  // node:http's own: they read `_header`, which #commit sets (header-field.ts has the fallback).
  // That field is not documented, but compression, on-headers and others read it, so it is set.
  // The writable* getters (defined on the prototype below) report this bridge's queue, not a socket's.
  /** @internal */ get bridgeFinished(): boolean { return this.#finished; }
  /** @internal */ get bridgeQueued(): number { return this.#queued; }
  /** @internal */ get bridgeNeedDrain(): boolean { return !this.destroyed && !this.#ended && this.#needDrain; }
  /** @internal */ get bridgeHighWaterMark(): number { return this.#hwm; }

  get #head(): boolean { return (this.#flags & HEAD) !== 0; }
  set #head(v: boolean) { this.#flags = v ? this.#flags | HEAD : this.#flags & ~HEAD; }
  get #bodyless(): boolean { return (this.#flags & BODYLESS) !== 0; }
  set #bodyless(v: boolean) { this.#flags = v ? this.#flags | BODYLESS : this.#flags & ~BODYLESS; }
  get #ended(): boolean { return (this.#flags & ENDED) !== 0; }
  set #ended(v: boolean) { this.#flags = v ? this.#flags | ENDED : this.#flags & ~ENDED; }
  get #finished(): boolean { return (this.#flags & FINISHED) !== 0; }
  set #finished(v: boolean) { this.#flags = v ? this.#flags | FINISHED : this.#flags & ~FINISHED; }
  get #closed(): boolean { return (this.#flags & CLOSED) !== 0; }
  set #closed(v: boolean) { this.#flags = v ? this.#flags | CLOSED : this.#flags & ~CLOSED; }
  get #needDrain(): boolean { return (this.#flags & NEED_DRAIN) !== 0; }
  set #needDrain(v: boolean) { this.#flags = v ? this.#flags | NEED_DRAIN : this.#flags & ~NEED_DRAIN; }
  get #iterating(): boolean { return (this.#flags & ITERATING) !== 0; }
  set #iterating(v: boolean) { this.#flags = v ? this.#flags | ITERATING : this.#flags & ~ITERATING; }

  /** As node:http's: status, optional reason, headers as an object or a flat / paired array. */
  override writeHead(statusCode: number, reason?: unknown, headers?: unknown): this {
    if (this.#head) throw nodeError('ERR_HTTP_HEADERS_SENT', 'Cannot write headers after they are sent to the client');
    const code = statusCode | 0;
    if (code < 100 || code > 999) throw nodeError('ERR_HTTP_INVALID_STATUS_CODE', `Invalid status code: ${String(statusCode)}`, RangeError);
    if (typeof reason === 'string') this.statusMessage = reason;
    else {
      if (!this.statusMessage) this.statusMessage = STATUS_CODES[code] ?? 'unknown';
      headers ??= reason;
    }
    this.statusCode = code;
    if (Array.isArray(headers)) {
      if (headers.length > 0 && Array.isArray(headers[0])) {
        for (const pair of headers as [string, string][]) if (pair[0]) this.appendHeader(pair[0], pair[1]);
      } else {
        if (headers.length % 2 !== 0) throw nodeError('ERR_INVALID_ARG_VALUE', 'The argument \'headers\' is invalid', TypeError);
        // Without earlier headers node:http keeps repeated names (two Set-Cookie); with them it sets.
        const add = this.getHeaderNames().length === 0;
        for (let i = 0; i < headers.length; i += 2) {
          const k = headers[i] as string;
          if (k) { if (add) this.appendHeader(k, headers[i + 1] as string); else this.setHeader(k, headers[i + 1] as string); }
        }
      }
    } else if (headers !== null && typeof headers === 'object') {
      for (const k of Object.keys(headers)) if (k) this.setHeader(k, (headers as Record<string, string>)[k]!);
    }
    const length = this.#length;
    this.#length = -1;
    this.#commit(length);
    return this;
  }

  /**
   * The head goes out implicitly, through `this.writeHead` as in node:http, so
   * that middleware which wraps writeHead (on-headers: compression, sessions,
   * response-time) runs. `length` is the whole body's when end() sent it.
   */
  #implicitHead(length: number): void {
    this.#length = length;
    this.writeHead(this.statusCode);
    this.#length = -1;
  }

  /** X4: a 103 through `tsgi.early_hints` (node:http's writes to a socket this response has not). */
  override writeEarlyHints(hints: Record<string, string | string[]>, cb?: () => void): void {
    writeEarlyHints(this.#exchange.environ, this.#head, hints, cb);
  }

  /** Sends the head now, before any body (SSE, long polls). */
  override flushHeaders(): void {
    if (!this.#head) this.#implicitHead(-1);
    if (this.#queue.length === 0 && this.#write) this.#write(EMPTY);
  }

  override write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (typeof encoding === 'function') { cb = encoding; encoding = undefined; }
    if (this.#ended) {
      this.#late(nodeError('ERR_STREAM_WRITE_AFTER_END', 'write after end'), cb as Callback | undefined);
      return false;
    }
    if (this.destroyed) {
      this.#late(nodeError('ERR_STREAM_DESTROYED', 'Cannot call write after a stream was destroyed'), cb as Callback | undefined);
      return false;
    }
    const buf = toBuffer(chunk, encoding);
    if (!this.#head) this.#implicitHead(-1);
    if (this.#bodyless || buf.length === 0) {
      if (typeof cb === 'function') process.nextTick(cb as Callback);
      return true;
    }
    this.#push(buf, cb as Callback | undefined);
    return !this.#needDrain;
  }

  override end(chunk?: unknown, encoding?: unknown, cb?: unknown): this {
    if (typeof chunk === 'function') { cb = chunk; chunk = undefined; encoding = undefined; }
    else if (typeof encoding === 'function') { cb = encoding; encoding = undefined; }
    if (this.#ended) {
      if (chunk) this.#late(nodeError('ERR_STREAM_WRITE_AFTER_END', 'write after end'), cb as Callback | undefined);
      else if (typeof cb === 'function') {
        if (!this.#finished) this.once('finish', cb as Callback);
        else (cb as Callback)(nodeError('ERR_STREAM_ALREADY_FINISHED', 'Cannot call end after a stream was finished'));
      }
      return this;
    }
    if (this.destroyed) return this;
    const buf = chunk === undefined || chunk === null ? EMPTY : toBuffer(chunk, encoding);
    // node:http gives a response that is ended before its head went out a Content-Length.
    if (!this.#head) this.#implicitHead(this.#queued + buf.length);
    if (typeof cb === 'function') this.once('finish', cb as Callback);
    if (buf.length > 0 && !this.#bodyless) this.#push(buf, undefined);
    this.#ended = true;
    this.finished = true;
    const w = this.#waiter;
    if (w && this.#queue.length === 0) { this.#waiter = undefined; w.resolve(DONE); }
    return this;
  }

  override destroy(error?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.#error = error ?? nodeError('ERR_STREAM_DESTROYED', 'the response was destroyed before it ended');
    const w = this.#waiter;
    if (w) { this.#waiter = undefined; w.reject(this.#error); }
    return this;
  }

  /** @internal The request as the guard sees it: the listener runs inside it (guard.ts). */
  static exchange(res: BridgeResponse): Exchange {
    return res.#exchange;
  }

  /**
   * @internal An exception thrown while the request was in the bridge: fail the
   * response as an app that raises (500 before the head, cut after: C18). True
   * when there was a response left to fail (the gateway then logs the error).
   */
  static failLate(res: BridgeResponse, err: unknown): boolean {
    if (res.#closed || res.destroyed || (res.#ended && res.#queue.length === 0)) return false;
    P.destroy.call(res, err instanceof Error ? err : new Error(String(err)));
    return true;
  }

  /** `'close'` on a response, a tick after it finished or was cut (as node:http emits it). */
  static #emitClose(this: void, res: BridgeResponse): void {
    res.destroyed = true;
    try {
      res.emit('close');
    } catch (err) {
      thrown(res.#exchange, err); // still the request's: its last event
    } finally {
      // The request has left the bridge (guard.ts).
      res.#exchange.res = undefined;
      res.#exchange.scope = undefined;
    }
  }

  /**
   * @internal What the bridge returns to the gateway once the listener has
   * returned: the whole body when the response has already ended, else this
   * object as an async iterable.
   */
  static body(res: BridgeResponse): (Uint8Array[] | AsyncIterable<Uint8Array>) & { close(): void } {
    return res.#body();
  }

  #body(): (Uint8Array[] | AsyncIterable<Uint8Array>) & { close(): void } {
    if (this.#ended && !this.#iterating) {
      const items = this.#queue;
      this.#queue = [];
      this.#queued = 0;
      const chunks = new Array<Uint8Array>(items.length) as Uint8Array[] & { close(): void };
      for (let i = 0; i < items.length; i++) chunks[i] = items[i]!.chunk;
      // A bound function, not an arrow: on V8 12+, a closure stored into a property
      // added to an object (here an array) kept the response it closes over alive
      // through young-generation collections while the code was warming up (every
      // request's objects survived to the old generation, and V8 grew the young
      // generation to 64 MiB for it). A bound function does not.
      chunks.close = BridgeResponse.#closeWhole.bind(undefined, this, items);
      return chunks;
    }
    this.#iterating = true;
    // The gateway drives these: what they emit to the app ('drain', write
    // callbacks, 'finish', 'close') runs as the request's (guard.ts).
    const iterator: AsyncIterator<Uint8Array> = { next: () => again(this.#exchange, BridgeResponse.#nextOf, this, undefined), return: () => Promise.resolve(DONE) };
    return { [Symbol.asyncIterator]: () => iterator, close: () => again(this.#exchange, BridgeResponse.#closeOf, this, undefined) };
  }

  static #nextOf(this: void, res: BridgeResponse): Promise<IteratorResult<Uint8Array>> { return res.#next(); }
  static #closeOf(this: void, res: BridgeResponse): void { res.#close(); }

  /** The whole body's close(): the write callbacks, then #close, as the request's (guard.ts). */
  static #closeWhole(this: void, res: BridgeResponse, items: Item[]): void {
    again(res.#exchange, BridgeResponse.#closeItems, res, items);
  }

  static #closeItems(this: void, res: BridgeResponse, items: Item[]): void {
    for (let i = 0; i < items.length; i++) {
      const cb = items[i]!.cb;
      if (cb) process.nextTick(cb);
    }
    res.#close();
  }

  /** @internal The listener's promise rejected: fail like a thrown error (500 before the head, cut after). */
  static fail(res: BridgeResponse, err: unknown): void {
    res.#fail(err);
  }

  /**
   * req.socket was destroyed (by the app, or by node:http's code when the app
   * destroyed an unfinished req): as on node:http the exchange is over. A
   * response not yet ended fails (500 before the head, cut after: C18); one
   * already ended still goes out. Not when the gateway itself closed it.
   */
  static #socketDestroyed(this: void, owner: object, err: Error | null): void {
    const res = owner as BridgeResponse;
    if (res.#closed || res.#ended || res.destroyed) return;
    P.destroy.call(res, err ?? nodeError('ECONNRESET', 'req.socket was destroyed before the response ended'));
  }

  #fail(err: unknown): void {
    if (this.#ended && this.#queue.length === 0) return;
    P.destroy.call(this, err instanceof Error ? err : new Error(String(err)));
  }

  #next(): Promise<IteratorResult<Uint8Array>> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    const item = this.#queue.shift();
    if (item) {
      this.#queued -= item.chunk.length;
      if (item.cb) process.nextTick(item.cb);
      if (this.#needDrain && this.#queued === 0) {
        this.#needDrain = false;
        process.nextTick(() => this.emit('drain'));
      }
      return Promise.resolve({ value: item.chunk, done: false });
    }
    if (this.#ended || this.#closed) return Promise.resolve(DONE);
    return new Promise((resolve, reject) => { this.#waiter = { resolve, reject }; });
  }

  /**
   * The body's close() (C17): called by the gateway once, after the whole
   * response went out or when the client went away. Emits what node:http
   * emits in each case.
   */
  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const req = this.req as BridgeRequest;
    const complete = this.#ended && this.#queue.length === 0 && this.#error === undefined;
    const w = this.#waiter;
    if (w) { this.#waiter = undefined; w.resolve(DONE); }
    if (complete) {
      this.#finished = true;
      this.emit('finish');
      finishUnread(req);
      process.nextTick(BridgeResponse.#emitClose, this);
      return;
    }
    // The client went away (or the gateway cut the response): B3 'close' on the socket, req and res.
    this.#socket.gone();
    if (!req.complete) req.destroy(nodeError('ECONNRESET', 'aborted'));
    else finishUnread(req);
    process.nextTick(BridgeResponse.#emitClose, this);
  }

  #push(chunk: Buffer, cb: Callback | undefined): void {
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      if (cb) process.nextTick(cb);
      w.resolve({ value: chunk, done: false });
      return;
    }
    this.#queue.push({ chunk, cb });
    this.#queued += chunk.length;
    if (this.#queued >= this.#hwm) this.#needDrain = true;
  }

  /** Node's "write after end": the error goes to the callback and to 'error'. */
  #late(err: Error, cb: Callback | undefined): void {
    process.nextTick(() => {
      if (cb) cb(err);
      if (!this.destroyed) this.emit('error', err);
    });
  }

  /** The head is final: hand status and headers to startResponse (length ≥ 0: the whole body's). */
  #commit(length: number): void {
    const code = this.statusCode;
    const reason = this.statusMessage || STATUS_CODES[code] || 'unknown';
    // A reason node:http refuses throws here, before the head is final: as there,
    // headersSent stays false and the app may answer again.
    const line = statusLine(code, reason);
    this.#head = true;
    if (code === 204 || code === 304 || (code >= 100 && code < 200)) this.#bodyless = true;
    const headers: Header[] = [];
    const found = headList(this, headers, this.req.method === 'HEAD');
    if (this.sendDate && (found & HAS_DATE) === 0) headers.push(['Date', httpDate()]);
    if (length >= 0 && (found & (HAS_LENGTH | CHUNKED)) === 0 && !this.#bodyless) headers.push(['Content-Length', String(length)]);
    this.#write = this.#startResponse(line.status, headers);
    (this as unknown as { _header: string })._header = line.header;
  }
}

const P = BridgeResponse.prototype;

for (const [name, from] of [['writableFinished', 'bridgeFinished'], ['writableLength', 'bridgeQueued'],
  ['writableNeedDrain', 'bridgeNeedDrain'], ['writableHighWaterMark', 'bridgeHighWaterMark']] as const) {
  const get = Object.getOwnPropertyDescriptor(BridgeResponse.prototype, from)!.get!;
  Object.defineProperty(BridgeResponse.prototype, name, { get, configurable: true, enumerable: false });
}

/** A chunk as node:http takes it: a string in an encoding, or bytes. */
function toBuffer(chunk: unknown, encoding: unknown): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, (typeof encoding === 'string' ? encoding : 'utf8') as BufferEncoding);
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk === null) throw nodeError('ERR_STREAM_NULL_VALUES', 'May not write null values to stream', TypeError);
  throw nodeError('ERR_INVALID_ARG_TYPE', `The "chunk" argument must be of type string or an instance of Buffer or Uint8Array. Received ${typeof chunk}`, TypeError);
}
