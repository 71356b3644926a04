/**
 * The byte tunnel of an upgraded connection (W2, W4), for every adapter whose
 * front can carry one (uwsgi, SCGI, the dev HTTP server): what the app's
 * `'upgrade'` listener gets as its socket. It knows no protocol: an adapter
 * gives it the web server's connection and how to rewrite the response head
 * its front wants (SCGI wants `Status: 101 …` where the app writes
 * `HTTP/1.1 101 …`); the bytes the adapter read past the request go to the
 * app apart, as node:http's `head`.
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { GatewayError } from '../contract/errors.js';
import { log } from '../contract/log.js';

/** The limits of the tunnels of one server (W4). */
export interface TunnelLimits {
  /** Tunnels open at once on this server, one per worker (default 512). */
  maxTunnels?: number;
  /** A tunnel with no byte either way for this long is closed, ms (default 300 s). */
  tunnelIdleTimeoutMs?: number;
}

/** Default of `maxTunnels`: half the default connection limit, so that requests keep room beside tunnels. */
export const DEFAULT_MAX_TUNNELS = 512;
/** Default of `tunnelIdleTimeoutMs`: longer than WebSocket and socket.io pings (25–30 s) by far. */
export const DEFAULT_TUNNEL_IDLE_MS = 300_000;

/** Largest response head an app may write before the tunnel opens (W2: a head is a few hundred bytes). */
const MAX_HEAD = 16384;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/**
 * What a protocol does to the head the app writes: `head` is its text up to
 * and including the blank line (latin-1); the result is sent instead.
 */
export type HeadRewrite = (head: string) => string;

const STATUS = /^HTTP\/\d\.\d ([1-5][0-9]{2} [\x20-\x7e]+)\r\n/;

/** The status of a head's first line, or '' when the bytes do not begin with one. */
function headStatus(chunk: Buffer): string {
  const m = STATUS.exec(chunk.toString('latin1', 0, Math.min(chunk.length, 256)));
  return m === null ? '' : m[1]!;
}

const STATUS_LINE = /^HTTP\/\d\.\d ([0-9]{3}(?: [^\r\n]*)?)\r\n/;

/**
 * The head rewrite for a front that reads CGI-style responses (SCGI: nginx
 * `scgi_pass` tunnels after `Status: 101 Switching Protocols`, W2): the
 * app's `HTTP/1.1 NNN Reason` status line becomes a `Status: NNN Reason`
 * header; the other lines go as written.
 */
export const cgiStatusHead: HeadRewrite = (head) => {
  const m = STATUS_LINE.exec(head);
  return m === null ? head : `Status: ${m[1]}\r\n${head.slice(m[0].length)}`;
};

/**
 * The tunnels of one server: the count against the limit (W4), and the
 * options every tunnel of the server shares.
 */
export class TunnelPool {
  readonly max: number;
  readonly idleMs: number;
  readonly #protocol: string;
  /** Open tunnels. */
  readonly open = new Set<Tunnel>();

  readonly #stopping: () => boolean;

  /** `stopping`: true once the server is stopping or retiring (W4: no new tunnel then). */
  constructor(protocol: string, limits: TunnelLimits, stopping: () => boolean = () => false) {
    this.#protocol = protocol;
    this.#stopping = stopping;
    this.max = limits.maxTunnels ?? DEFAULT_MAX_TUNNELS;
    this.idleMs = limits.tunnelIdleTimeoutMs ?? DEFAULT_TUNNEL_IDLE_MS;
  }

