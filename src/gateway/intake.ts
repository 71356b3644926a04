/**
 * Request intake: the one place where the variables an adapter decoded become
 * a plan for the body and, once the body is in, the environ the app receives.
 * Every adapter (CGI, FastCGI, uwsgi, dev HTTP) frames bytes and calls these;
 * none re-derives a rule:
 *
 * - the limits and their defaults (one type for all four adapters, S1);
 * - the mount prefix: SCRIPT_NAME / PATH_INFO split (F13, U8);
 * - CONTENT_LENGTH: absent or '' is no body (C3, RFC 3875 §4.1.2), digits a
 *   length, anything else a 400; past the limit a 413; a body the transport
 *   delimits by itself (chunked, read to its end) is taken whole and given
 *   its real length;
 * - the refusal response (400 / 413), which each adapter frames like any other.
 */
import { Buffer } from 'node:buffer';
import { statSync } from 'node:fs';
import { GatewayError } from '../contract/errors.js';
import { applyMount, underMount } from '../contract/mount.js';
import type { Environ, Header } from '../contract/types.js';
import { completeEnviron, type EnvironExtras } from './environ.js';
import { InputStream, emptyInput, type ByteSource } from './input.js';
import { NO_CHUNKS, spooledChunks, streamingInput, type LiveBody } from './body-stream.js';
import type { SpoolLimits } from './spool.js';

// The mount rule lives in contract/, below both the intake and protocol/http-env.ts; re-exported for the adapters.
export { normalizeMount } from '../contract/mount.js';

/** The limits every adapter applies to one request. Each is on by default (S1). */
export interface RequestLimits {
  /** Largest request body; past it 413 (default 100 MiB). */
  maxBodyBytes?: number;
  /** Bodies up to this size stay in memory; larger ones are spooled to a temp file (default 1 MiB). */
  memoryBodyBytes?: number;
  /** Bytes of request bodies the whole process keeps in memory; past it every body is spooled (default 64 MiB, R3). */
  memoryBodyTotalBytes?: number;
  /** Directory for spooled bodies (default the OS temp dir). */
  spoolDir?: string;
  /** Bytes of one request's variables: FastCGI params, uwsgi vars (default 1 MiB; uwsgi can carry at most 64 KiB). */
  maxVarsBytes?: number;
  /** Number of one request's variables (default 1000). */
  maxVars?: number;
}

/** The defaults of RequestLimits. */
export const DEFAULT_LIMITS: Readonly<Required<Omit<RequestLimits, 'spoolDir'>>> = {
  maxBodyBytes: 100 * 1024 * 1024,
  memoryBodyBytes: 1024 * 1024,
  memoryBodyTotalBytes: 64 * 1024 * 1024,
  maxVarsBytes: 1024 * 1024,
  maxVars: 1000,
};

/** The body limits with their defaults, in the form the spool takes. */
export function spoolLimits(o: RequestLimits): SpoolLimits {
  return {
    maxBytes: o.maxBodyBytes ?? DEFAULT_LIMITS.maxBodyBytes,
    memoryBytes: o.memoryBodyBytes ?? DEFAULT_LIMITS.memoryBodyBytes,
    memoryTotalBytes: o.memoryBodyTotalBytes ?? DEFAULT_LIMITS.memoryBodyTotalBytes,
    dir: o.spoolDir,
  };
}

/** The variable limits with their defaults, in the form the codecs take. */
export function varsLimits(o: RequestLimits): { maxBytes: number; maxCount: number } {
  return { maxBytes: o.maxVarsBytes ?? DEFAULT_LIMITS.maxVarsBytes, maxCount: o.maxVars ?? DEFAULT_LIMITS.maxVars };
}

/** What to do about a request's body. */
export type BodyPlan =
  /** No body: the app runs now. */
  | { readonly kind: 'none' }
  /** Exactly `length` bytes follow (CONTENT_LENGTH). */
  | { readonly kind: 'length'; readonly length: number }
  /** A body of unknown length, delimited by its transport: read it to its end. */
  | { readonly kind: 'stream' }
  /** Answer at once without running the app. */
  | { readonly kind: 'refuse'; readonly status: RefusalStatus; readonly reason: string };

/** The statuses a refusal answers with. */
export type RefusalStatus = '400 Bad Request' | '413 Content Too Large' | '503 Service Unavailable';

