/**
 * `staticFiles()`: serves the files under a directory at a URL prefix, with
 * conditional requests (ETag / Last-Modified → 304, RFC 9110 §13), single
 * byte ranges (206 / 416, RFC 9110 §14) and a Content-Type from mime-types.
 * Whole files stream through `wsgi.file_wrapper`; under `--offload` the web
 * server sends them (X1), named by the file this middleware opened.
 *
 * Only files inside the root are ever opened: `.` and `..` segments, NUL,
 * backslashes, percent-encoded slashes, dots or NULs (encoded once or twice)
 * are refused with 400, and a path whose real location (symlinks resolved)
 * is outside the root is not found. Dotfiles are not served unless allowed,
 * neither by their own name nor through a symlink to them or into a dotted
 * directory (H3): the test is made on the real path, and again on the file
 * actually opened.
 */
import { close as closeFd, closeSync, constants, fstatSync, openSync, read as readFd, readlinkSync, readSync, realpathSync, statSync } from 'node:fs';
import { extname, join, sep } from 'node:path';
import { GatewayError } from '../contract/errors.js';
import { wsgiString } from '../contract/latin1.js';
import type { Body, Environ, Header, StartResponse } from '../contract/types.js';
import { respond } from './body.js';
import type { Middleware } from './compose.js';
import { checkPrefix, underPrefix } from './paths.js';

/** Options of {@link staticFiles}. */
export interface StaticOptions {
  /** The directory to serve. */
  root: string;
  /** The URL prefix (within the app, i.e. of PATH_INFO) the files appear under (default `/`). */
  prefix?: string;
  /** The file served for a directory (default `index.html`; false for none). */
  index?: string | false;
  /** `Cache-Control: public, max-age=N` (seconds, default 0: caches revalidate every time). */
  maxAge?: number;
  /** Serve files and directories whose name starts with a dot (default false). */
  dotfiles?: boolean;
  /** Pass requests for missing files (and methods other than GET/HEAD) to the app (default true); else 404/405. */
  fallthrough?: boolean;
  /** Read size when streaming (default 64 KiB). */
  blockSize?: number;
}

type MimeTypes = typeof import('mime-types');
let loading: Promise<MimeTypes> | undefined;
let mimeTypes: MimeTypes | undefined;

/**
 * mime-types parses its whole database when it loads (~20 ms): a cost paid
 * at the first file served, not by every process that imports the middleware
 * (under CGI, every request).
 */
async function mime(): Promise<MimeTypes> {
  return (mimeTypes = await (loading ??= import('mime-types')));
}

// Encoded once, these reach PATH_INFO decoded (the gateway decodes once, C8);
// encoded twice, they arrive here still encoded. Neither is a file name we serve.
const ENCODED_RAW = /%(?:2f|5c|00)/i;
const ENCODED_TWICE = /%(?:2e|2f|5c|00)/i;

