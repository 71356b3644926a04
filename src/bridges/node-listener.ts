/**
 * A Node request listener `(req, res)` (Express, Connect, Koa's callback,
 * Fastify's routing) as a tsgi app (B1–B4).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { App } from '../contract/types.js';
import { BridgeRequest, BridgeSocket } from './node-request.js';
import { BridgeResponse } from './node-response.js';

/** A node:http request listener. It may return a Promise (Koa's callback does). */
export type NodeListener = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * Wraps a Node request listener as an app, so that it runs under every tsgi
 * adapter and middleware composes around it. `req` is an
 * `http.IncomingMessage` made from the environ (method, raw url, headers,
 * the body streamed from `wsgi.input`, the peer address); `res` is an
 * `http.ServerResponse` whose head and body become the app's response.
 * `req.environ` is the environ itself.
 *
 * A listener that throws, or whose Promise rejects, is answered as an app
 * that raises: 500 before anything was sent, the response cut off after
 * (C18). (node:http would leave the first to crash the process.)
 */
export function fromNodeListener(listener: NodeListener): App {
  if (typeof listener !== 'function') throw new TypeError(`fromNodeListener takes a (req, res) function, got ${typeof listener}`);
  return (environ, startResponse) => {
    const socket = new BridgeSocket(environ);
    const req = new BridgeRequest(environ, socket);
    const res = new BridgeResponse(req, socket, startResponse);
    const r = listener(req, res);
    if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
      (r as PromiseLike<unknown>).then(undefined, (err: unknown) => BridgeResponse.fail(res, err));
    }
    return BridgeResponse.body(res);
  };
}
