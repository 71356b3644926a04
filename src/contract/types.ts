/**
 * The contract of docs/design.md ("The contract"): PEP 3333 typed for TypeScript.
 */

/** A body chunk. Bodies are bytes, never strings. */
export type Chunk = Uint8Array;
/** A response header: latin-1 bytes-as-strings. */
export type Header = [name: string, value: string];
/** The `write()` callable returned by `startResponse` (PEP 3333 "The write() Callable"). */
export type Write = (data: Chunk) => void;
/** PEP 3333 "The start_response() Callable". */
export type StartResponse = (status: string, headers: Header[], excInfo?: unknown) => Write;
/** A response body: sync or async iterable of chunks, optionally with `close()`. */
export type Body = (Iterable<Chunk> | AsyncIterable<Chunk>) & { close?: () => unknown };
/** An application. */
export type App = (environ: Environ, startResponse: StartResponse) => Body | Promise<Body>;

/** `wsgi.input` (PEP 3333 "Input and Error Streams"). All reads are synchronous. */
export interface WsgiInput extends Iterable<Uint8Array>, AsyncIterable<Uint8Array> {
  /** Read up to `size` bytes; with no size (or a negative one), the rest of the body. */
  read(size?: number | null): Uint8Array;
  /** Read one line (up to and including `\n`), at most `size` bytes. */
  readline(size?: number | null): Uint8Array;
  /** Read lines until their total length reaches `hint` (all lines without one). */
  readlines(hint?: number | null): Uint8Array[];
}

/** `wsgi.errors`: a text stream that never throws. */
export interface WsgiErrors {
  write(s: string): void;
  writelines(seq: Iterable<string>): void;
  flush(): void;
}

/** Anything `wsgi.file_wrapper` accepts: a numeric fd, an open `FileHandle`, or a path. */
export type FileLike = number | string | { fd: number; read: (...args: never[]) => unknown; close: () => Promise<void> };

/** A body that streams a file; see `wsgi.file_wrapper`. */
export interface FileWrapperBody extends AsyncIterable<Uint8Array> {
  close(): void;
}

/** `wsgi.file_wrapper(file, blksize?)`. */
export type FileWrapperFactory = (file: FileLike, blksize?: number) => FileWrapperBody;

/** The environ: CGI variables as bytes-as-strings, plus the `wsgi.*` and `tsgi.*` keys. */
export interface Environ {
  REQUEST_METHOD: string;
  SCRIPT_NAME: string;
  PATH_INFO: string;
  QUERY_STRING: string;
  SERVER_NAME: string;
  SERVER_PORT: string;
  SERVER_PROTOCOL: string;
  CONTENT_TYPE?: string;
  CONTENT_LENGTH?: string;
  REQUEST_URI?: string;
  REMOTE_ADDR?: string;
  [header: `HTTP_${string}`]: string | undefined;
  'wsgi.version': [1, 0];
  'wsgi.url_scheme': string;
  'wsgi.input': WsgiInput;
  'wsgi.errors': WsgiErrors;
  'wsgi.multithread': boolean;
  'wsgi.multiprocess': boolean;
  'wsgi.run_once': boolean;
  'wsgi.file_wrapper': FileWrapperFactory;
  /** Fires when the web server aborts the request or the client goes away. */
  'tsgi.abort': AbortSignal;
  /**
   * X3: the request body as an async iterable of its chunks. With the
   * server's `streamBodies` on, the app starts before the body is in and
   * gets each chunk as it arrives (with back-pressure); otherwise the
   * spooled body in blocks.
   */
  'tsgi.input'?: AsyncIterable<Uint8Array>;
  /**
   * X4: sends `103 Early Hints` with these headers (e.g. `Link: </app.css>; rel=preload`)
   * where the front passes 1xx (the dev HTTP server); a no-op elsewhere and once the head is out.
   */
  'tsgi.early_hints'?: (headers: [string, string][]) => void;
  /** What the gateway has done with the response so far (set by the engine; read-only). */
  'tsgi.response'?: ResponseProgress;
  /**
   * Present only where the connection can be tunnelled (uwsgi, SCGI, the dev
   * HTTP server) and the request asks to switch protocols (W1, W2): takes
   * the connection. See {@link Upgrade}.
   */
  'tsgi.upgrade'?: Upgrade;
  [key: string]: unknown;
}

/**
 * `environ['tsgi.upgrade']()` (W2): the app takes the request's connection
 * to switch protocols (a WebSocket). It writes the response head itself on
 * `socket` (`HTTP/1.1 101 Switching Protocols` …, as to a node:http socket;
 * the adapter rewrites the status line where its front wants another form),
 * and from then on the connection is a byte tunnel both ways. The app then
 * calls `startResponse('101 Switching Protocols', [])` and returns an empty
 * body: that response is not sent (the bytes written on `socket` are), it
 * only ends the request for the gateway (access log, counts). Throws a
 * GatewayError `ERR_LIMIT_TUNNELS` when this worker has as many tunnels open
 * as it may (W4).
 */
export type Upgrade = () => UpgradedConnection;

/** What `tsgi.upgrade()` gives: the connection, and what the client sent after the request. */
export interface UpgradedConnection {
  /** A Duplex over the web server's connection, shaped like a net.Socket. */
  readonly socket: import('node:stream').Duplex;
  /** Bytes the client sent after the request, already read (as node:http's `'upgrade'` `head`). */
  readonly head: Buffer;
}

/**
 * A response's way through the gateway: held back until its first bytes
 * (C14), then streaming, then done, or cut off (an error after the head, a
 * body shorter than its Content-Length, an abort, a client gone).
 */
export type ResponseState = 'before-head' | 'streaming' | 'done' | 'cut';

/**
 * `environ['tsgi.response']`: what the web server has been handed so far, so
 * that middleware can tell what the client saw (the gateway's 500 of C18, or
 * the app's status cut off) without re-deriving the gateway's rules.
 */
export interface ResponseProgress {
  /** The status line sent, or undefined while the head is held back (C14) or when none ever was. */
  readonly status: string | undefined;
  /** Where the response is now. */
  readonly state: ResponseState;
}

/**
 * X1: a body wrapper that hands on its body's bytes unchanged (validate(),
 * the hooks of logging() and timing(), errors()) names the body it wraps
 * under this key, so that a `wsgi.file_wrapper` body beneath it can still be
 * offloaded (`--offload`); its close() must still close that body.
 */
export const WRAPPED_BODY: unique symbol = Symbol.for('tsgi.wrapped_body');