/** Serves `root` under `prefix`; everything else goes to the wrapped app. */
export function staticFiles(options: StaticOptions): Middleware {
  if (typeof options?.root !== 'string' || options.root === '') throw new GatewayError('ERR_BAD_OPTION', 'staticFiles(): root must be a directory path');
  let root: string;
  try {
    root = realpathSync(options.root);
  } catch (err) {
    throw new GatewayError('ERR_BAD_OPTION', `staticFiles(): root ${options.root} cannot be used: ${(err as Error).message}`);
  }
  // The prefix is text, PATH_INFO bytes (UTF-8 on the wire); H1: matched in any letter case, as Express routes.
  const prefix = wsgiString(checkPrefix(options.prefix ?? '/', 'staticFiles(): prefix')).toLowerCase();
  const index = options.index === undefined ? 'index.html' : options.index;
  const cacheControl = `public, max-age=${Math.max(0, Math.floor(options.maxAge ?? 0))}`;
  const fallthrough = options.fallthrough !== false;
  const blockSize = options.blockSize ?? 65536;
  const dotfiles = options.dotfiles === true;
  const below = root.endsWith(sep) ? root : root + sep;
  /** H3: the real path is the root or below it, with no dotted name below the root unless dotfiles are allowed. */
  const allowed = (real: string): boolean => {
    if (real === root) return true;
    if (!real.startsWith(below)) return false;
    return dotfiles || !real.slice(below.length).split(sep).some((name) => name.startsWith('.'));
  };

  /**
   * The real path of an existing file or directory that may be served, or
   * undefined: a symlink may lead elsewhere inside the root, but never out
   * of it and never to a dotfile (H3).
   */
  const locate = (segments: string[]): string | undefined => {
    try {
      const real = realpathSync(join(root, ...segments));
      return allowed(real) ? real : undefined;
    } catch {
      return undefined;
    }
  };

  return (app) => async (environ, startResponse) => {
    const path = environ.PATH_INFO || '/';
    if (!underPrefix(path.toLowerCase(), prefix)) return app(environ, startResponse);
    const method = environ.REQUEST_METHOD;
    if (method !== 'GET' && method !== 'HEAD') {
      if (fallthrough) return app(environ, startResponse);
      return respond(startResponse, '405 Method Not Allowed', [['Content-Type', 'text/plain; charset=utf-8'], ['Allow', 'GET, HEAD']], 'Method Not Allowed\n');
    }
    const rest = path.slice(prefix.endsWith('/') ? prefix.length - 1 : prefix.length);
    const rawPath = (environ.REQUEST_URI ?? '').split('?', 1)[0]!;
    const segments = rest.split('/').filter((s) => s !== '');
    if (ENCODED_RAW.test(rawPath) || ENCODED_TWICE.test(rest) || rest.includes('\0') || rest.includes('\\') ||
      segments.some((s) => s === '.' || s === '..')) {
      return respond(startResponse, '400 Bad Request', [['Content-Type', 'text/plain; charset=utf-8']], 'Bad Request\n');
    }
    const notFound = (): Body | Promise<Body> => (fallthrough ? app(environ, startResponse)
      : respond(startResponse, '404 Not Found', [['Content-Type', 'text/plain; charset=utf-8']], 'Not Found\n'));
    if (!dotfiles && segments.some((s) => s.startsWith('.'))) return notFound();
    // Bytes-as-string → the file name's UTF-8 bytes (PEP 3333: PATH_INFO holds the raw bytes).
    const names = segments.map((s) => Buffer.from(s, 'latin1').toString('utf8'));
    let real = locate(names);
    let file = real === undefined ? undefined : openFile(real);
    if (real === undefined || file === undefined) return notFound();
    if (file.dir) {
      closeSync(file.fd);
      if (!path.endsWith('/')) {
        // Rebuilt from the segments: an empty one ('//host') would make a protocol-relative redirect.
        const dir = `/${path.split('/').filter((s) => s !== '').join('/')}/`;
        const location = urlSafe(`${environ.SCRIPT_NAME}${dir}${environ.QUERY_STRING ? `?${environ.QUERY_STRING}` : ''}`);
        return respond(startResponse, '301 Moved Permanently', [['Content-Type', 'text/plain; charset=utf-8'], ['Location', location]], 'Moved Permanently\n');
      }
      real = index === false ? undefined : locate([...names, index]);
      file = real === undefined ? undefined : openFile(real);
      if (real === undefined || file === undefined) return notFound();
      if (file.dir) {
        closeSync(file.fd);
        return notFound();
      }
    }
    const type = (mimeTypes ?? await mime()).contentType(extname(real)) || 'application/octet-stream';
    return serveFile(environ, startResponse, file, type, { cacheControl, blockSize });
  };
}

