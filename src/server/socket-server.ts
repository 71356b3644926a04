/**
 * What the FastCGI and uwsgi servers share: listening (listen.ts), named
 * limits with safe defaults (S1), the set of open connections, timeouts on a
 * coarse clock (S3), and the graceful stop (S6).
 */
import type { Server, Socket } from 'node:net';
import { dynamicImport } from '../contract/dynamic-import.js';
import { log, logs } from '../contract/log.js';
import type { App } from '../contract/types.js';
import type { SpoolLimits } from '../gateway/spool.js';
import { within } from '../gateway/finish.js';
import { normalizeMount, spoolLimits, varsLimits, type RequestLimits } from '../gateway/intake.js';
import { offloadOf, type OffloadOptions, type OffloadSpec } from '../gateway/offload.js';
import { adopted, type Handoff } from './handoff.js';
import { listen, type ListenAddress, type ListenOptions } from './listen.js';
import { DEFAULT_QUEUE_TIMEOUT_MS, RequestQueue, type QueueCounts } from './request-queue.js';

/** Limits of a socket server. Every one is on by default (S1). */
export interface SocketLimits extends RequestLimits {
  /** Simultaneous connections (default 1024). */
  maxConnections?: number;
  /** Simultaneous requests in the process (default 1024). */
  maxRequests?: number;
  /**
   * R3: simultaneous requests on one FastCGI connection (default 16; nginx and
   * Apache send one at a time). Past it FCGI_OVERLOADED, so that one
   * multiplexing peer cannot take every request slot of the process.
   */
  maxConnectionRequests?: number;
  /** A connection with no request is closed after this, ms (default 300 s: longer than web servers keep idle upstream connections). */
  idleTimeoutMs?: number;
  /**
   * R5: time for a new connection to send a whole request head (FastCGI
   * params, the uwsgi vars packet), and for a kept-alive one to complete a
   * head it has begun, ms (default 10 s; web servers send it at once).
   */
  headerTimeoutMs?: number;
  /** Time to receive a whole request once it began, ms (default 60 s). */
  readTimeoutMs?: number;
  /** Time a response may wait for the peer to take its bytes, ms (default 60 s). */
  writeTimeoutMs?: number;
  /**
   * O7: past `maxRequests`, how long a request that is ready to run waits for
   * a slot before it is answered 503, ms (default 5 s). 0: no queue, a
   * request past the limit is refused at once (FastCGI FCGI_OVERLOADED,
   * uwsgi and SCGI a connection closed unread).
   */
  queueTimeoutMs?: number;
  /** O7: requests that may wait at once (default: maxConnections); past it a 503 at once. */
  maxQueued?: number;
}

/** The limits with their defaults filled in. */
export interface Limits {
  spool: SpoolLimits;
  /** maxVarsBytes and maxVars, in the form the codecs take. */
  params: { maxBytes: number; maxCount: number };
  maxConnections: number;
  maxRequests: number;
  maxConnectionRequests: number;
  idleTimeoutMs: number;
  headerTimeoutMs: number;
  readTimeoutMs: number;
  writeTimeoutMs: number;
  queueTimeoutMs: number;
  /** 0 when there is no queue. */
  maxQueued: number;
}

/** Fills in the defaults. */
export function limitsOf(o: SocketLimits): Limits {
  const maxConnections = o.maxConnections ?? 1024;
  const queueTimeoutMs = o.queueTimeoutMs ?? DEFAULT_QUEUE_TIMEOUT_MS;
  return {
    params: varsLimits(o),
    spool: spoolLimits(o),
    maxConnections,
    maxRequests: o.maxRequests ?? 1024,
    maxConnectionRequests: o.maxConnectionRequests ?? 16,
    idleTimeoutMs: o.idleTimeoutMs ?? 300_000,
    headerTimeoutMs: o.headerTimeoutMs ?? 10_000,
    readTimeoutMs: o.readTimeoutMs ?? 60_000,
    writeTimeoutMs: o.writeTimeoutMs ?? 60_000,
    queueTimeoutMs,
    maxQueued: queueTimeoutMs > 0 ? o.maxQueued ?? maxConnections : 0,
  };
}

