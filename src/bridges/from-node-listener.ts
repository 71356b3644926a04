/**
 * A Node request listener `(req, res)` (Express, Connect, Koa's callback,
 * Fastify's routing) as a tsgi app (B1–B4).
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import type { App } from '../contract/types.js';
import { within } from './guard.js';
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
  const protos = new ListenerPrototypes(listener);
  return (environ, startResponse) => {
    const socket = new BridgeSocket(environ);
    let req: BridgeRequest;
    let res: BridgeResponse;
    if (protos.check()) {
      req = Reflect.construct(BridgeRequest, [environ, socket], protos.req!) as BridgeRequest;
      res = Reflect.construct(BridgeResponse, [req, socket, startResponse], protos.res!) as BridgeResponse;
    } else {
      req = new BridgeRequest(environ, socket);
      res = new BridgeResponse(req, socket, startResponse);
    }
    // An exception thrown later in a callback made during this call fails this request only (guard.ts).
    const r = within(BridgeResponse.exchange(res), listener, req, res);
    if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
      (r as PromiseLike<unknown>).then(undefined, (err: unknown) => BridgeResponse.fail(res, err));
    }
    return BridgeResponse.body(res);
  };
}

type Target = new (...args: never[]) => object;

/**
 * The prototypes an Express app gives `req` and `res` (its `request` and
 * `response` objects, which inherit from IncomingMessage's and
 * ServerResponse's). The first thing Express does with a request is
 * `Object.setPrototypeOf` to them, and that swap is costly for objects made
 * elsewhere (bench:bridges, profiled; docs/performance.md). Made with
 * those prototypes from the start, the swap changes nothing and costs
 * nothing. Everything the bridge needs of its own classes is on the
 * objects themselves (private fields, and the methods it sets as own
 * properties because Express swaps them away), so the result is the object
 * Express would have made of it.
 */
class ListenerPrototypes {
  #listener: Record<string, unknown>;
  #reqProto: unknown = undefined;
  #resProto: unknown = undefined;
  req: Target | undefined;
  res: Target | undefined;

  constructor(listener: NodeListener) {
    this.#listener = listener as unknown as Record<string, unknown>;
  }

  /** True when the listener has such prototypes now (looked at each time: an app may replace them). */
  check(): boolean {
    const rq = this.#listener.request;
    const rs = this.#listener.response;
    if (rq !== this.#reqProto || rs !== this.#resProto) {
      this.#reqProto = rq;
      this.#resProto = rs;
      const usable = typeof rq === 'object' && rq !== null && IncomingMessage.prototype.isPrototypeOf(rq)
        && typeof rs === 'object' && rs !== null && ServerResponse.prototype.isPrototypeOf(rs);
      this.req = usable ? target(rq) : undefined;
      this.res = usable ? target(rs) : undefined;
    }
    return this.req !== undefined;
  }
}

/** A constructor whose `prototype` is `proto`: the new target that gives an object that prototype. */
function target(proto: object): Target {
  const f = function made(): void {} as unknown as Target;
  (f as unknown as { prototype: object }).prototype = proto;
  return f;
}