/** Percent-encodes every byte that may not appear raw in a Location header. */
function urlSafe(s: string): string {
  return s.replace(/[^\x21-\x7e]|%(?![0-9A-Fa-f]{2})/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/**
 * Opens a located file. The file-system calls before the first byte are
 * synchronous: from the page cache each is far cheaper than a trip through
 * libuv's thread pool (nginx's workers make the same trade; figures in
 * docs/performance.md).
 * The checks are made on the open file, so that it cannot be swapped
 * between them and the read: `real` had no symlink in it when it was
 * resolved, and the file opened must still be the one at that path (H3: a
 * directory swapped for a symlink in between would lead elsewhere).
 */
function openFile(real: string): OpenFile | undefined {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO someone left in the root must not hang the process; it is refused below.
    // O_NOFOLLOW: the last name was no symlink when resolved; if it is one now, it was swapped.
    fd = openSync(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  const st = fstatSync(fd);
  if ((!st.isFile() && !st.isDirectory()) || !isAt(fd, real, st)) {
    closeSync(fd);
    return undefined;
  }
  return { fd, size: st.size, mtimeMs: st.mtimeMs, dir: st.isDirectory() };
}

/**
 * True when the open file `fd` is the one at `real`. Linux names an open
 * file's real path in /proc (one readlink); elsewhere the file now at
 * `real` must be the same inode as the one opened.
 */
function isAt(fd: number, real: string, st: { dev: number; ino: number }): boolean {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`) === real;
  } catch {
    try {
      const now = statSync(real);
      return now.dev === st.dev && now.ino === st.ino;
    } catch {
      return false;
    }
  }
}

interface OpenFile { fd: number; size: number; mtimeMs: number; dir: boolean }

function serveFile(environ: Environ, startResponse: StartResponse, file: OpenFile, type: string,
  o: { cacheControl: string; blockSize: number }): Body {
  const { fd, size, mtimeMs } = file;
  const etag = `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
  const lastModified = new Date(Math.floor(mtimeMs / 1000) * 1000).toUTCString();
  const validators: Header[] = [['ETag', etag], ['Last-Modified', lastModified], ['Cache-Control', o.cacheControl]];
  if (notModified(environ, etag, mtimeMs)) {
    closeSync(fd);
    startResponse('304 Not Modified', validators);
    return [];
  }
  const wrapper = environ['wsgi.file_wrapper'];
  // X1: under --offload the web server sends the file, and answers Range and HEAD itself (it
  // has the file; a 206 made here would be thrown away); a 304 costs nothing and stays here.
  const offload = environ['tsgi.offload'] !== undefined && typeof wrapper === 'function';
  const range = offload ? undefined : byteRange(environ, size, etag, lastModified);
  if (range === 'unsatisfiable') {
    closeSync(fd);
    return respond(startResponse, '416 Range Not Satisfiable',
      [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Range', `bytes */${size}`], ...validators], 'Range Not Satisfiable\n');
  }
  if (range) {
    const [start, end] = range;
    startResponse('206 Partial Content', [['Content-Type', type], ['Content-Length', String(end - start + 1)],
      ['Content-Range', `bytes ${start}-${end}/${size}`], ['Accept-Ranges', 'bytes'], ...validators]);
    return new FileRange(fd, start, end + 1, o.blockSize);
  }
  if (size <= o.blockSize && !offload) return small(startResponse, fd, size, type, validators);
  startResponse('200 OK', [['Content-Type', type], ['Content-Length', String(size)], ['Accept-Ranges', 'bytes'], ...validators]);
  return typeof wrapper === 'function' ? wrapper(fd, o.blockSize) : new FileRange(fd, 0, size, o.blockSize);
}

/**
 * A file of one block is read at once (synchronously, as openFile explains)
 * and answered as one chunk: the gateway sends head and body in one write
 * (C20), and no read is spent finding EOF.
 */
function small(startResponse: StartResponse, fd: number, size: number, type: string, validators: Header[]): Uint8Array[] {
  let buf = Buffer.allocUnsafe(size);
  try {
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    if (got < size) buf = buf.subarray(0, got); // it shrank since fstat: send what is there, with its length
  } finally {
    closeSync(fd);
  }
  startResponse('200 OK', [['Content-Type', type], ['Content-Length', String(buf.length)], ['Accept-Ranges', 'bytes'], ...validators]);
  return [buf];
}

/** RFC 9110 §13.1.2 (If-None-Match, weak comparison) and §13.1.3 (If-Modified-Since, only without If-None-Match). */
function notModified(environ: Environ, etag: string, mtimeMs: number): boolean {
  const inm = environ.HTTP_IF_NONE_MATCH;
  if (inm !== undefined) {
    if (inm.trim() === '*') return true;
    return inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
  }
  const ims = environ.HTTP_IF_MODIFIED_SINCE;
  if (ims === undefined) return false;
  const t = Date.parse(ims);
  return !Number.isNaN(t) && Math.floor(mtimeMs / 1000) * 1000 <= t;
}

/**
 * RFC 9110 §14.2: one `bytes=` range → [first, last]; anything else (no
 * Range, several ranges, bad syntax, a stale If-Range) → the whole file.
 */
function byteRange(environ: Environ, size: number, etag: string, lastModified: string): [number, number] | 'unsatisfiable' | undefined {
  const header = environ.HTTP_RANGE;
  if (header === undefined) return undefined;
  const ifRange = environ.HTTP_IF_RANGE;
  if (ifRange !== undefined && ifRange.trim() !== etag && ifRange.trim() !== lastModified) return undefined;
  const m = /^bytes=[ \t]*(\d*)-(\d*)[ \t]*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined; // invalid: ignored (§14.1.1)
  }
  if (start >= size || !Number.isSafeInteger(start)) return 'unsatisfiable';
  return [start, end];
}

function readAt(fd: number, size: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  return new Promise((resolve, reject) => {
    readFd(fd, buf, 0, size, position, (err, n) => (err ? reject(err) : resolve(n === size ? buf : buf.subarray(0, n))));
  });
}

/** Bytes [start, end) of an open file, read at explicit positions; close() closes it. */
export class FileRange implements AsyncIterable<Uint8Array> {
  readonly #fd: number;
  #pos: number;
  readonly #end: number;
  readonly #block: number;
  #closed = false;

  constructor(fd: number, start: number, end: number, block: number) {
    this.#fd = fd;
    this.#pos = start;
    this.#end = end;
    this.#block = block;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    while (!this.#closed && this.#pos < this.#end) {
      const chunk = await readAt(this.#fd, Math.min(this.#block, this.#end - this.#pos), this.#pos);
      if (chunk.length === 0) return; // the file shrank: the gateway sees a short body (C20)
      this.#pos += chunk.length;
      yield chunk;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeFd(this.#fd, () => {});
  }
}