const NONE: BodyPlan = { kind: 'none' };
const STREAM: BodyPlan = { kind: 'stream' };
/** Any run of digits: a length too large for a number is past every limit (413), not malformed. */
const DIGITS = /^[0-9]+$/;

/** What an adapter tells the intake about its transport. */
export interface AdmitOptions {
  /** `--mount` prefix, normalised (see normalizeMount); '' for none. */
  mount: string;
  /** Largest body (RequestLimits.maxBodyBytes with its default). */
  maxBodyBytes: number;
  /**
   * The transport delimits a body without CONTENT_LENGTH (FastCGI's STDIN
   * end, CGI's stdin EOF, HTTP chunked). uwsgi cannot: there a body is
   * exactly CONTENT_LENGTH bytes, whatever Transfer-Encoding says (U3).
   */
  streams: boolean;
}

/**
 * First step, once the variables are decoded: splits the path at the mount
 * prefix (in place) and plans the body.
 */
export function admit(vars: Record<string, string>, o: AdmitOptions): BodyPlan {
  splitPath(vars, o.mount);
  const cl = vars.CONTENT_LENGTH;
  if (cl === undefined || cl === '') {
    // No length: no body, unless it is being streamed (chunked, nginx with request buffering off).
    return o.streams && vars.HTTP_TRANSFER_ENCODING !== undefined ? STREAM : NONE;
  }
  if (!DIGITS.test(cl)) return { kind: 'refuse', status: '400 Bad Request', reason: `CONTENT_LENGTH ${JSON.stringify(cl)} is not a number` };
  const length = Number(cl);
  if (length > o.maxBodyBytes) return tooLarge(`the request body of ${length} bytes exceeds the limit of ${o.maxBodyBytes} bytes`);
  return length === 0 ? NONE : { kind: 'length', length };
}

/** A 413 refusal (also for a streamed body that outgrew the limit as it came in). */
export function tooLarge(reason: string): BodyPlan & { kind: 'refuse' } {
  return { kind: 'refuse', status: '413 Content Too Large', reason };
}

/** The 413 for a body that outgrew the limit as it came in (the spool's ERR_LIMIT_BODY); undefined for any other error. */
export function limitRefusal(err: unknown): (BodyPlan & { kind: 'refuse' }) | undefined {
  return err instanceof GatewayError && err.code === 'ERR_LIMIT_BODY' ? tooLarge(err.message) : undefined;
}

/** The response to a refusal: a fixed text/plain body that names the reason. */
export function refusalResponse(plan: { status: RefusalStatus; reason: string }): { status: string; headers: Header[]; body: Buffer } {
  const body = Buffer.from(`${plan.reason}\n`, 'latin1');
  return { status: plan.status, headers: [['Content-Type', 'text/plain'], ['Content-Length', String(body.length)]], body };
}

/** The body as it arrived: where to read it and how long it really is. */
export interface ReceivedBody {
  source: ByteSource;
  length: number;
}

/**
 * Second step, once the body is in: the environ the app receives. CONTENT_LENGTH
 * states the body's real length (absent when there is none, C3), so an app
 * sees a streamed upload as it sees any other.
 */
export function environFor(vars: Record<string, string>, body: ReceivedBody | null, x: Omit<EnvironExtras, 'input'>): Environ {
  let input;
  if (body === null) {
    input = emptyInput();
  } else if (body.length > 0) {
    vars.CONTENT_LENGTH = String(body.length);
    input = new InputStream(body.source, body.length);
  } else {
    delete vars.CONTENT_LENGTH;
    input = emptyInput();
  }
  const environ = completeEnviron(vars, x, input);
  // X3: one shared empty iterable for the many requests without a body (no object per GET).
  environ['tsgi.input'] = input.remaining > 0 ? spooledChunks(input) : NO_CHUNKS;
  return environ;
}

/**
 * The environ of an app started before its body is in (X3, `streamBodies`):
 * `tsgi.input` is the live body; `wsgi.input` refuses synchronous reads, with
 * the fix in the message. CONTENT_LENGTH stays as the client declared it
 * (absent for a chunked body).
 */
export function streamingEnviron(vars: Record<string, string>, live: LiveBody, x: Omit<EnvironExtras, 'input'>): Environ {
  const environ = completeEnviron(vars, x, streamingInput(live));
  environ['tsgi.input'] = live;
  return environ;
}

