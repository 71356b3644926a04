/**
 * An `http.Server` as a tsgi app (W1): its `'request'` listeners answer
 * requests, its `'upgrade'` listeners take the connections of requests that
 * switch protocols (a `ws` WebSocketServer or socket.io attached to it).
 */
import { Buffer } from 'node:buffer';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { log } from '../contract/log.js';
import type { App, Environ, StartResponse } from '../contract/types.js';
import { wantsUpgrade } from '../contract/upgrade.js';
import { fromNodeListener } from './from-node-listener.js';
import { BridgeRequest, BridgeSocket } from './node-request.js';
import { requestTarget } from './target.js';

/** What fromNodeServer needs of a server: node:http's, https's, or any emitter shaped like them. */
export type NodeServer = Pick<Server, 'listeners' | 'listenerCount' | 'emit'>;

const enc = (s: string): Uint8Array => Buffer.from(s, 'latin1');

/**
 * Serves an `http.Server` (or `https.Server`) as an app, without it ever
 * listening: the module that used to end with `server.listen(3000)` exports
 * the server instead. The `'request'` listeners are looked up on every
 * request (socket.io replaces them when it attaches), and run as
 * `fromNodeListener` runs one.
 *
 * A request carrying `Upgrade` and `Connection: upgrade` goes to the
 * `'upgrade'` listeners as `(req, socket, head)` when there are any, as on
 * node:http; with none it is an ordinary request (node:http does the same
 * since Node 22). Where the adapter can tunnel the connection (uwsgi, SCGI,
 * the dev HTTP server: `environ['tsgi.upgrade']`), `socket` is a Duplex over
 * the web server's connection. Where it cannot (FastCGI, CGI) the request is
 * answered `501 Not Implemented` and the log says why (W3); past the
 * adapter's tunnel limit, `503` (W4).
 */
export function fromNodeServer(server: NodeServer): App {
  if (server === null || typeof server !== 'object' || typeof server.listeners !== 'function') {
    throw new TypeError(`fromNodeServer takes an http.Server, got ${server === null ? 'null' : typeof server}`);
  }
  const requests = fromNodeListener(function requestListeners(this: unknown, req, res) {
    const ls = server.listeners('request');
    if (ls.length === 0) {
      res.statusCode = 404;
      res.end();
      return;
    }
    for (const l of ls) (l as (...a: unknown[]) => unknown).call(server, req, res);
  });
  return (environ, startResponse) => {
    if (!wantsUpgrade(environ) || server.listenerCount('upgrade') === 0) return requests(environ, startResponse);
    return upgrade(server, environ, startResponse);
  };
}

function upgrade(server: NodeServer, environ: Environ, startResponse: StartResponse): Uint8Array[] {
  const what = `${environ.REQUEST_METHOD} ${requestTarget(environ)} (Upgrade: ${environ.HTTP_UPGRADE})`;
  const take = environ['tsgi.upgrade'];
  if (typeof take !== 'function') {
    // W3: FastCGI and CGI frame every response for the web server, which can carry no tunnel.
    log('warn', `${what}: refused with 501: the app has 'upgrade' listeners, but this adapter cannot tunnel a connection (FastCGI and CGI cannot; uwsgi, SCGI and the dev HTTP server can)`);
    return refuse(startResponse, '501 Not Implemented', 'This server cannot switch protocols on this connection.\n');
  }
  let taken: { socket: Duplex; head: Buffer };
  try {
    taken = take();
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_LIMIT_TUNNELS') throw err;
    // W4: the adapter logged the limit.
    return refuse(startResponse, '503 Service Unavailable', 'Too many upgraded connections.\n');
  }
  const req = new BridgeRequest(environ, new BridgeSocket(environ));
  try {
    for (const l of server.listeners('upgrade')) (l as (...a: unknown[]) => unknown).call(server, req, taken.socket, taken.head);
  } catch (err) {
    log('error', `${what}: an 'upgrade' listener threw: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    taken.socket.destroy();
  }
  // The bytes the listener writes on the socket are the response; this one only ends the request
  // (tsgi.upgrade), with the status the listener wrote if the adapter's socket tells it (access log).
  const status = (taken.socket as { status?: unknown }).status;
  startResponse(typeof status === 'string' && status !== '' ? status : '101 Switching Protocols', []);
  return [];
}

function refuse(startResponse: StartResponse, status: string, text: string): Uint8Array[] {
  const body = enc(text);
  startResponse(status, [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)]]);
  return [body];
}
