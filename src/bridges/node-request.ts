/**
 * The `req` side of the listener bridge: a real `http.IncomingMessage` (B2)
 * made from the environ, its body streamed from `wsgi.input` (B3), and the
 * socket-shaped object frameworks read the peer from.
 */
import { Buffer } from 'node:buffer';
import { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { liveInput } from '../contract/live-input.js';
import type { Environ, WsgiInput } from '../contract/types.js';
import { nodeError } from './response-head.js';
import { headerName, rawName, requestTarget } from './target.js';

const BLOCK = 65536;

/** What the socket calls when it is destroyed: the response it belongs to, and the error if any. */
type OnDestroy = (owner: object, err: Error | null) => void;

/**
 * What `req.socket` / `res.socket` are: a real `stream.Duplex` (B2), since
 * node:http's own code treats `req.socket` as a stream (IncomingMessage takes
 * its `readableHighWaterMark`, and on destroy waits for it with
 * `stream.finished`, which refuses anything that is not one). It carries the
 * peer and local addresses from the environ (so `req.ip`, `req.protocol`,
 * `req.secure` and `trust proxy` work), `encrypted` under https, and closes
 * when the client goes away.
 *
 * The gateway owns the real connection: nothing arrives on this stream (the
 * body comes through `req`, from `wsgi.input`), and a write to it is refused
 * with ERR_TSGI_SOCKET_WRITE (bytes written past `res` would not be HTTP the
 * gateway frames). Destroying it, as node:http's code does when the app
 * destroys an unfinished `req`, ends the exchange: the response is cut, or
 * answered 500 if nothing was sent (C18).
 */
export class BridgeSocket extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  /** Present (true) only under https, as on a TLS socket: frameworks test it for truth. */
  declare readonly encrypted?: boolean;
  readonly bytesWritten = 0;
  readonly bytesRead = 0;
  readonly connecting = false;
  #onDestroy: OnDestroy | undefined;
  #owner: object | undefined;

  constructor(environ: Environ) {
    super();
    const addr = environ.REMOTE_ADDR;
    this.remoteAddress = addr;
    this.remoteFamily = addr === undefined ? undefined : addr.includes(':') ? 'IPv6' : 'IPv4';
    this.remotePort = portOf(environ.REMOTE_PORT);
    this.localAddress = typeof environ.SERVER_ADDR === 'string' ? environ.SERVER_ADDR : undefined;
    this.localPort = portOf(environ.SERVER_PORT);
    if (environ['wsgi.url_scheme'] === 'https') (this as { encrypted?: boolean }).encrypted = true;
  }

  /** @internal `fn(owner, err)` runs once when the socket is destroyed (the response it carries). */
  static watch(socket: BridgeSocket, fn: OnDestroy, owner: object): void {
    socket.#onDestroy = fn;
    socket.#owner = owner;
  }

  address(): { address: string; family: string; port: number } | Record<string, never> {
    return this.localAddress === undefined ? {} : { address: this.localAddress, family: this.localAddress.includes(':') ? 'IPv6' : 'IPv4', port: this.localPort ?? 0 };
  }
  // net.Socket's connection settings: the gateway's connection, not the app's to set.
  setTimeout(_ms: number, cb?: () => void): this { if (cb) this.once('timeout', cb); return this; }
  setNoDelay(): this { return this; }
  setKeepAlive(): this { return this; }
  ref(): this { return this; }
  unref(): this { return this; }
  destroySoon(): void { this.destroy(); }

  override _read(): void {
    // Nothing arrives here: the request body is req's (B3).
  }

  override _write(_chunk: unknown, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    cb(nodeError('ERR_TSGI_SOCKET_WRITE', 'the bridge\'s req.socket takes no writes: the gateway owns the connection; write to res'));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const fn = this.#onDestroy;
    const owner = this.#owner;
    this.#onDestroy = undefined;
    this.#owner = undefined;
    if (fn !== undefined) fn(owner!, err);
    // node:http's server listens for a socket's errors itself; here nobody may
    // be listening, and an 'error' nobody hears would be thrown at the process.
    // The error still reaches stream.finished() (IncomingMessage passes it on to req).
    cb(this.listenerCount('error') > 0 ? err : null);
  }

  /** @internal the client went away or the exchange ended */
  gone(): void {
    this.destroy();
  }
}

function portOf(v: unknown): number | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  const n = Number(v);
  return Number.isInteger(n) ? n : undefined;
}

/** A request body read: a chunk now, or (for an input that reads asynchronously) later. */
type Pulled = Uint8Array | PromiseLike<Uint8Array>;

/**
 * `req`: an IncomingMessage whose fields come from the environ and whose body
 * is pulled from `wsgi.input` only as fast as the app reads it (B3): the
 * stream's own `_read` is the backpressure.
 */
export class BridgeRequest extends IncomingMessage {
  #input: WsgiInput;
  #left: number;
  #reading = false;
  /** X3: the live body's iterator, when the body is still arriving. */
  #live: AsyncIterator<Uint8Array> | null = null;
  #ended = false;
  /** The environ the request was made from (the CGI variables, `tsgi.abort` …). */
  declare readonly environ: Environ;

