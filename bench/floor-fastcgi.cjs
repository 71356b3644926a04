// The contract's floor for FastCGI: the minimal responder (minimal-fastcgi.cjs)
// plus only the work PEP 3333 and tsgi's contract require per request, each
// step done the cheapest way known on V8, and nothing else: no request
// bodies, no multiplexing, no limits, no abort handling, no logging hook. It
// runs the hello-world app only, and is not a server to deploy.
//
// Per request:
//   - its variables read: the PARAMS block compared with the remembered
//     request's from each end, 32-bit words at a time (bytes when a block is
//     not 4-byte aligned); when the one pair between the differences carries
//     a variable no environ rule reads (REMOTE_PORT, for nginx's requests
//     from different clients), its value is decoded and stored over a copy
//     of the remembered request's completed environ. Any other request is
//     decoded pair by pair into a new object and completed; the second such
//     request in a row is remembered instead;
//   - the environ completed (C2, C3, C5, C7, C8; FCGI_ROLE), once per
//     remembered request;
//   - a fresh environ each time (C1), wsgi.version as a new list,
//     wsgi.errors bound to the request (its text would go out as
//     FCGI_STDERR), tsgi.response, and tsgi.abort: the AbortSignal itself on
//     V8 12+ (Node 22, 24), an accessor defined from one shared descriptor on
//     V8 11 (Node 20), where an AbortController costs 2.4 µs;
//   - start_response and write() as callables of the request, a second
//     start_response refused (C15); the status and the headers checked by
//     tsgi's own checkStatus and checkHeaders (C11, C12, C13; they skip the
//     strings that passed last time), and the checked pairs sent, not the
//     app's list;
//   - the app's call, a 500 if it throws (C18); the body checked (C19: a
//     list of one Uint8Array, or empty); Content-Length added unless
//     declared (C20); close() called when there is one (C17);
//   - the head as latin-1 text (kept while status, headers and length
//     repeat) and the reply (STDOUT padded to 8 bytes, the empty STDOUT,
//     END_REQUEST: F9) in one new buffer.
//
// `bench/inprocess.cjs --floor` runs it in process; `node bench/floor-fastcgi.cjs
// SOCKET` serves nginx's fastcgi_pass (a row of `npm run bench`).
'use strict';
const { join } = require('node:path');
const { serve } = require('./minimal-fastcgi.cjs');
// tsgi's own rules where they are data or a check (the built bundle: npm run build).
const { HTTPS_ON, OPTIONAL_VARS, checkHeaders, checkStatus, checkedPairs } = require(join(__dirname, '..', 'dist', 'tsgi.cjs'));

const V8 = Number.parseInt(process.versions.v8, 10);
const SIGNAL_AT_ONCE = V8 >= 12;
const REQUEST = Symbol('request');
/** tsgi.abort where the signal is made on first read (never read here). */
const LAZY_ABORT = {
  get() { return this[REQUEST].signal; },
  set(v) { Object.defineProperty(this, 'tsgi.abort', { value: v, writable: true, enumerable: true, configurable: true }); },
  enumerable: true,
  configurable: true,
};
const EMPTY_INPUT = Object.freeze({ read: () => Buffer.alloc(0), readline: () => Buffer.alloc(0) });
const ERROR_BODY = Buffer.from('A server error occurred.  Please contact the administrator.');
const OPTIONAL = new Set(OPTIONAL_VARS);
/** The variables `complete` reads: a change in any of them is not stored over a completed copy. */
const READ = new Set(['REQUEST_METHOD', 'SERVER_PROTOCOL', 'QUERY_STRING', 'SERVER_NAME', 'SERVER_PORT', 'HTTP_HOST',
  'HTTPS', 'REQUEST_SCHEME', 'SCRIPT_NAME', 'PATH_INFO', 'CONTENT_LENGTH', 'HTTP_TRANSFER_ENCODING', 'FCGI_ROLE']);
const fileWrapper = (file) => file;

