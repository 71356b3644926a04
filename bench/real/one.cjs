// Backend CPU of one large response or request body at a time, without nginx
// or load (so that a busy machine does not distort it): this process plays the
// web server on a unix socket and sends COUNT requests one after the other,
// each on a new connection, to `tsgi PROTO bench/real/app.js`.
//   node bench/real/one.cjs fastcgi|uwsgi SIZE COUNT      GET /bytes/SIZE
//   POST=1 node bench/real/one.cjs fastcgi|uwsgi SIZE COUNT   POST of SIZE bytes
// USER_ONLY=1 counts user time only (the JavaScript, without the kernel's
// copies); PROF=DIR writes a --cpu-prof profile of the backend into DIR;
// APP, URL_PATH, CONTENT_TYPE and BODY (text) choose another app and request;
// ROOT=DIR runs DIR/bin/tsgi.cjs (a checkout with a built dist/) for an A/B.
'use strict';
const { spawn } = require('node:child_process');
const net = require('node:net');
const fs = require('node:fs');
const [proto, size, count] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const root = process.env.ROOT ?? require('node:path').join(__dirname, '../..');
const sock = require('node:path').join(require('node:os').tmpdir(), `tsgi-one-${proto}-${process.pid}.sock`);
const extra = process.env.PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.PROF] : [];
const child = spawn(process.execPath, [...extra, `${root}/bin/tsgi.cjs`, proto, process.env.APP ?? `${__dirname}/app.js`, '--socket', sock, '--log-level', 'warn'], { stdio: 'inherit' });
const post = !!process.env.POST;
const path = process.env.URL_PATH ?? (post ? '/post' : `/bytes/${size}`);
const vars = [['REQUEST_METHOD', post ? 'POST' : 'GET'], ['SCRIPT_NAME', ''], ['PATH_INFO', path], ['REQUEST_URI', path], ['QUERY_STRING', ''],
  ['SERVER_PROTOCOL', 'HTTP/1.1'], ['SERVER_NAME', 'x'], ['SERVER_PORT', '80'], ['REMOTE_ADDR', '127.0.0.1'], ['HTTP_HOST', 'x'], ['CONTENT_LENGTH', post ? String(process.env.BODY ? Buffer.byteLength(process.env.BODY) : size) : ''], ['CONTENT_TYPE', post ? process.env.CONTENT_TYPE ?? 'application/octet-stream' : '']];
const body = process.env.BODY ? Buffer.from(process.env.BODY) : Buffer.alloc(post ? size : 0, 98);
function rec(type, c) { const pad = (8 - (c.length % 8)) % 8; return Buffer.concat([Buffer.from([1, type, 0, 1, c.length >> 8, c.length & 255, pad, 0]), c, Buffer.alloc(pad)]); }
let req;
if (proto === 'fastcgi') {
  const pairs = vars.flatMap(([n, v]) => [Buffer.from([n.length, v.length]), Buffer.from(n), Buffer.from(v)]);
  req = Buffer.concat([rec(1, Buffer.from([0, 1, 1, 0, 0, 0, 0, 0])), rec(4, Buffer.concat(pairs)), rec(4, Buffer.alloc(0)), ...(function* () { for (let i = 0; i < body.length; i += 32768) yield rec(5, body.subarray(i, i + 32768)); })(), rec(5, Buffer.alloc(0))]);
} else {
  const parts = vars.flatMap(([n, v]) => { const a = Buffer.alloc(2); a.writeUInt16LE(n.length); const b = Buffer.alloc(2); b.writeUInt16LE(v.length); return [a, Buffer.from(n), b, Buffer.from(v)]; });
  const body = Buffer.concat(parts);
  req = Buffer.concat([Buffer.from([0, body.length & 255, body.length >> 8, 0]), body]);
  req = Buffer.concat([req, Buffer.alloc(post ? size : 0, 98)]);
}
const cpu = () => { const f = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' '); return process.env.USER_ONLY ? Number(f[11]) / 100 : (Number(f[11]) + Number(f[12])) / 100; };
async function one() {
  return new Promise((resolve) => {
    const s = net.connect(sock); let got = 0; const need = size; // approx: until the end
    s.on('connect', () => s.write(req));
    s.on('data', (d) => { got += d.length; if (proto === 'fastcgi' && d.length >= 16 && d[d.length - 16 + 1] === 3) { s.destroy(); resolve(got); } });
    s.on('close', () => resolve(got));
  });
}
(async () => {
  while (!fs.existsSync(sock)) await new Promise((r) => setTimeout(r, 50));
  for (let i = 0; i < 3; i++) await one();
  const c0 = cpu(); const t0 = process.hrtime.bigint();
  let bytes = 0;
  for (let i = 0; i < count; i++) bytes += await one();
  const c1 = cpu(); const t1 = process.hrtime.bigint();
  console.log(`${proto} ${size} B x${count}: backend CPU ${(((c1 - c0) / count) * 1e3).toFixed(2)} ms/req, wall ${(Number(t1 - t0) / 1e6 / count).toFixed(2)} ms/req, ${(bytes / count) | 0} B/req`);
  child.kill('SIGTERM');
})();
