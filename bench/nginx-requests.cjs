// What nginx sends a backend for wrk's `GET /` (Host only; server_name unset)
// with its stock fastcgi_params and uwsgi_params, as bytes: for the benchmarks
// that play the web server themselves (hotpath.js, inprocess.cjs).
'use strict';

const FASTCGI_VARS = [
  ['QUERY_STRING', ''], ['REQUEST_METHOD', 'GET'], ['CONTENT_TYPE', ''], ['CONTENT_LENGTH', ''],
  ['SCRIPT_NAME', '/'], ['REQUEST_URI', '/'], ['DOCUMENT_URI', '/'], ['DOCUMENT_ROOT', '/usr/share/nginx/html'],
  ['SERVER_PROTOCOL', 'HTTP/1.1'], ['REQUEST_SCHEME', 'http'], ['GATEWAY_INTERFACE', 'CGI/1.1'],
  ['SERVER_SOFTWARE', 'nginx/1.22.1'], ['REMOTE_ADDR', '127.0.0.1'], ['REMOTE_PORT', '51234'],
  ['REMOTE_USER', ''], ['SERVER_ADDR', '127.0.0.1'], ['SERVER_PORT', '8080'], ['SERVER_NAME', ''],
  ['REDIRECT_STATUS', '200'], ['HTTP_HOST', '127.0.0.1:8080'],
];
const UWSGI_VARS = [
  ['QUERY_STRING', ''], ['REQUEST_METHOD', 'GET'], ['CONTENT_TYPE', ''], ['CONTENT_LENGTH', ''],
  ['REQUEST_URI', '/'], ['PATH_INFO', '/'], ['DOCUMENT_ROOT', '/usr/share/nginx/html'], ['SERVER_PROTOCOL', 'HTTP/1.1'],
  ['REQUEST_SCHEME', 'http'], ['REMOTE_ADDR', '127.0.0.1'], ['REMOTE_PORT', '51234'], ['SERVER_PORT', '8080'],
  ['SERVER_NAME', ''], ['HTTP_HOST', '127.0.0.1:8080'],
];

/** One FastCGI record of request 1, padded to 8 bytes. */
function fcgiRecord(type, content) {
  const pad = (8 - (content.length % 8)) % 8;
  const head = Buffer.from([1, type, 0, 1, content.length >> 8, content.length & 0xff, pad, 0]);
  return Buffer.concat([head, content, Buffer.alloc(pad)]);
}

/** BEGIN_REQUEST (responder, keep the connection), the params (REMOTE_PORT = `port`), their end and the empty STDIN. */
function fcgiRequest(port = 51234) {
  const pairs = [];
  for (const [n, v0] of FASTCGI_VARS) {
    const v = n === 'REMOTE_PORT' ? String(port) : v0;
    pairs.push(Buffer.from([n.length, v.length]), Buffer.from(n, 'latin1'), Buffer.from(v, 'latin1'));
  }
  return Buffer.concat([
    fcgiRecord(1, Buffer.from([0, 1, 1, 0, 0, 0, 0, 0])),
    fcgiRecord(4, Buffer.concat(pairs)), fcgiRecord(4, Buffer.alloc(0)), fcgiRecord(5, Buffer.alloc(0)),
  ]);
}

/** A uwsgi request packet (modifier1 0) with nginx's vars. */
function uwsgiPacket() {
  const parts = [];
  for (const [n, v] of UWSGI_VARS) {
    const l = Buffer.alloc(2);
    l.writeUInt16LE(n.length);
    const m = Buffer.alloc(2);
    m.writeUInt16LE(v.length);
    parts.push(l, Buffer.from(n, 'latin1'), m, Buffer.from(v, 'latin1'));
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0, body.length & 0xff, body.length >> 8, 0]), body]);
}

module.exports = { fcgiRequest, uwsgiPacket };