/** Each pair of a PARAMS block (FastCGI 1.0 §3.4: one- or four-byte lengths) as (name, value start, value end). */
function eachPair(bytes, f) {
  for (let at = 0; at < bytes.length;) {
    const nlen = bytes[at] < 128 ? bytes[at++] : bytes.readUInt32BE((at += 4) - 4) & 0x7fffffff;
    const vlen = bytes[at] < 128 ? bytes[at++] : bytes.readUInt32BE((at += 4) - 4) & 0x7fffffff;
    f(bytes.latin1Slice(at, at + nlen), at + nlen, at + nlen + vlen);
    at += nlen + vlen;
  }
}

/** A request's variables, decoded into a new object (C3: no empty optional variable; C7; repeated headers joined). */
function decode(params) {
  const vars = {};
  eachPair(params, (name, v, end) => {
    const value = params.latin1Slice(v, end);
    if (name === 'HTTP_CONTENT_TYPE' || name === 'HTTP_CONTENT_LENGTH' || name === '__proto__') return;
    if (name.startsWith('HTTP_') && vars[name] !== undefined) vars[name] += `${name === 'HTTP_COOKIE' ? '; ' : ', '}${value}`;
    else if (value === '' && OPTIONAL.has(name)) delete vars[name];
    else vars[name] = value;
  });
  return vars;
}

/** Completes decoded variables into an environ (C2, C5, C8, FCGI_ROLE; the wsgi.* keys; per-request values left null). */
function complete(vars) {
  const https = HTTPS_ON.test(vars.HTTPS ?? '') || (vars.REQUEST_SCHEME ?? '').toLowerCase() === 'https';
  if (!vars.REQUEST_METHOD) vars.REQUEST_METHOD = 'GET';
  if (!vars.SERVER_PROTOCOL) vars.SERVER_PROTOCOL = 'HTTP/1.0';
  vars.QUERY_STRING ??= '';
  if (!vars.SERVER_NAME) vars.SERVER_NAME = (vars.HTTP_HOST ?? '').replace(/:\d*$/, '') || 'localhost';
  if (!vars.SERVER_PORT) vars.SERVER_PORT = https ? '443' : '80';
  // nginx's fastcgi_params send the whole path as SCRIPT_NAME and no PATH_INFO (no mount: it is all PATH_INFO).
  if (vars.PATH_INFO === undefined) {
    vars.PATH_INFO = vars.SCRIPT_NAME ?? '';
    vars.SCRIPT_NAME = '';
  }
  vars.SCRIPT_NAME = vars.SCRIPT_NAME.replace(/\/+$/, '');
  vars.FCGI_ROLE = 'RESPONDER';
  Object.assign(vars, {
    'wsgi.version': null, 'wsgi.url_scheme': https ? 'https' : 'http', 'wsgi.input': null, 'wsgi.errors': null,
    'wsgi.multithread': false, 'wsgi.multiprocess': false, 'wsgi.run_once': false, 'wsgi.file_wrapper': fileWrapper,
  });
  if (SIGNAL_AT_ONCE) vars['tsgi.abort'] = null;
  vars['tsgi.response'] = null;
  return vars;
}

/** An object literal compiled for the keys of `o`: a copy of `o` with one fixed shape (never V8's dictionary mode). */
function literal(o) {
  const body = Object.keys(o).map((k) => `${JSON.stringify(k)}: x[${JSON.stringify(k)}]`).join(', ');
  return new Function('x', `return { ${body} };`);
}

/** The cheapest whole copy of a fast object: `{ ...o }` on V8 12+; on V8 11 (Node 20), where that is slow, `literal`. */
function copier(o) {
  return V8 >= 12 ? (x) => ({ ...x }) : literal(o);
}

/** A request remembered: its PARAMS bytes, where each pair ends, which pairs may change over a copy, its completed environ. */
function remembered(params) {
  const bytes = Buffer.from(params);
  const ends = [];
  const names = [];
  const seen = new Map();
  eachPair(bytes, (name, _v, end) => {
    names.push(name);
    ends.push(end);
    seen.set(name, (seen.get(name) ?? 0) + 1);
  });
  // A pair may change over the copy when no rule reads its name, its name is not repeated, and it is not C7's.
  const inert = names.map((n) => !READ.has(n) && seen.get(n) === 1 && n !== 'HTTP_CONTENT_TYPE' && n !== 'HTTP_CONTENT_LENGTH' && n !== '__proto__');
  // Completed once, then made a fast object (decode deletes, which leaves a dictionary).
  const completed = complete(decode(bytes));
  const environ = literal(completed)(completed);
  const aligned = (bytes.byteOffset & 3) === 0;
  return {
    bytes, words: aligned ? new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2) : null,
    ends, names, inert, environ, copy: copier(environ),
  };
}

