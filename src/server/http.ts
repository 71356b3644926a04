/**
 * The dev HTTP server: tsgi's `wsgiref.simple_server`, on node:http. For local
 * development; in production put a web server in front of the FastCGI or
 * uwsgi adapter.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { escapeLog } from '../contract/access-log.js';
import { dynamicImport } from '../contract/dynamic-import.js';
import { log, logs } from '../contract/log.js';
import type { App } from '../contract/types.js';
import { RequestAbort } from '../gateway/abort.js';
import { runApp } from '../gateway/engine.js';
import { within } from '../gateway/finish.js';
import { ErrorStream } from '../gateway/errors-stream.js';
import { admit, environFor, streamingEnviron, limitRefusal, normalizeMount, refusalResponse, spoolLimits, type ReceivedBody, type RequestLimits } from '../gateway/intake.js';
import { offloadOf, type OffloadOptions } from '../gateway/offload.js';
import { httpVars } from '../protocol/http-env.js';
import { earlyHintsFor } from './early-hints.js';
import { adopted, detach, type Handoff } from './handoff.js';
import { DEFAULT_BACKLOG, listenError } from './listen.js';
import { liveBody, readRequestBody } from './read-body.js';
import type { LiveBody } from '../gateway/body-stream.js';
import { ServerResponseSink } from './response-sink.js';
import { serveUpgrade } from './http-upgrade.js';
import { DEFAULT_QUEUE_TIMEOUT_MS, RequestQueue, busyApp, type QueueCounts, type Waiter } from './request-queue.js';
import { TunnelPool, type TunnelLimits } from './tunnel.js';

/** Options of serveHttp. Every limit is on by default (S1). */
export interface HttpOptions extends Pick<RequestLimits, 'maxBodyBytes' | 'memoryBodyBytes' | 'spoolDir'>, OffloadOptions, TunnelLimits {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 8000; 0 picks a free one). */
  port?: number;
  /** An inherited socket to listen on instead (a `--workers` worker, systemd). */
  fd?: number;
  /** Connections the kernel queues before they are accepted (default 2048; see ListenOptions). */
  backlog?: number;
  /** URL prefix the app is mounted at: becomes SCRIPT_NAME (default ''). */
  mount?: string;
  /** Most header lines in a request (default 100). */
  maxHeaders?: number;
  /** Time to receive a request's headers, ms (default 10 s). */
  headersTimeoutMs?: number;
  /** Time to receive a whole request, ms (default 120 s). */
  requestTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this, ms (default 5 s). */
  keepAliveTimeoutMs?: number;
  /** Most simultaneous connections (default 1024). */
  maxConnections?: number;
  /** Apps running at once (default 1024); past it a request waits up to `queueTimeoutMs` (O7). */
  maxRequests?: number;
  /** O7: how long a request past `maxRequests` waits for a slot before a 503, ms (default 5 s; 0: 503 at once). */
  queueTimeoutMs?: number;
  /** `wsgi.multiprocess` (set by `--workers`). */
  multiprocess?: boolean;
  /** An access-log line per request at level info (default true). */
  accessLog?: boolean;
  /**
   * X3: start the app as soon as the head is in and stream the body to it
   * through `environ['tsgi.input']`, with back-pressure (default false: the
   * body is spooled whole first, and `wsgi.input` reads it synchronously).
   */
  streamBodies?: boolean;
}

/** A running dev server. */
export interface HttpServer {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
  /**
   * Stop accepting, let in-flight requests finish (S6), then resolve. After
   * `graceMs` (default: no deadline) open connections are closed and their
   * requests aborted. With `handoff` (P11: another process serves on), idle
   * keep-alive connections are given to it instead of being closed.
   */
  close(graceMs?: number, handoff?: Handoff): Promise<void>;
  /** P11: serve a connection another process handed over (`rest`: what it had read from it). */
  adopt(socket: Socket, rest: Buffer): void;
  /** O7: requests waiting for a slot now, and how many waited, timed out (503) or were dropped unrun so far. */
  queueStats(): QueueCounts & { waiting: number };
}


/** P11: what a connection has done, to tell when it is at a request boundary. */
interface ConnState {
  /** Requests whose response has not closed yet. */
  busy: number;
  /** socket.bytesRead when the last response closed: more since means a request is arriving. */
  mark: number;
  /** When it last became idle (ms). */
  since: number;
}


