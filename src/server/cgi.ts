/**
 * The CGI adapter (RFC 3875): one request per process. Environ from the raw
 * environment bytes, `wsgi.input` from stdin, the response on stdout.
 *
 * Imports only what a CGI request needs: cold start is most of a CGI
 * request's cost (docs/design.md, "Cold start").
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { log } from '../contract/log.js';
import type { App, Header } from '../contract/types.js';
import { RequestAbort } from '../gateway/abort.js';
import { ERROR_BODY, runApp, type ResponseSink } from '../gateway/engine.js';
import { DEFAULT_LIMITS, admit, environFor, refusalResponse, spoolLimits, tooLarge, type ReceivedBody } from '../gateway/intake.js';
import { ErrorStream } from '../gateway/errors-stream.js';
import { writeAllSync } from '../gateway/fd.js';
import { FdSource } from '../gateway/input.js';
import { offloadOf, type OffloadOptions } from '../gateway/offload.js';
import { cgiHead, parseEnvironBlock } from '../protocol/cgi.js';
import { droppedProxyHeader, dropProxyHeader, restoreProxyHeader } from './cgi-proxy.js';

/** Options of runCgi. The defaults are what a web server expects. */
export interface CgiOptions extends OffloadOptions {
  /** The CGI variables. Default: the raw process environment (CGI1). */
  environ?: Record<string, string>;
  /** File descriptors (default 0, 1, 2). */
  stdin?: number;
  stdout?: number;
  stderr?: number;
  /** Largest CONTENT_LENGTH accepted; past it: 413 (S1). Default 100 MiB, as for every adapter. */
  maxBodyBytes?: number;
  /** Exit the process when the response is done (default true: CGI is run-once). */
  exit?: boolean;
  /** Send anything the app prints with console.log to stderr, so it cannot corrupt the response (default true). */
  guardStdout?: boolean;
}

/**
 * CGI1: the environment as raw bytes. Node's process.env decodes UTF-8 and
 * replaces invalid bytes; /proc/self/environ has them as they were.
 */
export function cgiEnvironment(): Record<string, string> {
  if (process.platform === 'linux') {
    try {
      const vars = parseEnvironBlock(readFileSync('/proc/self/environ'));
      restoreProxyHeader(vars);
      return vars;
    } catch {
      /* no /proc: fall through */
    }
  }
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) vars[k] = Buffer.from(v, 'utf8').toString('latin1');
  // H2: process.env no longer has the request's Proxy header; the environ keeps it.
  const proxy = droppedProxyHeader();
  if (proxy !== undefined && vars.HTTP_PROXY === undefined) vars.HTTP_PROXY = Buffer.from(proxy, 'utf8').toString('latin1');
  return vars;
}

/** The stdout sink: a `Status:` head then raw body bytes (CGI3). */
class CgiSink implements ResponseSink {
  #fd: number;
  #controller: RequestAbort;
  cut = false;
  constructor(fd: number, controller: RequestAbort) {
    this.#fd = fd;
    this.#controller = controller;
  }
  head(status: string, headers: readonly Header[], chunk: Uint8Array | null): void {
    const head = cgiHead(status, headers);
    const n = Buffer.byteLength(head, 'latin1');
    const buf = Buffer.allocUnsafe(n + (chunk ? chunk.length : 0));
    buf.write(head, 0, 'latin1');
    if (chunk) buf.set(chunk, n);
    this.#send(buf);
  }
  write(chunk: Uint8Array): void {
    this.#send(chunk);
  }
  end(): void {}
  abort(): void {
    this.cut = true;
  }
  #send(buf: Uint8Array): void {
    try {
      writeAllSync(this.#fd, buf);
    } catch (err) {
      // EPIPE: the web server closed our stdout; the client is gone (C17).
      this.cut = true;
      this.#controller.abort(err);
      throw err;
    }
  }
}