/**
 * The first and the last offset where `params` differs from the remembered
 * bytes, [-1, -1] when nowhere: 32-bit words when both begin on a 4-byte
 * boundary, else bytes (as tsgi's vars memo compares).
 */
function differences(r, params) {
  const x = r.bytes;
  const len = params.length;
  let a = 0;
  let b = len;
  if (r.words !== null && (params.byteOffset & 3) === 0) {
    const words = new Int32Array(params.buffer, params.byteOffset, len >> 2);
    const w = r.words;
    let k = 0;
    while (k < w.length && w[k] === words[k]) k++;
    a = k << 2;
    while (b > a && (b & 3) !== 0 && x[b - 1] === params[b - 1]) b--;
    if ((b & 3) === 0) {
      let j = b >> 2;
      while (j > k && w[j - 1] === words[j - 1]) j--;
      b = j << 2;
    }
  }
  while (a < len && x[a] === params[a]) a++;
  if (a === len) return [-1, -1];
  while (b > a && x[b - 1] === params[b - 1]) b--;
  return [a, b - 1];
}

/**
 * The request's environ, new: a copy of the remembered one with the one
 * changed value stored over it, or else decoded and completed (null then:
 * the caller counts a miss).
 */
function environOf(r, params) {
  if (params.length === r.bytes.length) {
    const [a, b] = differences(r, params);
    if (a < 0) return r.copy(r.environ);
    let i = 0;
    while (r.ends[i] <= a) i++;
    const start = i === 0 ? 0 : r.ends[i - 1];
    const nlen = params[start];
    const vstart = start + 2 + nlen;
    // One pair, with one-byte lengths, the same name and a non-empty value of the same length (C3), that no rule reads.
    if (r.ends[i] > b && r.inert[i] && nlen < 128 && params[start + 1] < 128 && params[start + 1] > 0 &&
      nlen === r.bytes[start] && params[start + 1] === r.bytes[start + 1] && a >= vstart) {
      const environ = r.copy(r.environ);
      environ[r.names[i]] = params.latin1Slice(vstart, r.ends[i]);
      return environ;
    }
  }
  return null;
}

class Errors {
  constructor(id) { this.id = id; }
  write(text) { return text.length; }
  flush() {}
  writelines(lines) { for (const l of lines) this.write(l); }
}

/** The last head made, and what it was made from: the same status, checked pairs (shared while the app repeats its strings) and length give the same text. */
const last = { status: '', pairs: null, length: -1, text: '' };

/** The head as text, with Content-Length added unless the app declared one (C20). */
function headText(status, pairs, declared, length) {
  if (status === last.status && pairs === last.pairs && length === last.length) return last.text;
  let head = `Status: ${status}\r\n`;
  for (let i = 0; i < pairs.length; i++) head += `${pairs[i][0]}: ${pairs[i][1]}\r\n`;
  if (declared < 0) head += `Content-Length: ${length}\r\n`;
  last.status = status;
  last.pairs = pairs;
  last.length = length;
  last.text = `${head}\r\n`;
  return last.text;
}

/** A record header: version 1, `type`, request `id`, `length` bytes of content, `pad` bytes of padding. */
function recordHead(out, o, type, id, length, pad) {
  out[o] = 1; out[o + 1] = type; out[o + 2] = id >> 8; out[o + 3] = id & 255;
  out[o + 4] = length >> 8; out[o + 5] = length & 255; out[o + 6] = pad; out[o + 7] = 0;
}