/** One open connection, as the shared part sees it. */
export interface Connection {
  /** Called on every tick of the clock: close the connection if it has overstayed a timeout (S3). */
  sweep(now: number): void;
  /**
   * S6, P11: the process is stopping and no other takes its connections:
   * finish the requests in flight, and let an idle connection go only as
   * the class documents (never right after a response, when the web server
   * may already be writing the next request into it).
   */
  shutdown(): void;
  /**
   * P11: the process is retiring and another takes its connections: at the
   * next request boundary (now, if idle) stop reading and give the
   * connection to `handoff`, with whatever was read ahead.
   */
  handOff(handoff: Handoff): void;
  /**
   * R5: since when the connection has been idle (no request in progress and
   * none begun), or undefined when it is busy. Idle connections are given up,
   * oldest first, when a new one arrives at the connection limit.
   */
  idleSince(): number | undefined;
  /**
   * R5: since when the connection has been sending a request head it has not
   * finished (or undefined). When no connection is idle, the slowest of these
   * makes room: a slow-header peer cannot hold slots for the header timeout.
   */
  headSince(): number | undefined;
  /** Close an idle connection to make room for a new one (R5). */
  evict(): void;
  /** Stop now: the graceful stop ran out of time (S6, P4). */
  destroy(): void;
}

/** State shared by the connections of one server. */
export class ServerState {
  /** Coarse clock (ms), updated on every sweep: cheaper than reading the time on the hot path. */
  now = Date.now();
  /** Requests in flight in this process (F11): counted from their start until their response is complete. */
  active = 0;
  /** Apps still running (their response may be complete, but close() not yet done): a stop waits for them (S6). */
  running = 0;
  /** Stopping: finish what is in flight, take nothing new (S6). */
  draining = false;
  /** While stopping, when a request last began on any connection: kept connections are closed only once the web server has gone quiet (P11). */
  lastBegan = 0;
  readonly limits: Limits;
  readonly connections = new Set<Connection>();
  /** O7: requests ready to run that wait for a slot (a slot: an app running, counted by `running`). */
  readonly queue: RequestQueue;
  #idle: (() => void) | undefined;
  constructor(limits: Limits) {
    this.limits = limits;
    this.queue = new RequestQueue(limits.queueTimeoutMs, limits.maxQueued, () => this.running < limits.maxRequests);
  }
  /**
   * F11, O7: a new request (FastCGI) or connection (uwsgi, SCGI) is refused at
   * once only past the request limit and the queue's bound together.
   */
  full(): boolean {
    return this.active >= this.limits.maxRequests + this.limits.maxQueued;
  }
  /** A connection closed. */
  remove(c: Connection): void {
    this.connections.delete(c);
    this.#check();
  }
  /** An app finished (it returned and close() ran). */
  appDone(): void {
    this.running--;
    // O7: a freed slot goes to the request that has waited longest.
    this.queue.next();
    this.#check();
  }
  #check(): void {
    if (this.connections.size === 0 && this.running === 0) this.#idle?.();
  }
  /** Resolves when every connection has closed and every app has finished. */
  allClosed(): Promise<void> {
    if (this.connections.size === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => { this.#idle = resolve; });
  }
}

/** What a request needs from its server: the app, the shared state and the environ options. */
export interface AppContext {
  readonly app: App;
  readonly state: ServerState;
  /** `--mount` prefix, normalised ('' for none). */
  readonly mount: string;
  readonly multiprocess: boolean;
  /** X3: start the app once the head is in and stream the body through `tsgi.input`. */
  readonly streamBodies: boolean;
  /** X1: `--offload`, parsed. */
  readonly offload: OffloadSpec | undefined;
}

/** The context of a server from its options (limits filled in, mount normalised). */
export function appContext(app: App, options: SocketLimits & OffloadOptions & { mount?: string; multiprocess?: boolean; streamBodies?: boolean }): AppContext {
  return {
    app,
    state: new ServerState(limitsOf(options)),
    mount: normalizeMount(options.mount),
    multiprocess: options.multiprocess ?? false,
    streamBodies: options.streamBodies ?? false,
    offload: offloadOf(options),
  };
}

/**
 * Waiting for a socket to take more bytes (S4): one promise per stall,
 * settled on 'drain' or 'close', and since when (the write timeout, S3).
 */
export class DrainWait {
  #socket: Socket;
  #state: ServerState;
  #promise: Promise<void> | null = null;
  #since = 0;

  constructor(socket: Socket, state: ServerState) {
    this.#socket = socket;
    this.#state = state;
  }

  /** The socket's buffer is full: resolves once it drains (or closes). */
  wait(): Promise<void> {
    if (this.#promise === null) {
      this.#since = this.#state.now;
      this.#promise = new Promise((resolve) => {
        const done = (): void => {
          this.#socket.off('drain', done);
          this.#socket.off('close', done);
          this.#promise = null;
          resolve();
        };
        this.#socket.on('drain', done);
        this.#socket.on('close', done);
      });
    }
    return this.#promise;
  }

  /** The current stall, if any. */
  get pending(): Promise<void> | null {
    return this.#promise;
  }

  /** True when the socket has taken nothing for more than `ms`. */
  stalled(now: number, ms: number): boolean {
    return this.#promise !== null && now - this.#since > ms;
  }
}

