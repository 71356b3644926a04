/**
 * `tsgi/bridges`: Node's two app shapes as tsgi apps. A request listener
 * `(req, res)` (Express, Connect, Koa, Fastify) and a fetch handler
 * `(Request) => Response` (Hono, itty-router, `{ fetch }`), and an
 * `http.Server` with its `'upgrade'` listeners (`fromNodeServer`). The reverse —
 * a tsgi app served as either — is `toNodeListener` / `toFetchHandler` in
 * `tsgi`.
 */
export { fromNodeListener, type NodeListener } from './from-node-listener.js';
export { fromNodeServer, type NodeServer } from './from-node-server.js';
export { fromFetch, toRequest, type FetchBridgeOptions, type FetchHandler } from './from-fetch.js';
export { installLightResponse, LightResponse, uninstallLightResponse } from './light-response.js';
export { BridgeRequest, BridgeSocket } from './node-request.js';
export { BridgeResponse } from './node-response.js';
export { requestTarget } from './target.js';
