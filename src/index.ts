/**
 * tsgi: PEP 3333's gateway contract in TypeScript.
 *
 * The servers live in their own entry points so that importing the contract
 * does not load them: `tsgi/cgi` (runCgi), `tsgi/http` (serveHttp),
 * `tsgi/fastcgi` (serveFastCgi) and `tsgi/uwsgi` (serveUwsgi). They are
 * re-exported here too for convenience.
 */
export type {
  App, Body, Chunk, Environ, FileLike, FileWrapperBody, FileWrapperFactory, Header, StartResponse, Write,
  WsgiErrors, WsgiInput,
} from './contract/types.js';
export { ContractError, GatewayError, type ErrorCode } from './contract/errors.js';
export { checkHeaders, checkStatus, describe, isToken } from './contract/head.js';
export { HTTPS_ON, OPTIONAL_VARS, REQUIRED_VARS } from './contract/cgi-vars.js';
export { fromWsgiString, isLatin1, latin1, latin1Bytes, wsgiString } from './contract/latin1.js';
export { formatLogLine, log, logs, setLogger, type Level, type LogSink } from './contract/log.js';
export { accessLine, accessLog, escapeLog, requestLine, setAccessLog, type AccessFormat, type AccessRecord } from './contract/access-log.js';
export { LogFile } from './contract/log-file.js';
export { RequestAbort } from './gateway/abort.js';
export { ERROR_BODY, runApp, type ResponseSink } from './gateway/engine.js';
export { completeEnviron, type EnvironExtras } from './gateway/environ.js';
export { ErrorStream } from './gateway/errors-stream.js';
export { FileWrapper, fileWrapper } from './gateway/file-wrapper.js';
export { fromClass, type AppClass } from './gateway/from-class.js';
export { FdSource, InputStream, MemorySource, emptyInput, type ByteSource } from './gateway/input.js';
export { BodySpool, type SpoolLimits } from './gateway/spool.js';
export { runCgi, cgiEnvironment, type CgiOptions } from './server/cgi.js';
export { serveHttp, type HttpOptions, type HttpServer } from './server/http.js';
export { serveFastCgi, type FastCgiOptions, type FastCgiServer } from './server/fastcgi.js';
export { serveUwsgi, type UwsgiOptions, type UwsgiServer } from './server/uwsgi.js';
export type { ListenAddress, ListenOptions } from './server/listen.js';
export type { SocketLimits, SocketServer } from './server/socket-server.js';