/**
 * Runs `app` for the one request this process was started for. Resolves with
 * the exit code (0 after a complete response, 1 when it was cut off) and, by
 * default, exits the process with it. `app` may be a Promise (the module still
 * loading): if it rejects, the web server gets the fixed 500 and the error
 * goes to stderr (C18), rather than no output at all. HTTP_PROXY (a client's
 * `Proxy:` header) is out of process.env before anything else (H2, CGI5):
 * pass `import('./app.js')` rather than an app imported beforehand, so that
 * the app module is evaluated only after that.
 */
export async function runCgi(app: App | Promise<App>, options: CgiOptions = {}): Promise<number> {
  // H2 (httpoxy): first of all, before a module still loading (a Promise) runs any more of its code.
  dropProxyHeader();
  if (typeof app !== 'function') {
    try {
      app = await app;
    } catch (err) {
      return loadFailed(err, options);
    }
  }
  const vars = options.environ ? { ...options.environ } : cgiEnvironment();
  const stdout = options.stdout ?? 1;
  if (options.guardStdout !== false && stdout === 1) guardStdout();

  const controller = new RequestAbort();
  const onTerm = (): void => controller.abort(new Error('SIGTERM: the web server ended the request'));
  process.once('SIGTERM', onTerm);

  const errors = ErrorStream.toFd(options.stderr ?? 2);
  const sink = new CgiSink(stdout, controller);
  const max = options.maxBodyBytes ?? DEFAULT_LIMITS.maxBodyBytes;
  const stdin = options.stdin ?? 0;
  let code = 1;
  let body: ReceivedBody | null = null;
  let plan = admit(vars, { mount: '', maxBodyBytes: max, streams: true });
  if (plan.kind === 'length') {
    // wsgi.input reads stdin itself, never past CONTENT_LENGTH (CGI2).
    body = { source: new FdSource(stdin, false), length: plan.length };
  } else if (plan.kind === 'stream') {
    // Apache mod_cgi passes a chunked request body de-chunked on stdin, up to EOF, with no
    // CONTENT_LENGTH. Spool it and give the app its real length, as nginx does (C9: nothing lost).
    const { BodySpool } = await import('../gateway/spool.js');
    const spool = new BodySpool(spoolLimits({ maxBodyBytes: max }));
    const stream = new FdSource(stdin, false);
    try {
      for (let chunk = stream.pull(65536); chunk.length > 0; chunk = stream.pull(65536)) spool.push(chunk);
      body = { source: spool.source(), length: spool.length };
    } catch (err) {
      spool.dispose();
      plan = tooLarge(err instanceof Error ? err.message : String(err));
    }
  }
  if (plan.kind === 'refuse') {
    log('warn', `CGI: ${plan.reason}`);
    const r = refusalResponse(plan);
    try {
      sink.head(r.status, r.headers, r.body);
      code = 0; // a complete response, though a refusal (CGI3)
    } catch { /* client gone */ }
  } else {
    const environ = environFor(vars, body, { errors, abort: controller, multiprocess: true, runOnce: true, offload: offloadOf(options) });
    await runApp(app, environ, sink, controller);
    body?.source.dispose?.();
    code = sink.cut ? 1 : 0;
  }
  process.removeListener('SIGTERM', onTerm);
  if (options.exit !== false) process.exit(code);
  return code;
}

let guarded = false;
/** Route process.stdout (console.log) to stderr: under CGI, stdout is the response. */
function guardStdout(): void {
  if (guarded) return;
  guarded = true;
  Object.defineProperty(process, 'stdout', { configurable: true, enumerable: true, get: () => process.stderr });
}

/** The app did not load: the fixed 500 on stdout (C18), the reason on stderr, exit 1. */
function loadFailed(err: unknown, options: CgiOptions): number {
  const reason = err instanceof Error && err.name === 'GatewayError' ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
  log('error', reason);
  const head = cgiHead('500 Internal Server Error', [['Content-Type', 'text/plain'], ['Content-Length', String(ERROR_BODY.length)]]);
  try {
    writeAllSync(options.stdout ?? 1, Buffer.concat([Buffer.from(head, 'latin1'), ERROR_BODY]));
  } catch { /* the web server is gone */ }
  if (options.exit !== false) process.exit(1);
  return 1;
}
