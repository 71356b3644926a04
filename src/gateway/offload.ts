/**
 * Offload (X1, X2): the web server in front sends a file instead of tsgi.
 * With `--offload nginx:PREFIX` a response whose body is `wsgi.file_wrapper`
 * over a file with a path leaves tsgi as its head plus
 * `X-Accel-Redirect: PREFIX<path, percent-encoded>` and no body; with
 * `--offload sendfile`, `X-Sendfile: <path>` (Apache mod_xsendfile, lighttpd).
 *
 * The path named is never taken from the app's words or the request: it is
 * read back from the descriptor tsgi holds open (`/proc/self/fd/N`), so it
 * is the very file that would otherwise be streamed, after whatever checks
 * the opener made (staticFiles: H3). A file that has no such path (deleted,
 * not a regular file, read past its start, or a system without /proc) is
 * streamed as before.
 */
import { fstatSync, readFileSync, readlinkSync } from 'node:fs';
import { GatewayError } from '../contract/errors.js';
import { WRAPPED_BODY, type Header } from '../contract/types.js';
import { FileWrapper } from './file-wrapper.js';

/** How responses are offloaded: parsed once from `--offload`. */
export type OffloadSpec =
  | { readonly kind: 'nginx'; readonly prefix: string }
  | { readonly kind: 'sendfile' };

/** Every spec parseOffload made: only these count (a request variable named `tsgi.offload` is a string, never one). */
const SPECS = new WeakSet<OffloadSpec>();

function made(spec: OffloadSpec): OffloadSpec {
  SPECS.add(spec);
  return spec;
}

/** `value` when it is a spec parseOffload made, else undefined. */
export function offloadSpec(value: unknown): OffloadSpec | undefined {
  return typeof value === 'object' && value !== null && SPECS.has(value as OffloadSpec) ? value as OffloadSpec : undefined;
}

/**
 * Parses `nginx:PREFIX` or `sendfile`. The prefix is the URI of an nginx
 * `internal` location: it starts and ends with '/', and holds only
 * characters that need no encoding and no `.` or `..` segment.
 */
export function parseOffload(text: string): OffloadSpec {
  if (text === 'sendfile') return made(Object.freeze({ kind: 'sendfile' }));
  if (text.startsWith('nginx:')) {
    const prefix = text.slice(6);
    if (!/^\/(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*\/)*$/.test(prefix) || prefix.split('/').some((s) => s === '.' || s === '..')) {
      throw new GatewayError('ERR_BAD_OPTION', `offload ${JSON.stringify(text)}: the nginx prefix must be a URI path that starts and ends with / (letters, digits, - _ . ~), e.g. nginx:/internal/`);
    }
    return made(Object.freeze({ kind: 'nginx', prefix }));
  }
  throw new GatewayError('ERR_BAD_OPTION', `offload ${JSON.stringify(text)}: expected nginx:PREFIX (e.g. nginx:/internal/) or sendfile`);
}

/**
 * The absolute path (its bytes) of the regular file open on `fd`, read at
 * its start; undefined when it has none that a web server could open.
 */
export function pathOf(fd: number): Buffer | undefined {
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.nlink === 0) return undefined; // deleted: its old name is another file, or none
    // file_wrapper sends from the current offset (C21): offloading is only the same answer from offset 0.
    const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1');
    if (!/^pos:\s+0$/m.test(info)) return undefined;
    const path = readlinkSync(`/proc/self/fd/${fd}`, { encoding: 'buffer' });
    return path.length > 1 && path[0] === 0x2f ? path : undefined;
  } catch {
    return undefined;
  }
}

/** RFC 3986 §2.3 unreserved characters and '/', which nginx takes as they are; every other byte is %XX. */
function encodePath(path: Buffer): string {
  let out = '';
  for (const b of path) {
    const keep = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ||
      b === 0x2f || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
    out += keep ? String.fromCharCode(b) : `%${b < 16 ? '0' : ''}${b.toString(16).toUpperCase()}`;
  }
  return out;
}

