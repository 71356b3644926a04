// node bench/stream-latency.js [--rounds N] [--only fastcgi,uwsgi] — X3: how long the first chunk
// of a request body takes from the client's write to nginx (loopback) to the app's tsgi.input,
// through nginx with request buffering off and `tsgi fastcgi|uwsgi --stream-bodies`. The client
// writes the head and a first 1000-byte chunk, holds the rest, and the app (another process)
// records when it got the chunk (performance.timeOrigin + performance.now(): one clock for both
// processes); the client then sends the rest. Target: within 50 ms. Loopback only, short.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { cleanup, freePort, need, nginxConf, root, runDir, start, startNginx } from './web.js';

need('nginx');
process.on('SIGTERM', () => process.exit(143));
const opt = { rounds: '30', only: 'fastcgi,uwsgi' };
for (let i = 2; i < process.argv.length; i++) {
  const k = process.argv[i].replace(/^--/, '');
  if (k in opt) opt[k] = process.argv[++i];
  else { console.error(`stream-latency: unknown option --${k}`); process.exit(2); }
}
const now = () => performance.timeOrigin + performance.now();
const dir = runDir();
writeFileSync(join(dir, 'first-chunk.mjs'), `
import { writeFileSync } from 'node:fs';
export default async function* app(environ, start) {
  const at = new URLSearchParams(environ.QUERY_STRING).get('at');
  let n = 0;
  for await (const chunk of environ['tsgi.input']) {
    if (n === 0) writeFileSync(at, String(performance.timeOrigin + performance.now()));
    n += chunk.length;
  }
  start('200 OK', [['Content-Type', 'text/plain']]);
  yield Buffer.from(String(n));
}
`);
const servers = [];
const targets = [];
for (const proto of opt.only.split(',')) {
  const sock = join(dir, `${proto}.sock`);
  await start(`tsgi ${proto}`, process.execPath, [join(root, 'bin/tsgi.cjs'), proto, join(dir, 'first-chunk.mjs'), '--stream-bodies', '--socket', sock, '--chmod', '666', '--log-level', 'warn'], () => existsSync(sock));
  const port = await freePort();
  targets.push({ proto, port });
  servers.push(proto === 'fastcgi'
    ? `server { listen 127.0.0.1:${port}; location / { include /etc/nginx/fastcgi_params; fastcgi_request_buffering off; fastcgi_pass unix:${sock}; } }`
    : `server { listen 127.0.0.1:${port}; location / { include /etc/nginx/uwsgi_params; uwsgi_request_buffering off; uwsgi_pass unix:${sock}; } }`);
}
await startNginx(dir, nginxConf(dir, servers.join('\n  ')));

/** One request: ms from the first chunk's write to the app's receipt. */
async function once(port, i) {
  const at = join(dir, `at-${port}-${i}`);
  const s = connect(port, '127.0.0.1');
  await new Promise((r, j) => { s.once('connect', r); s.once('error', j); });
  const done = new Promise((r) => { s.on('data', () => {}); s.on('close', r); s.on('error', r); });
  s.write(`POST /?at=${encodeURIComponent(at)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2000\r\n\r\n`);
  // The head first, then (once nginx has it and has started the request) the first chunk: what is
  // timed is the chunk, not the request's set-up.
  await new Promise((r) => setTimeout(r, 20));
  const t0 = now();
  s.write(Buffer.alloc(1000, 97));
  while (!existsSync(at) || readFileSync(at, 'utf8') === '') await new Promise((r) => setImmediate(r));
  const ms = Number(readFileSync(at, 'utf8')) - t0;
  s.write(Buffer.alloc(1000, 98));
  await done;
  return ms;
}

try {
  console.log(`stream-latency — first body chunk, client write to app's tsgi.input, through nginx; Node ${process.version}; ${opt.rounds} rounds; target < 50 ms\n`);
  for (const { proto, port } of targets) {
    await once(port, -1); // warm up
    const v = [];
    for (let i = 0; i < Number(opt.rounds); i++) v.push(await once(port, i));
    v.sort((a, b) => a - b);
    const q = (p) => v[Math.min(v.length - 1, Math.floor(p * v.length))];
    console.log(`nginx ${proto}_pass -> tsgi ${proto} --stream-bodies: median ${q(0.5).toFixed(2)} ms, p95 ${q(0.95).toFixed(2)} ms, max ${v[v.length - 1].toFixed(2)} ms${q(0.95) < 50 ? ' (p95 < 50 ms: ok)' : ' (p95 OVER 50 ms)'}`);
  }
} finally {
  cleanup(dir);
}