/**
 * Normalises the path variables in place: SCRIPT_NAME and PATH_INFO as the
 * app sees them (F13, U8), whichever web server sent them.
 *
 * The rule for an absent PATH_INFO. RFC 3875 §4.1.13 makes SCRIPT_NAME the
 * URL path of the script the server resolved the request to, and §4.1.5 makes
 * PATH_INFO what follows it, which a server may leave out when nothing does.
 * A server that split the path itself names the script file it found in
 * SCRIPT_FILENAME (Apache's mod_cgi and mod_fcgid, nginx + fcgiwrap:
 * `/cgi-bin/env` gives SCRIPT_NAME `/cgi-bin/env`, no PATH_INFO, and
 * SCRIPT_FILENAME `/usr/lib/cgi-bin/env`). When that names an existing
 * regular file, SCRIPT_NAME is kept and PATH_INFO is '', so an app at
 * `/app.fcgi` answers `GET /app.fcgi` with its `/` route. Otherwise the
 * server split nothing and sent the whole path as SCRIPT_NAME: with no
 * SCRIPT_FILENAME (nginx's `fastcgi_params`), a `proxy:` URL there (Apache's
 * mod_proxy_fcgi), or the document root joined to the URL whatever it names
 * (nginx's `fastcgi.conf`: `/a/b` gives SCRIPT_FILENAME `$document_root/a/b`,
 * not a file). That path is the app's PATH_INFO, and SCRIPT_NAME is ''.
 *
 * Then `mount`: a path at or below it is split into SCRIPT_NAME = mount and
 * PATH_INFO = the rest.
 */
export function splitPath(vars: Record<string, string>, mount: string): void {
  if (vars.PATH_INFO === undefined) {
    if (namesScript(vars.SCRIPT_FILENAME)) {
      vars.PATH_INFO = '';
    } else {
      const whole = vars.SCRIPT_NAME ?? '';
      if (mount !== '' && underMount(whole, mount)) {
        vars.SCRIPT_NAME = mount;
        vars.PATH_INFO = whole.slice(mount.length);
      } else {
        vars.SCRIPT_NAME = '';
        vars.PATH_INFO = whole;
      }
      return;
    }
  }
  applyMount(vars, mount);
}

/** Longest SCRIPT_FILENAME looked at: Linux's PATH_MAX; a longer path cannot name a file. */
const MAX_FILENAME = 4096;
/** A char past ASCII: the name must go to stat as its latin1 bytes, not as UTF-8. */
const NON_ASCII = /[^\x00-\x7f]/;
/** Entries the script-file cache holds before it starts over. */
const SCRIPT_CACHE_SIZE = 256;
/**
 * SCRIPT_FILENAME → whether it named a regular file (F13). One server sends
 * the same few names again and again (mod_fcgid, fcgiwrap): those are stat'ed
 * once, not per request. Distinct names (nginx's fastcgi.conf, one per URL)
 * cost one stat each and cannot grow the map past its bound: it is emptied
 * when full.
 */
const scriptFiles = new Map<string, boolean>();

/** SCRIPT_FILENAME names the script the server split the path at: an absolute path to an existing regular file (see splitPath). */
function namesScript(filename: string | undefined): boolean {
  if (filename === undefined || filename.charCodeAt(0) !== 47 || filename.length > MAX_FILENAME) return false;
  let known = scriptFiles.get(filename);
  if (known === undefined) {
    known = isRegularFile(filename);
    if (scriptFiles.size >= SCRIPT_CACHE_SIZE) scriptFiles.clear();
    scriptFiles.set(filename, known);
  }
  return known;
}

/** The file exists and is a regular file (a symlink to one is): a directory is no script. */
function isRegularFile(filename: string): boolean {
  try {
    // The variables hold the server's bytes one per char (latin1): the path is those bytes. An
    // ASCII name is the same bytes as a string, which spares a Buffer per look-up.
    const path = NON_ASCII.test(filename) ? Buffer.from(filename, 'latin1') : filename;
    return statSync(path, { throwIfNoEntry: false })?.isFile() === true;
  } catch {
    // EACCES, ELOOP, a NUL byte in the name…: not a script this process can see.
    return false;
  }
}