  /**
   * Opens a tunnel over `socket` (W2), with the protocol's head rewrite
   * (none: the head is sent as written).
   * Throws ERR_LIMIT_TUNNELS at the limit or while the server stops (W4);
   * the socket is then untouched.
   */
  take(socket: Socket, rewrite: HeadRewrite | null): Tunnel {
    if (this.#stopping()) {
      // W4: a tunnel opened now would only be cut at the graceful deadline; the client's retry reaches the next generation.
      log('info', `${this.#protocol}: upgrade refused: the server is stopping`);
      throw new GatewayError('ERR_LIMIT_TUNNELS', `${this.#protocol}: the server is stopping`);
    }
    if (this.open.size >= this.max) {
      log('warn', `${this.#protocol}: upgrade refused: ${this.open.size} tunnels open (the limit, --max-tunnels)`);
      throw new GatewayError('ERR_LIMIT_TUNNELS', `${this.#protocol}: ${this.open.size} tunnels open, the limit (--max-tunnels)`);
    }
    const t = new (tunnelClass())(socket, rewrite, this.idleMs, this.#protocol, () => this.open.delete(t));
    this.open.add(t);
    return t;
  }
}

/** The app's end of a tunnel (see defineTunnel). */
export interface Tunnel extends Duplex {
  /** Times reading from the connection stopped because the app's buffer was full (W2, tests). */
  pauses: number;
  /** Times it started again. */
  resumes: number;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  /** The status the app wrote in its response head, once it has (what the access log shows). */
  readonly status: string | undefined;
  /** Bytes written by the app that the connection has not taken yet. */
  readonly queued: number;
  setTimeout(ms: number, cb?: () => void): this;
  setNoDelay(noDelay?: boolean): this;
  setKeepAlive(enable?: boolean, delay?: number): this;
  ref(): this;
  unref(): this;
  address(): ReturnType<Socket['address']>;
  destroySoon(): void;
}

type TunnelClass = new (socket: Socket, rewrite: HeadRewrite | null, idleMs: number, protocol: string, onGone: () => void) => Tunnel;
let made: TunnelClass | undefined;

/** The class, made at the first tunnel: node:stream is not loaded for a process that never tunnels (a CGI start, CGI3). */
function tunnelClass(): TunnelClass {
  return (made ??= defineTunnel(process.getBuiltinModule('node:stream').Duplex));
}

/**
 * The app's end of a tunnel: a Duplex over the web server's connection,
 * shaped like the net.Socket node:http gives an `'upgrade'` listener (the
 * addresses, setTimeout, setNoDelay …). Back-pressure both ways (W2): what
 * the client sends is read from the connection only while the app reads
 * it (the connection is paused when the app's buffer is full), and a write
 * is done only once the connection has taken the previous ones. Either side
 * closing ends it: the app's end() ends the connection, destroy() closes it;
 * the client's end ends the app's stream (and then this side, as node:http's
 * sockets do), its close destroys it.
 */
function defineTunnel(Base: typeof Duplex): TunnelClass {
  return class Tunnel extends Base {
    /** Times reading from the connection stopped because the app's buffer was full (W2, tests). */
    pauses = 0;
    /** Times it started again. */
    resumes = 0;
    declare readonly remoteAddress: string | undefined;
    declare readonly remotePort: number | undefined;
    declare readonly remoteFamily: string | undefined;
    declare readonly localAddress: string | undefined;
    declare readonly localPort: number | undefined;
    readonly #socket: Socket;
    readonly #protocol: string;
    #rewrite: HeadRewrite | null;
    #pending: Buffer[] = [];
    #pendingBytes = 0;
    #onGone: () => void;
    #status: string | undefined;

    constructor(socket: Socket, rewrite: HeadRewrite | null, idleMs: number, protocol: string, onGone: () => void) {
      // As node:http's sockets: once the client has ended its side and the app has read it all, this side ends too.
      super({ allowHalfOpen: false });
      this.#socket = socket;
      this.#rewrite = rewrite;
      this.#protocol = protocol;
      this.#onGone = onGone;
      // The peer as node:http's socket has it (ws and socket.io read it from there); a front's own
      // address for the client (REMOTE_ADDR) is on req.
      for (const k of ['remoteAddress', 'remotePort', 'remoteFamily', 'localAddress', 'localPort'] as const) {
        Object.defineProperty(this, k, { value: socket[k], enumerable: true });
      }
      socket.pause();
      socket.on('data', this.#onData);
      socket.on('end', this.#onEnd);
      socket.on('close', this.#onClose);
      socket.on('error', this.#onError);
      // W4: idle timeout on the connection itself: any byte either way restarts it.
      socket.setTimeout(idleMs, this.#onIdle);
    }

    /**
     * The status the app wrote in its response head (`101 Switching Protocols`,
     * or the `400 Bad Request` of a refused handshake), once it has: what the
     * access log shows for the request.
     */
    get status(): string | undefined {
      return this.#status;
    }

    /** Bytes the app has written that the connection has not taken yet. */
    get queued(): number {
      return this.writableLength + this.#socket.writableLength;
    }

    readonly #onData = (chunk: Buffer): void => {
      if (!this.push(chunk)) {
        // W2: the app's buffer is full: stop reading until it wants more (_read).
        this.#socket.pause();
        this.pauses++;
      }
    };

    readonly #onEnd = (): void => {
      this.push(null);
    };

    readonly #onClose = (): void => {
      this.#onGone();
      if (!this.destroyed) this.destroy();
    };

    readonly #onError = (err: Error): void => {
      log('debug', `${this.#protocol}: tunnel: ${err.message}`);
    };

    readonly #onIdle = (): void => {
      log('info', `${this.#protocol}: tunnel idle for ${this.#socket.timeout} ms; closing it`);
      this.#socket.destroy();
    };

    override _read(): void {
      if (this.#socket.isPaused()) {
        if (this.pauses > 0) this.resumes++;
        this.#socket.resume();
      }
    }

    override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
      if (this.#status === undefined) this.#status = headStatus(chunk);
      if (this.#rewrite !== null) {
        chunk = this.#head(chunk)!;
        if (chunk === null) { cb(); return; }
        if (chunk === undefined) { cb(new GatewayError('ERR_BAD_HEADER', `${this.#protocol}: the app wrote a response head of over ${MAX_HEAD} bytes on an upgraded connection`)); return; }
      }
      if (this.#socket.destroyed) { cb(new Error(`${this.#protocol}: the tunnel's connection is closed`)); return; }
      if (this.#socket.write(chunk)) { cb(); return; }
      // W2: the web server takes no more for now: the app's next write waits (its own buffer then fills).
      const s = this.#socket;
      const go = (): void => { s.off('drain', go); s.off('close', go); cb(); };
      s.on('drain', go);
      s.on('close', go);
    }

    /**
     * The head is gathered until its blank line and handed to the rewrite;
     * null: more is needed, undefined: too long, else the bytes to send.
     */
    #head(chunk: Buffer): Buffer | null | undefined {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      const all = this.#pending.length === 1 ? chunk : Buffer.concat(this.#pending, this.#pendingBytes);
      const end = all.indexOf(CRLFCRLF);
      if (end < 0) {
        if (this.#pendingBytes > MAX_HEAD) return undefined;
        this.#pending = [all];
        return null;
      }
      const rewrite = this.#rewrite!;
      this.#rewrite = null;
      this.#pending = [];
      const head = Buffer.from(rewrite(all.toString('latin1', 0, end + 4)), 'latin1');
      return end + 4 === all.length ? head : Buffer.concat([head, all.subarray(end + 4)]);
    }

    override _final(cb: (err?: Error | null) => void): void {
      // The app is done sending: half-close, the client may still send (a WebSocket close handshake).
      this.#socket.end();
      cb();
    }

    override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
      const s = this.#socket;
      s.off('data', this.#onData);
      s.setTimeout(0);
      if (!s.destroyed) s.destroy();
      this.#onGone();
      cb(err);
    }

    // net.Socket's settings: the tunnel's idle timeout is the server's (W4), not the app's to lift.
    setTimeout(_ms: number, cb?: () => void): this { if (cb) this.once('timeout', cb); return this; }
    setNoDelay(noDelay?: boolean): this { this.#socket.setNoDelay(noDelay); return this; }
    setKeepAlive(enable?: boolean, delay?: number): this { this.#socket.setKeepAlive(enable, delay); return this; }
    ref(): this { return this; }
    unref(): this { return this; }
    address(): ReturnType<Socket['address']> { return this.#socket.address(); }
    destroySoon(): void { this.end(); }
  }
}