/** Closes the connection idle the longest; false when none is idle. */
function evictIdle(state: ServerState): boolean {
  let oldest: Connection | undefined;
  let since = Infinity;
  for (const c of state.connections) {
    const t = c.idleSince();
    if (t !== undefined && t < since) { since = t; oldest = c; }
  }
  if (oldest === undefined) {
    // None idle: the one that has been sending an unfinished head the longest.
    for (const c of state.connections) {
      const t = c.headSince();
      if (t !== undefined && t < since) { since = t; oldest = c; }
    }
  }
  if (oldest === undefined) return false;
  if (logs('debug')) log('debug', `connection limit reached: closing a connection idle for ${state.now - since} ms`);
  oldest.evict();
  state.connections.delete(oldest);
  return true;
}

/** A running FastCGI or uwsgi server. */
export interface SocketServer {
  readonly server: Server;
  readonly address: ListenAddress;
  /**
   * Stop accepting, let in-flight requests finish (S6), remove the socket
   * file, then resolve. After `graceMs` (default: no deadline) whatever is
   * still open is closed and its requests aborted (`tsgi.abort` fires).
   * With `handoff` (P11: another process serves on), each connection is
   * given to it at its next request boundary instead of being closed.
   */
  close(graceMs?: number, handoff?: Handoff): Promise<void>;
  /**
   * P11: serve a connection another process handed over; `rest` is what it
   * had read from it. While this server is itself retiring, the connection
   * is passed on again.
   */
  adopt(socket: Socket, rest: Buffer): void;
  /** O7: requests waiting for a slot now, and how many waited, timed out (503) or were dropped unrun so far. */
  queueStats(): QueueCounts & { waiting: number };
}

/** How long a stopping listener waits for a quiet spell, and at most, before it closes (P11). */
const QUIET_MS = 50;
const QUIET_MAX_MS = 1000;

/**
 * S6, P11: on a stop, a listener is closed only once no connection has come
 * for QUIET_MS (at most QUIET_MAX_MS). Connections the kernel has accepted but
 * this process has not taken yet would be reset when the last holder of the
 * listener closes it, and the web server may already have written a request
 * into them; a unix socket's name is removed first, so none is added meanwhile.
 */
async function closeWhenQuiet(server: import('node:net').Server): Promise<void> {
  const began = Date.now();
  for (;;) {
    let came = false;
    const mark = (): void => { came = true; };
    server.on('connection', mark);
    await new Promise((r) => setTimeout(r, QUIET_MS));
    server.off('connection', mark);
    if (!came || Date.now() - began >= QUIET_MAX_MS) break;
  }
  server.close();
}