  constructor(environ: Environ, socket: BridgeSocket) {
    super(socket as never);
    // Express swaps the prototype of `req`, then assigns these on every request
    // (body-parser and on-finished theirs on many). On Node 20, adding a property to
    // an object whose prototype was swapped is a slow runtime call that also leaves
    // the object a map of its own; made here, before the swap, they are plain stores
    // (an Express hello through the bridge, in process: about half the CPU per
    // request). An undefined own property reads as an absent one; none of these is an
    // accessor in Express or router (Express 5's `query` is one: not listed).
    const self = this as unknown as Record<string, unknown>;
    self.res = undefined;
    self.next = undefined;
    self.baseUrl = undefined;
    self.originalUrl = undefined;
    self._parsedUrl = undefined;
    self.route = undefined;
    self.params = undefined;
    self.body = undefined; // body-parser sets it to undefined itself when it is absent
    self.__onFinished = undefined; // on-finished (Express's sendFile, finalhandler, morgan)
    Object.defineProperty(this, 'environ', { value: environ, enumerable: false });
    this.method = environ.REQUEST_METHOD;
    this.url = requestTarget(environ);
    const proto = environ.SERVER_PROTOCOL;
    if (proto === 'HTTP/1.1') {
      this.httpVersionMajor = 1;
      this.httpVersionMinor = 1;
      this.httpVersion = '1.1';
    } else {
      const m = /^HTTP\/(\d)\.(\d)$/.exec(proto);
      this.httpVersionMajor = m ? Number(m[1]) : 1;
      this.httpVersionMinor = m ? Number(m[2]) : 0;
      this.httpVersion = `${this.httpVersionMajor}.${this.httpVersionMinor}`;
    }
    const headers = this.headers;
    const raw = this.rawHeaders;
    // B3: every HTTP_* variable, with Content-Type and Content-Length restored (C7 took them out).
    // Object.keys, not for…in: an environ is a dictionary-mode object, which for…in walks slower.
    const keys = Object.keys(environ);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (key.charCodeAt(0) !== 72 || !key.startsWith('HTTP_')) continue;
      const value = environ[key];
      if (typeof value !== 'string') continue;
      const name = headerName(key);
      headers[name] = value;
      raw.push(rawName(name), value);
    }
    const type = environ.CONTENT_TYPE;
    if (type !== undefined && type !== '') { headers['content-type'] = type; raw.push('Content-Type', type); }
    const length = environ.CONTENT_LENGTH;
    if (length !== undefined && length !== '') { headers['content-length'] = length; raw.push('Content-Length', length); }
    // Express swaps the prototype of `req` for its own (which inherits from
    // IncomingMessage.prototype): the body source must be an own property to stay.
    (this as unknown as { _read: unknown })._read = BridgeRequest.prototype._read;
    this.#input = environ['wsgi.input'];
    const n = length ? Number(length) : 0;
    this.#left = Number.isFinite(n) && n > 0 ? n : 0;
    const live = liveInput(environ);
    if (live !== undefined) {
      // X3: the body is still arriving (streamBodies): `req` reads tsgi.input, chunk by chunk as
      // the app's consumer asks (_read is the back-pressure), whatever its length says.
      this.#live = live[Symbol.asyncIterator]();
      this.#left = Infinity;
    } else if (this.#left === 0) {
      // No body: complete at once, as node:http makes a GET. The stream's end is pushed
      // when something reads (_read), or when the exchange ends unread (finishUnread):
      // pushed here, it would cost every bodyless request a nextTick and a flow() that
      // nothing waits for.
      this.complete = true;
    }
  }

  override _read(size: number): void {
    if (this.#reading) return;
    if (this.#live !== null) { this.#readLive(size); return; }
    // `size` is the stream's highWaterMark, which IncomingMessage takes from
    // req.socket: undefined for a socket without readableHighWaterMark (Node 26
    // assigns it as it is, where 22 and 24 fell back to the default), and
    // wsgi.input.read(NaN) throws. The socket is a real Duplex now; a size that
    // is not a positive number still reads a block.
    const want = size > BLOCK ? size : BLOCK;
    for (;;) {
      if (this.#left <= 0) { this.#end(); return; }
      const pulled: Pulled = this.#input.read(this.#left < want ? this.#left : want);
      if (!(pulled instanceof Uint8Array)) {
        // An input that reads asynchronously: wait for it, then go on.
        this.#reading = true;
        Promise.resolve(pulled).then((chunk) => {
          this.#reading = false;
          if (this.#take(chunk)) this._read(size);
        }, (err: unknown) => { this.#reading = false; this.destroy(err as Error); });
        return;
      }
      if (!this.#take(pulled)) return;
    }
  }

  /** X3: the next chunk of a body still arriving. */
  #readLive(size: number): void {
    this.#reading = true;
    this.#live!.next().then((r) => {
      this.#reading = false;
      if (r.done === true) this.#end();
      else if (this.#take(r.value)) this._read(size);
    }, (err: unknown) => { this.#reading = false; this.destroy(err as Error); });
  }

  /** Pushes a chunk; true when the consumer wants more right away. */
  #take(chunk: Uint8Array): boolean {
    if (this.destroyed) return false;
    if (chunk.length === 0) { this.#end(); return false; } // a short body ends where it ends (C9)
    this.#left -= chunk.length;
    const more = this.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if (this.#left <= 0) { this.#end(); return false; }
    return more;
  }

  #end(): void {
    this.#left = 0;
    this.complete = true;
    if (!this.#ended) { this.#ended = true; this.push(null); }
  }

  /** @internal The exchange is over and nobody read the body: end the stream, as node:http dumps it. */
  static finishUnread(req: BridgeRequest): void {
    if (req.readableEnded || req.destroyed) return;
    req.#left = 0;
    req.complete = true;
    req.resume();
    if (!req.#ended) { req.#ended = true; req.push(null); }
  }
}

/** @internal see BridgeRequest.finishUnread */
export const finishUnread = (req: BridgeRequest): void => BridgeRequest.finishUnread(req);
