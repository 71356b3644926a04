// The contract's floor for FastCGI: the minimal responder (minimal-fastcgi.cjs)
// plus only the work PEP 3333 and tsgi's contract require per request, each
// step done the cheapest way known on V8, and nothing else: no intake, no
// limits, no request state, no logging hook. It answers the hello-world app
// only, and is not a server to deploy.
//
// Per request:
//   - its variables read: the PARAMS block compared with the process's
//     first request's (remembered, decoded once) from each end, 32-bit words
//     at a time; the one pair between the differences (REMOTE_PORT, for
//     nginx's requests from different clients) decoded. Any other request
//     is decoded pair by pair (not the case measured);
//   - a fresh environ (C1): a whole copy of the remembered one, with that
//     value stored over it;
//   - wsgi.version as a new list, wsgi.errors bound to the request (its text
//     would go out as FCGI_STDERR), tsgi.response, and tsgi.abort: an
//     AbortSignal made at once where V8 makes one cheaply (13+, Node 24),
//     elsewhere an accessor (one shared descriptor) that would make it when
//     read, as tsgi does (an AbortController costs 2.4 µs on Node 20);
//   - start_response and write() as callables of the request (PEP 3333);
//   - the app's call; its status and headers checked (C12), unless they are
//     the strings that passed last time; Content-Length added (C20); close()
//     looked for (C17);
//   - the head as latin-1 text (kept while the status, the headers and the
//     length repeat) and the whole reply (STDOUT, the empty STDOUT,
//     END_REQUEST) in one new buffer.
//
// `bench/inprocess.cjs --floor` runs it in process; `node bench/floor-fastcgi.cjs
// SOCKET` serves nginx's fastcgi_pass (a row of `npm run bench`).
'use strict';
const { serve } = require('./minimal-fastcgi.cjs');

const SIGNAL_AT_ONCE = Number.parseInt(process.versions.v8, 10) >= 13;
const REQUEST = Symbol('request');
/** tsgi.abort where the signal is made on first read (never read here). */
const LAZY_ABORT = {
  get() { return this[REQUEST].signal; },
  set(v) { Object.defineProperty(this, 'tsgi.abort', { value: v, writable: true, enumerable: true, configurable: true }); },
  enumerable: true,
  configurable: true,
};
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS = /^[1-9][0-9]{2} /;
const EMPTY_INPUT = Object.freeze({ read: () => Buffer.alloc(0) });

/** Each pair of a PARAMS block (FastCGI 1.0 §3.4: one- or four-byte lengths) as (name, value start, value end). */
function eachPair(bytes, f) {
  for (let at = 0; at < bytes.length;) {
    const nlen = bytes[at] < 128 ? bytes[at++] : bytes.readUInt32BE((at += 4) - 4) & 0x7fffffff;
    const vlen = bytes[at] < 128 ? bytes[at++] : bytes.readUInt32BE((at += 4) - 4) & 0x7fffffff;
    f(bytes.latin1Slice(at, at + nlen), at + nlen, at + nlen + vlen);
    at += nlen + vlen;
  }
}

/** The process's first request, remembered: its PARAMS bytes, where each pair ends, its names, its environ. */
function remembered(params) {
  const bytes = Buffer.from(params);
  const ends = [];
  const names = [];
  const vars = {};
  eachPair(bytes, (name, v, end) => {
    vars[name] = bytes.latin1Slice(v, end);
    names.push(name);
    ends.push(end);
  });
  for (const k of ['wsgi.version', 'wsgi.url_scheme', 'wsgi.input', 'wsgi.errors', 'wsgi.multithread',
    'wsgi.multiprocess', 'wsgi.run_once', 'wsgi.file_wrapper', 'tsgi.response', 'FCGI_ROLE', 'PATH_INFO']) vars[k] = null;
  if (SIGNAL_AT_ONCE) vars['tsgi.abort'] = null; // else defined on each environ as an accessor
  vars['wsgi.url_scheme'] = 'http';
  vars['wsgi.multithread'] = vars['wsgi.multiprocess'] = vars['wsgi.run_once'] = false;
  vars.FCGI_ROLE = 'RESPONDER';
  vars.PATH_INFO = vars.SCRIPT_NAME;
  vars.SCRIPT_NAME = '';
  // One object literal's shape, as a decoder that declares its keys gets (not a dictionary).
  const environ = JSON.parse(JSON.stringify(vars));
  const aligned = (bytes.byteOffset & 3) === 0;
  return { bytes, words: aligned ? new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2) : null, ends, names, environ };
}