/**
 * The header that hands the file at `path` to the web server, or undefined
 * when it cannot be named. X-Accel-Redirect is a URI: every byte but the
 * unreserved ones is percent-encoded (a `?` would start a query, a `%` an
 * escape), and nginx decodes it back. X-Sendfile is a file name as it is
 * (mod_xsendfile 0.12, Debian's, and lighttpd take it unescaped): its bytes
 * as latin-1 characters, and a name with a control character in it, which
 * no header can carry, is not offloaded.
 */
export function offloadHeader(spec: OffloadSpec, path: Buffer): Header | undefined {
  if (spec.kind === 'nginx') return ['X-Accel-Redirect', spec.prefix + encodePath(path).slice(1)];
  for (const b of path) if (b < 0x20 || b === 0x7f) return undefined;
  return ['X-Sendfile', path.toString('latin1')];
}

/**
 * The head of an offloaded response, from the app's: its headers without
 * Content-Length (the web server sends the file's own) and with the offload
 * header; undefined when this response is not to be offloaded: not a 200, or
 * the app set an offload header itself (then the response is its own
 * business and leaves as it made it), or a name no header can carry.
 */
export function offloadedHeaders(spec: OffloadSpec, status: string, headers: readonly Header[], path: Buffer): Header[] | undefined {
  if (!status.startsWith('200')) return undefined;
  const out: Header[] = [];
  for (const h of headers) {
    const name = h[0].toLowerCase();
    if (name === 'x-accel-redirect' || name === 'x-sendfile') return undefined;
    if (name !== 'content-length') out.push(h);
  }
  const header = offloadHeader(spec, path);
  if (header === undefined) return undefined;
  out.push(header);
  return out;
}

/**
 * The head that offloads the file open on `fd`, or undefined when this
 * response stays as it is (no status yet: C16's error is the body loop's to
 * report; or no path, or offloadedHeaders says no).
 */
export function offloadHead(spec: OffloadSpec, fd: number, status: string | undefined, headers: readonly Header[]): Header[] | undefined {
  if (status === undefined) return undefined;
  const path = pathOf(fd);
  return path === undefined ? undefined : offloadedHeaders(spec, status, headers, path);
}

/** X1: the file_wrapper body a response's body is, or wraps (through middleware that names it, WRAPPED_BODY). */
export function fileBody(body: unknown): FileWrapper | undefined {
  let b = body;
  for (let depth = 0; depth < 16 && b !== null && typeof b === 'object'; depth++) {
    if (b instanceof FileWrapper) return b;
    b = (b as { [WRAPPED_BODY]?: unknown })[WRAPPED_BODY];
  }
  return undefined;
}

/**
 * X2: the head of a streamed response that must reach the client as it is
 * written: `text/event-stream` gets `X-Accel-Buffering: no` (nginx then
 * passes each chunk on as it arrives instead of filling its buffers), unless
 * the app set that header itself (either way), or the front says it is not
 * nginx (`front`: SERVER_SOFTWARE, which Apache and lighttpd always send and
 * nginx sends as `nginx/…` or not at all): another web server would pass
 * the header on to the client. The same array when nothing is added.
 */
export function unbufferedHeaders(headers: readonly Header[], front?: string): readonly Header[] {
  if (front !== undefined && !front.startsWith('nginx')) return headers;
  let sse = false;
  for (let i = 0; i < headers.length; i++) {
    const name = headers[i]![0];
    if (name.length === 17 && name.toLowerCase() === 'x-accel-buffering') return headers;
    if (name.length === 12 && name.toLowerCase() === 'content-type' && /^\s*text\/event-stream\s*(?:;|$)/i.test(headers[i]![1])) sse = true;
  }
  return sse ? [...headers, ['X-Accel-Buffering', 'no']] : headers;
}

/** The servers' option (serveFastCgi, serveUwsgi, serveHttp, runCgi). */
export interface OffloadOptions {
  /**
   * X1: `'nginx:/internal/'` answers whole files from `wsgi.file_wrapper` and
   * `staticFiles()` with `X-Accel-Redirect`, `'sendfile'` with `X-Sendfile`,
   * and no body: the web server sends the file (off by default).
   */
  offload?: string;
}

/** The parsed option, or undefined without one (a bad one throws ERR_BAD_OPTION). */
export function offloadOf(options: OffloadOptions): OffloadSpec | undefined {
  return options.offload === undefined ? undefined : parseOffload(options.offload);
}