/**
 * Listens as `where` says and hands each accepted socket to `accept`
 * (which returns null to refuse it: the socket is then destroyed).
 */
export async function startSocketServer(
  protocol: string,
  where: ListenOptions,
  state: ServerState,
  accept: (socket: Socket) => Connection | null,
): Promise<SocketServer> {
  // node:net is loaded here, not at the top: the CGI adapter shares the bundle and must not pay for it.
  const net = await dynamicImport<typeof import('node:net')>('node:net');
  const limits = state.limits;
  // allowHalfOpen (R6): a peer that shuts down its sending side after a whole request still
  // gets the whole response; each connection decides when to end its own side.
  const server = net.createServer({ noDelay: true, pauseOnConnect: false, allowHalfOpen: true });
  /** Set while retiring with another process to take the connections (P11). */
  let passOn: Handoff | undefined;
  const take = (socket: Socket, handed: boolean): void => {
    let conn: Connection | null = null;
    try {
      // R5: at the limit, an idle connection makes room; only when every one is busy is the new one refused.
      if (state.connections.size >= limits.maxConnections && !evictIdle(state)) {
        log('warn', `${protocol}: refused a connection: ${state.connections.size} open and none idle (maxConnections)`);
      } else {
        // S6, P11: also while stopping: the listener is closed by then, but a connection the kernel
        // had already accepted may carry a request the web server has written; it is served.
        conn = accept(socket);
      }
    } catch (err) {
      log('error', `${protocol}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    }
    if (conn === null) { socket.destroy(); return; }
    state.connections.add(conn);
    if (logs('debug')) log('debug', `${protocol}: ${handed ? 'connection handed over' : 'new connection'} (${state.connections.size} open)`);
    // P11: one that arrives while this process is itself retiring is passed on at once (it is idle).
    if (passOn !== undefined) conn.handOff(passOn);
  };
  server.on('connection', (socket) => take(socket, false));
  const { address, cleanup } = await listen(net, server, where);
  server.on('error', (err) => log('error', `${protocol}: listener: ${err.message}`));
  const tickMs = Math.max(20, Math.min(1000, Math.floor(Math.min(limits.idleTimeoutMs, limits.headerTimeoutMs, limits.readTimeoutMs, limits.writeTimeoutMs) / 4)));
  const tick = setInterval(() => {
    const now = (state.now = Date.now());
    for (const c of state.connections) c.sweep(now);
  }, tickMs);
  tick.unref();
  let closing: Promise<void> | undefined;
  return {
    server,
    address,
    adopt(socket: Socket, rest: Buffer): void {
      take(adopted(socket, rest), true);
    },
    queueStats() {
      return { ...state.queue.counts, waiting: state.queue.length };
    },
    close(graceMs = Infinity, handoff?: Handoff): Promise<void> {
      closing ??= (async () => {
        state.draining = true;
        // P11: the stop itself counts as the web server's last activity (it may be mid-request).
        state.lastBegan = Date.now();
        passOn = handoff;
        // Not waited for: its 'close' counts connections node:net knows of, and a connection handed
        // off (P11) leaves that count without telling it. The connections tracked here are the truth.
        // A unix socket's name goes first, so that no new connection can reach the listener.
        cleanup();
        if (handoff !== undefined) server.close();
        else void closeWhenQuiet(server);
        for (const c of [...state.connections]) {
          if (handoff !== undefined) c.handOff(handoff);
          else c.shutdown();
        }
        const drained = state.allClosed();
        if (!(await within(drained, graceMs))) {
          // W4: what is left may be upgraded connections (tunnels) rather than requests.
          log('warn', `${protocol}: graceful stop: ${state.running} request(s) still running, ${state.connections.size} connection(s) open after ${graceMs} ms; closing them`);
          for (const c of [...state.connections]) c.destroy();
          // An app that ignores tsgi.abort must not hold the stop for ever.
          await within(drained, 1000);
        }
        clearInterval(tick);
      })();
      return closing;
    },
  };
}