/** The slow way, for a request that differs from the remembered one in more than one value: every pair stored. */
function storeAll(environ, params) {
  eachPair(params, (name, v, end) => { environ[name] = params.latin1Slice(v, end); });
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
 * Stores over `environ` what differs between `params` and the remembered
 * request: one changed value found by comparing the bytes (true), or else
 * every pair (false).
 */
function storeChanges(r, environ, params) {
  if (params.length !== r.bytes.length) {
    storeAll(environ, params);
    return false;
  }
  const [a, b] = differences(r, params);
  if (a < 0) return true;
  let i = 0;
  while (r.ends[i] <= a) i++;
  const start = i === 0 ? 0 : r.ends[i - 1];
  if (r.ends[i] <= b || params[start] >= 128 || params[start + 1] >= 128 ||
    params[start] !== r.bytes[start] || params[start + 1] !== r.bytes[start + 1] || a < start + 2 + params[start]) {
    storeAll(environ, params);
    return false;
  }
  environ[r.names[i]] = params.latin1Slice(start + 2 + params[start], r.ends[i]);
  return true;
}

/**
 * The cheapest whole copy: `{ ...o }` on V8 12+; on V8 11 (Node 20), where
 * that is slow, an object literal compiled for the keys.
 */
function copier(o) {
  if (Number.parseInt(process.versions.v8, 10) >= 12) return (x) => ({ ...x });
  const body = Object.keys(o).map((k) => `${JSON.stringify(k)}: x[${JSON.stringify(k)}]`).join(', ');
  return new Function('x', `return { ${body} };`);
}

class Errors {
  constructor(id) { this.id = id; }
  write(text) { return text.length; }
  flush() {}
  writelines(lines) { for (const l of lines) this.write(l); }
}

/** C12: no CR, LF or NUL in a header value. */
function plainValue(v) {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 13 || c === 10 || c === 0) return false;
  }
  return true;
}

/**
 * The last status and header list that passed the checks, and the head made
 * from them: a response with the same strings (a constant head, as most apps
 * answer) is neither checked nor put together and flattened again.
 */
const last = { status: '', headers: [], length: -1, text: '' };
function sameAsLast(status, headers) {
  if (status !== last.status || headers.length !== last.headers.length) return false;
  for (let i = 0; i < headers.length; i++) {
    if (headers[i][0] !== last.headers[i][0] || headers[i][1] !== last.headers[i][1]) return false;
  }
  return true;
}

/** The head as text, for a response whose status and headers passed startResponse. */
function headText(status, headers, length) {
  if (length === last.length && sameAsLast(status, headers)) return last.text;
  let head = `Status: ${status}\r\n`;
  for (let i = 0; i < headers.length; i++) head += `${headers[i][0]}: ${headers[i][1]}\r\n`;
  head += `Content-Length: ${length}\r\n\r\n`;
  last.status = status;
  last.headers = headers;
  last.length = length;
  last.text = head;
  return head;
}

/** A record header: version 1, `type`, request `id`, `length` bytes of content, no padding. */
function recordHead(out, o, type, id, length) {
  out[o] = 1; out[o + 1] = type; out[o + 2] = id >> 8; out[o + 3] = id & 255;
  out[o + 4] = length >> 8; out[o + 5] = length & 255; out[o + 6] = 0; out[o + 7] = 0;
}

class Response {
  status = undefined;
  headers = undefined;
  startResponse = (status, headers) => {
    if (!sameAsLast(status, headers)) {
      if (typeof status !== 'string' || !STATUS.test(status)) throw new TypeError('bad status');
      for (let i = 0; i < headers.length; i++) {
        const [name, value] = headers[i];
        if (!TOKEN.test(name) || !plainValue(value)) throw new TypeError('bad header');
      }
    }
    this.status = status;
    this.headers = headers.slice();
    return this.write;
  };
  write = () => { throw new Error('not in the floor'); };
  controller = undefined;
  get signal() {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }
}

/** The app every in-process run answers with. */
function app(_environ, startResponse) {
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  return [Buffer.from('Hello, world!\n')];
}

/**
 * The request the process remembers (one per process, not per connection, as
 * in tsgi): the first, and after two requests in a row that differ from it in
 * more than one value, the second of them (nginx's own requests then follow
 * the benchmark's first check, which had other headers).
 */
let first = null;
let copy = null;
let misses = 0;

function floorServe(socket) {
  serve(socket, (buf, at, params) => {
    if (first === null) {
      first = remembered(params);
      copy = copier(first.environ);
    }
    const id = (buf[at + 2] << 8) | buf[at + 3];
    const environ = copy(first.environ);
    if (storeChanges(first, environ, params)) misses = 0;
    else if (++misses === 2) {
      misses = 0;
      first = remembered(params);
      copy = copier(first.environ);
    }
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
    const body = app(environ, response.startResponse);
    const chunk = body[0];
    const head = headText(response.status, response.headers, chunk.length);
    if (typeof body.close === 'function') body.close();
    const content = head.length + chunk.length;
    const out = Buffer.allocUnsafe(8 + content + 8 + 16);
    recordHead(out, 0, 6, id, content);
    out.latin1Write(head, 8);
    out.set(chunk, 8 + head.length);
    const o = 8 + content;
    recordHead(out, o, 6, id, 0);
    recordHead(out, o + 8, 3, id, 8);
    for (let i = o + 16; i < o + 24; i++) out[i] = 0; // appStatus 0, FCGI_REQUEST_COMPLETE, reserved
    return out;
  });
}

module.exports = { floorServe, app };

if (require.main === module) {
  const fs = require('node:fs');
  const path = process.argv[2];
  try { fs.unlinkSync(path); } catch {}
  require('node:net').createServer(floorServe).listen(path, () => fs.chmodSync(path, 0o666));
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}