/** One whole reply: the head and body as padded STDOUT, the empty STDOUT and END_REQUEST (F9). */
function reply(id, head, chunk) {
  const content = head.length + chunk.length;
  const pad = (8 - (content & 7)) & 7;
  const out = Buffer.allocUnsafe(8 + content + pad + 8 + 16);
  recordHead(out, 0, 6, id, content, pad);
  out.latin1Write(head, 8);
  out.set(chunk, 8 + head.length);
  let o = 8 + content;
  for (let i = 0; i < pad; i++) out[o++] = 0;
  recordHead(out, o, 6, id, 0, 0);
  recordHead(out, o + 8, 3, id, 8, 0);
  for (let i = o + 16; i < o + 24; i++) out[i] = 0; // appStatus 0, FCGI_REQUEST_COMPLETE, reserved
  return out;
}

class Response {
  status = '';
  pairs = null;
  declared = -1;
  controller = undefined;
  startResponse = (status, headers) => {
    if (this.pairs !== null) throw new TypeError('startResponse called twice'); // C15 (no excInfo here)
    // C11-C13 with tsgi's own checks (they skip the strings that passed last time), and the pairs as checked.
    checkStatus(status);
    this.declared = checkHeaders(headers);
    this.status = status;
    this.pairs = checkedPairs();
    return this.write;
  };
  write = () => { throw new Error('write() is not used by the floor\'s app'); };
  get signal() {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }
}

/**
 * The app every in-process run answers with: hello world, its header list and
 * body made anew each time, as an app written plainly makes them; with
 * TSGI_BENCH_APP=const, made once and returned each time (to tell the app's
 * own allocations from the gateway's).
 */
const CONST_HEADERS = [['Content-Type', 'text/plain; charset=utf-8']];
const CONST_BODY = [Buffer.from('Hello, world!\n')];
const app = process.env.TSGI_BENCH_APP === 'const'
  ? (_environ, startResponse) => {
    startResponse('200 OK', CONST_HEADERS);
    return CONST_BODY;
  }
  : (_environ, startResponse) => {
    startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
    return [Buffer.from('Hello, world!\n')];
  };

/**
 * The request the process remembers (one per process, not per connection, as
 * in tsgi): the first, and after two requests in a row that it does not
 * serve, the second of them.
 */
let first = null;
let misses = 0;

/** The environ for a request whose PARAMS content is `params`. */
function environFor(params) {
  if (first === null) first = remembered(params);
  const environ = environOf(first, params);
  if (environ !== null) {
    misses = 0;
    return environ;
  }
  if (++misses === 2) {
    misses = 0;
    first = remembered(params);
  }
  return complete(decode(params));
}

function floorServe(socket) {
  serve(socket, (buf, at, params) => {
    const id = (buf[at + 2] << 8) | buf[at + 3];
    const environ = environFor(params);
    environ['wsgi.version'] = [1, 0];
    environ['wsgi.input'] = EMPTY_INPUT;
    environ['wsgi.errors'] = new Errors(id);
    const response = new Response();
    if (SIGNAL_AT_ONCE) environ['tsgi.abort'] = new AbortController().signal;
    else {
      environ[REQUEST] = response;
      Object.defineProperty(environ, 'tsgi.abort', LAZY_ABORT);
    }
    environ['tsgi.response'] = { status: undefined, state: 'before-head' };
    let body;
    try {
      body = app(environ, response.startResponse);
      // C19, C20: a list of at most one chunk of bytes, after startResponse.
      if (!Array.isArray(body) || body.length > 1 || response.pairs === null) throw new TypeError('not a body the floor sends');
      if (body.length === 1 && !(body[0] instanceof Uint8Array)) throw new TypeError('not bytes');
    } catch {
      return reply(id, 'Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 59\r\n\r\n', ERROR_BODY); // C18
    }
    const chunk = body.length === 1 ? body[0] : Buffer.alloc(0);
    if (response.declared >= 0 && response.declared !== chunk.length) throw new Error('the floor does not stream a body shorter or longer than declared');
    const out = reply(id, headText(response.status, response.pairs, response.declared, chunk.length), chunk);
    if (typeof body.close === 'function') body.close(); // C17
    return out;
  });
}

module.exports = { floorServe, app, environFor };

if (require.main === module) {
  const fs = require('node:fs');
  const path = process.argv[2];
  try { fs.unlinkSync(path); } catch {}
  require('node:net').createServer(floorServe).listen(path, () => fs.chmodSync(path, 0o666));
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}