/** Serves `app` over HTTP/1.1 on node:http. */
export async function serveHttp(app: App, options: HttpOptions = {}): Promise<HttpServer> {
  // Loaded here, not at the top: every other adapter (CGI above all) shares the
  // bundle with this file and must not pay for node:http at start-up.
  const { createServer } = await dynamicImport<typeof import('node:http')>('node:http');
  const netClose = (await dynamicImport<typeof import('node:net')>('node:net')).Server.prototype.close;
  const host = options.host ?? '127.0.0.1';
  const limits = spoolLimits(options);
  const offload = offloadOf(options);
  const mount = normalizeMount(options.mount);
  const accessLog = options.accessLog !== false;
  const errors = ErrorStream.toFd(2);
  let port = options.port ?? 8000;
  const inflight = new Set<Promise<void>>();
  // O7: apps running, and the requests waiting for one to finish.
  let running = 0;
  const maxRequests = options.maxRequests ?? 1024;
  const queueTimeoutMs = options.queueTimeoutMs ?? DEFAULT_QUEUE_TIMEOUT_MS;
  const queue = new RequestQueue(queueTimeoutMs, options.maxConnections ?? 1024, () => running < maxRequests);

  const varsOf = (req: IncomingMessage): Record<string, string> => httpVars({
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    httpVersion: req.httpVersion,
    rawHeaders: req.rawHeaders,
    serverName: host,
    serverPort: String(port),
    remoteAddr: req.socket.remoteAddress,
    remotePort: req.socket.remotePort === undefined ? undefined : String(req.socket.remotePort),
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    const controller = new RequestAbort();
    res.on('close', () => { if (!res.writableFinished) controller.abort(new Error('client went away')); });
    const sink = new ServerResponseSink(res);
    const maxHeaders = options.maxHeaders ?? 100;
    if (req.rawHeaders.length > maxHeaders * 2) {
      // S1: node:http would drop the headers past its count silently; refuse the request instead.
      const text = `more than ${maxHeaders} header lines\n`;
      res.writeHead(431, { 'Content-Type': 'text/plain', 'Content-Length': text.length, Connection: 'close' });
      res.end(text);
      req.resume();
      log('warn', `HTTP ${escapeLog(`${req.method} ${req.url}`)}: ${text.trim()}`);
      return;
    }
    const vars = varsOf(req);
    let plan = admit(vars, { mount, maxBodyBytes: limits.maxBytes, streams: true });
    let body: ReceivedBody | null = null;
    let live: LiveBody | null = null;
    if (options.streamBodies === true && (plan.kind === 'length' || plan.kind === 'stream')) {
      // X3: the app starts now; the body reaches it as it arrives.
      if (/100-continue/i.test(req.headers.expect ?? '')) res.writeContinue();
      live = liveBody(req, limits.maxBytes);
    } else if (plan.kind === 'length' || plan.kind === 'stream') {
      try {
        if (/100-continue/i.test(req.headers.expect ?? '')) res.writeContinue();
        const spool = await readRequestBody(req, limits, plan.kind === 'length' ? plan.length : 0);
        body = { source: spool.source(), length: spool.length };
      } catch (err) {
        const refusal = limitRefusal(err);
        if (refusal === undefined) {
          // The client went away during the body: nobody to answer.
          log('warn', `HTTP ${escapeLog(`${req.method} ${req.url}`)}: could not read the request body`);
          req.destroy();
          return;
        }
        plan = refusal;
      }
    }
    if (plan.kind === 'refuse') {
      log('warn', `HTTP ${escapeLog(`${req.method} ${req.url}`)}: ${plan.reason}`);
      // The rest of the body is not read: the connection closes after the answer.
      res.setHeader('Connection', 'close');
      const r = refusalResponse(plan);
      sink.head(r.status, r.headers, r.body, true);
      return;
    }
    const source = body?.source;
    const extras = {
      errors,
      abort: controller,
      multiprocess: options.multiprocess ?? false,
      runOnce: false,
      offload,
      earlyHints: earlyHintsFor(req, res),
    };
    const environ = live === null ? environFor(vars, body, extras) : streamingEnviron(vars, live, extras);
    // O7: past the limit the request waits for a slot (or, with no queue, is answered 503 at once).
    let slot: 'run' | 'expired' | 'gone' = 'run';
    const queuedAt = Date.now();
    if (running < maxRequests && !queue.mustWait()) running++;
    else slot = await waitForSlot(controller);
    if (slot === 'gone') {
      source?.dispose?.();
      // X3: a body still streaming in is not read any further.
      if (live !== null && !live.settled) { live.fail(new Error('the client left while the request waited')); req.destroy(); }
      if (logs('debug')) log('debug', `HTTP ${escapeLog(`${req.method} ${req.url}`)}: the client left while the request waited; dropped unrun`);
      return;
    }
    if (slot === 'expired') {
      log('warn', `HTTP ${escapeLog(`${req.method} ${req.url}`)}: no request slot free after ${Date.now() - queuedAt} ms (maxRequests ${maxRequests}, queue timeout ${queueTimeoutMs} ms); answered 503`);
      // Counted like a running app for the moment it takes to answer, so that the bookkeeping below stays one path.
      running++;
    }
    // O7: the 503 goes through the engine (access log, metrics); the app is not called.
    const target = slot === 'expired' ? busyApp(queueTimeoutMs) : app;
    try {
      // P6: a request --request-timeout answered stops counting here, whether or not its app returns.
      await Promise.race([runApp(target, environ, sink, controller), sink.abandoned()]);
    } finally {
      running--;
      queue.next();
      source?.dispose?.();
      if (live !== null && !live.settled) {
        // The app returned without reading its whole body: the rest is not read, and the connection closes.
        live.fail(new Error('the response was sent before the body was read'));
        req.destroy();
      }
      // One line per request: none when a logging() layer (or the --access-log tracker) has it (tsgi.logged).
      if (accessLog && environ['tsgi.logged'] !== true) {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        // H4: the request line is the client's text, escaped as in the access log (quotes, controls).
        log('info', `${req.socket.remoteAddress ?? '-'} "${escapeLog(`${req.method} ${req.url} HTTP/${req.httpVersion}`)}" ${sink.status || '-'} ${sink.bytes} ${ms.toFixed(1)}ms`);
      }
    }
  };

  /**
   * O7: waits in the queue; 'run' holds a slot (taken as the queue hands it
   * over, so that one freed slot goes to one request), 'expired' is the queue
   * timeout (or a full queue), 'gone' a client that left meanwhile.
   */
  const waitForSlot = (controller: RequestAbort): Promise<'run' | 'expired' | 'gone'> => {
    if (queueTimeoutMs <= 0) return Promise.resolve('expired');
    return new Promise((resolve) => {
      const w: Waiter = {
        proceed: () => {
          if (controller.aborted) { queue.counts.dropped++; resolve('gone'); return; }
          running++;
          resolve('run');
        },
        expire: () => resolve('expired'),
      };
      void controller.wait().then(() => { if (queue.remove(w)) resolve('gone'); });
      queue.push(w);
    });
  };

  /** Per connection (P11). */
  const conns = new WeakMap<Socket, ConnState>();
  /** Set once close() began (P11). */
  let retiring = false;
  /** Set while retiring with another process to take the idle connections (P11). */
  let passOn: Handoff | undefined;

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket;
    const c = conns.get(socket);
    if (c !== undefined) {
      c.busy++;
      res.once('close', () => {
        c.busy--;
        c.mark = socket.bytesRead;
        c.since = Date.now();
        if (retiring && c.busy === 0) process.nextTick(settle, socket);
      });
    }
    // P11: while retiring into a successor, a response tells the client not to send more on this
    // connection, so that it closes after it with no race and the client's next connection goes to
    // the new generation. Not on a stop: the listener is closed, so the client's next connection
    // would be refused, or reset in the listen queue; the kept connection is served on instead,
    // until the client lets it go or it idles past the keep-alive timeout (as FastCGI's are).
    if (retiring && passOn !== undefined) res.setHeader('Connection', 'close');
    const p = handle(req, res).catch((err) => {
      log('error', `HTTP: ${err instanceof Error ? err.stack : String(err)}`);
      res.destroy();
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  const keepAliveMs = options.keepAliveTimeoutMs ?? 5_000;
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  const requestTimeout = options.requestTimeoutMs ?? 120_000;
  const server = createServer({
    maxHeaderSize: 64 * 1024,
    headersTimeout,
    requestTimeout,
    // S3: node:http enforces both timeouts on this interval (30 s by default).
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(Math.min(headersTimeout, requestTimeout) / 4))),
    keepAliveTimeout: keepAliveMs,
  }, onRequest);
  // `Expect: 100-continue`: the interim 100 goes out only once the body is wanted (a body past
  // the limit is refused with 413 without the client ever sending it).
  server.on('checkContinue', onRequest);
  // One more than the limit, so that a request past it can be told apart and refused (431).
  server.maxHeadersCount = (options.maxHeaders ?? 100) + 1;
  // R5: at the connection limit, idle keep-alive connections are given up before a new one is
  // refused (node:http's own maxConnections would refuse the new one while idle ones hold slots).
  const maxConnections = options.maxConnections ?? 1024;
  const sockets = new Set<Socket>();
  const welcome = (socket: Socket, again: boolean): void => {
    if (sockets.size >= maxConnections) {
      // Idle by this server's own account (node:http's closeIdleConnections() counts the new
      // connection itself as idle on Node 26, and closed it): no request in progress, not a byte
      // since the last response, nothing left to write.
      for (const s of sockets) {
        const c = conns.get(s);
        if (s.destroyed || (c !== undefined && c.busy === 0 && s.bytesRead === c.mark && s.writableLength === 0)) {
          s.destroy();
          sockets.delete(s);
        }
      }
    }
    if (sockets.size >= maxConnections) {
      // A response just completed may not count as idle yet (node:http marks it on a later
      // tick): look once more after the pending callbacks have run, the socket paused meanwhile.
      if (again) {
        socket.pause();
        setImmediate(() => { if (!socket.destroyed) { socket.resume(); welcome(socket, false); } });
        return;
      }
      log('warn', `HTTP: refused a connection: ${sockets.size} open and none idle (maxConnections)`);
      socket.destroy();
      return;
    }
    sockets.add(socket);
    conns.set(socket, { busy: 0, mark: socket.bytesRead, since: Date.now() });
    socket.once('close', () => sockets.delete(socket));
    if (retiring) process.nextTick(settle, socket);
  };
  server.on('connection', (socket: Socket) => welcome(socket, true));
  // W2: a request that asks to switch protocols comes here, with the raw socket (a tunnel if the app takes it).
  const upgrades = {
    app, tunnels: new TunnelPool('HTTP', options, () => retiring), errors, mount, accessLog,
    multiprocess: options.multiprocess ?? false, vars: varsOf,
  };
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    // W4: busy for good: never idle (R5 eviction), never at a request boundary (P11 handoff).
    const c = conns.get(socket);
    if (c !== undefined) c.busy++;
    const p = serveUpgrade(upgrades, req, socket, head).catch((err) => {
      log('error', `HTTP: ${err instanceof Error ? err.stack : String(err)}`);
      socket.destroy();
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  });

  /**
   * P11: a retiring server's connection at a request boundary (no request in
   * progress, not a byte read since the last response, nothing left to
   * write) is handed off, or on a stop closed once unused for the keep-alive timeout.
   * A client that pipelines could have sent part of its next request before
   * the last response was complete; node:http holds those bytes out of
   * reach, so the boundary test is for clients that wait for each response,
   * as web servers do on their upstream connections.
   */
  function settle(socket: Socket): void {
    const c = conns.get(socket);
    if (c === undefined || c.busy > 0 || socket.destroyed || !sockets.has(socket)) return;
    if (socket.bytesRead !== c.mark || socket.readableLength > 0 || socket.writableLength > 0) return;
    if (passOn === undefined) {
      // S6, P11: on a stop with no process to take over, an unused kept-alive connection is
      // closed no sooner than in normal operation (the keep-alive timeout, which a web server's
      // own upstream keep-alive timeout undercuts: it then lets go first, and nothing races).
      if (Date.now() - c.since >= keepAliveMs) socket.destroy();
      return;
    }
    const rest = detach(socket);
    if (rest === null) { passOn = undefined; socket.resume(); return; } // this Node cannot: close as a stop does
    sockets.delete(socket);
    conns.delete(socket);
    // node:http lets go of it (its parser, its timers) when the socket is actually sent, which
    // may wait for an earlier handoff: nothing here may close it meanwhile.
    passOn(socket, rest);
  }

  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(listenError(err, options.fd !== undefined ? `fd ${options.fd}` : `${host.includes(':') ? `[${host}]` : host}:${port}`)));
    const backlog = options.backlog ?? DEFAULT_BACKLOG;
    server.listen(options.fd !== undefined ? { fd: options.fd } : { port, host }, backlog, () => {
      server.removeAllListeners('error');
      port = (server.address() as AddressInfo | null)?.port ?? port;
      resolve({
        server,
        host,
        port,
        queueStats: () => ({ ...queue.counts, waiting: queue.length }),
        adopt: (socket, rest) => {
          if (logs('debug')) log('debug', 'HTTP: connection handed over');
          server.emit('connection', adopted(socket, rest));
        },
        close: async (graceMs = Infinity, handoff?: Handoff) => {
          retiring = true;
          passOn = handoff;
          // net.Server's close stops accepting; node:http's own would also close every idle
          // keep-alive connection at once, which races the client's next request (P11).
          // Its 'close' is not waited for: a connection handed off leaves node:net's count of them
          // without telling it; the sockets tracked here are the truth.
          netClose.call(server);
          let tick: ReturnType<typeof setInterval> | undefined;
          const done = new Promise<void>((r) => {
            const check = (): void => {
              for (const socket of sockets) settle(socket);
              if (sockets.size === 0 && inflight.size === 0) { clearInterval(tick); r(); }
            };
            tick = setInterval(check, 100);
            check();
          });
          if (!(await within(done, graceMs))) {
            log('warn', `HTTP: graceful stop: ${inflight.size} request(s) still running after ${graceMs} ms; closing their connections`);
            server.closeAllConnections();
            for (const socket of sockets) socket.destroy();
            await within(Promise.allSettled([...inflight]), 1000);
          }
          clearInterval(tick);
        },
      });
    });
  });
}
