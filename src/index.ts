/**
 * tsgi: PEP 3333's gateway contract in TypeScript. This is the public API:
 * the contract's types and errors, the latin-1 helpers, the logger hook,
 * `fromClass`, and the servers (also in their own entry points, `tsgi/cgi`,
 * `tsgi/http`, `tsgi/fastcgi`, `tsgi/uwsgi` and `tsgi/scgi`, so that importing one loads
 * nothing of the others). What is not here is internal and may change.
 */
export type {
  App, Body, Chunk, Environ, FileLike, FileWrapperBody, FileWrapperFactory, Header, ResponseProgress, ResponseState, StartResponse, Write,
  WsgiErrors, WsgiInput,
} from './contract/types.js';
export { ContractError, GatewayError, type ErrorCode } from './contract/errors.js';
export { fromWsgiString, isLatin1, latin1, latin1Bytes, wsgiString } from './contract/latin1.js';
export { setLogger, type Level, type LogSink } from './contract/log.js';
export { fileWrapper } from './gateway/file-wrapper.js';
export { fromClass, type AppClass } from './gateway/from-class.js';
export { DEFAULT_LIMITS, type RequestLimits } from './gateway/intake.js';
export { runCgi, type CgiOptions } from './server/cgi.js';
export { serveHttp, type HttpOptions, type HttpServer } from './server/http.js';
export { serveFastCgi, type FastCgiOptions, type FastCgiServer } from './server/fastcgi.js';
export { serveUwsgi, type UwsgiOptions, type UwsgiServer } from './server/uwsgi.js';
export { serveScgi, type ScgiOptions, type ScgiServer } from './server/scgi.js';
export type { ListenAddress, ListenOptions } from './server/listen.js';
export type { SocketLimits, SocketServer } from './server/socket-server.js';
export { toNodeListener, type NodeListenerOptions, type TsgiListener } from './server/to-node-listener.js';
export { toFetchHandler, type FetchHandlerOptions } from './server/to-fetch-handler.js';
