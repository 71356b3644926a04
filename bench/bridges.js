// npm run bench:bridges — frameworks through the bridges, against the same app
// on its own Node server, behind nginx, in one run:
//   Express hello: nginx proxy_pass (keepalive) -> node:http, against
//                  nginx fastcgi_pass (keepalive) -> tsgi fastcgi
//   Hono hello:    nginx proxy_pass (keepalive) -> @hono/node-server, against
//                  nginx fastcgi_pass (keepalive) -> tsgi fastcgi
// loaded with wrk, interleaved round by round (req/s, p99, backend CPU per
// request, ratios); then the CGI cold start of the Express hello next to
// `node -e 0` and the environ hello (bench/hello.js).
// Usage: node bench/bridges.js [rounds] [seconds] [connections] [cgi-rounds]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { cleanup, freePort, load, need, nginxConf, root, runDir, start, startNginx } from './web.js';

need('nginx', 'wrk', 'curl');
const [rounds = 3, seconds = 3, connections = 50, cgiRounds = 30] = process.argv.slice(2).map(Number);
const dir = runDir();
const sock = (n) => join(dir, `${n}.sock`);
const ready = (n) => () => existsSync(sock(n));
const tcpReady = (port) => () => new Promise((resolve) => {
  const s = connect(port, '127.0.0.1');
  s.on('connect', () => { s.destroy(); resolve(true); });
  s.on('error', () => resolve(false));
});
const tsgi = (app, name) => start(name, process.execPath,
  [join(root, 'bin/tsgi.cjs'), 'fastcgi', join(root, app), '--socket', sock(name), '--chmod', '666', '--log-level', 'warn'], ready(name),
  // The Hono app through tsgi with tsgi's lighter Response, opted in (docs/bridges.md).
  { env: { ...process.env, TSGI_FETCH_RESPONSE: 'light' } });

const expressTsgi = await tsgi('bench/express-hello.cjs', 'express-tsgi');
const expressNode = await start('express node:http', process.execPath, [join(root, 'bench/express-hello.cjs'), sock('express-node')], ready('express-node'));
const honoTsgi = await tsgi('bench/hono-hello.mjs', 'hono-tsgi');
const honoPort = await freePort();
const honoNode = await start('@hono/node-server', process.execPath, [join(root, 'bench/hono-hello.mjs'), String(honoPort)], tcpReady(honoPort));
const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
const fcgi = (up) => `location / { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass ${up}; }`;
const proxy = (up) => `location / { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://${up}; }`;
await startNginx(dir, nginxConf(dir, `
  upstream express_node { server unix:${sock('express-node')}; keepalive 64; }
  upstream express_tsgi { server unix:${sock('express-tsgi')}; keepalive 64; }
  upstream hono_node { server 127.0.0.1:${honoPort}; keepalive 64; }
  upstream hono_tsgi { server unix:${sock('hono-tsgi')}; keepalive 64; }
  server { listen 127.0.0.1:${ports[0]}; ${proxy('express_node')} }
  server { listen 127.0.0.1:${ports[1]}; ${fcgi('express_tsgi')} }
  server { listen 127.0.0.1:${ports[2]}; ${proxy('hono_node')} }
  server { listen 127.0.0.1:${ports[3]}; ${fcgi('hono_tsgi')} }
`));
try {
  console.log(`node ${process.version}, ${new Date().toISOString()}`);
  load([
    { name: 'Express: nginx proxy_pass -> node:http (keepalive)', url: `http://127.0.0.1:${ports[0]}/`, pid: expressNode.pid },
    { name: 'Express: nginx fastcgi_pass -> tsgi fastcgi (keepalive)', url: `http://127.0.0.1:${ports[1]}/`, pid: expressTsgi.pid },
  ], { rounds, seconds, connections });
  load([
    { name: 'Hono: nginx proxy_pass -> @hono/node-server (keepalive)', url: `http://127.0.0.1:${ports[2]}/`, pid: honoNode.pid },
    { name: 'Hono: nginx fastcgi_pass -> tsgi fastcgi (keepalive)', url: `http://127.0.0.1:${ports[3]}/`, pid: honoTsgi.pid },
  ], { rounds, seconds, connections });
} finally {
  cleanup(dir);
}

// CGI cold start, interleaved as bench/cgi.js does it.
const env = {
  PATH: process.env.PATH, GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'GET', SERVER_NAME: 'localhost', SERVER_PORT: '80',
  SERVER_PROTOCOL: 'HTTP/1.1', SCRIPT_NAME: '', PATH_INFO: '/', REQUEST_URI: '/', QUERY_STRING: '',
};
const cases = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'tsgi cgi bench/hello.js (environ app)', args: [join(root, 'bin/tsgi.cjs'), 'cgi', join(root, 'bench/hello.js')], expect: 'Hello, world!' },
  { name: 'tsgi cgi bench/express-hello.cjs', args: [join(root, 'bin/tsgi.cjs'), 'cgi', join(root, 'bench/express-hello.cjs')], expect: 'Hello, world!' },
];
const once = (c) => {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, c.args, { env, encoding: 'latin1' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0 || (c.expect && !r.stdout.includes(c.expect))) throw new Error(`${c.name} failed (exit ${r.status}): ${r.stderr}`);
  return ms;
};
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const times = cases.map(() => []);
for (const c of cases) for (let i = 0; i < 2; i++) once(c);
for (let i = 0; i < cgiRounds; i++) cases.forEach((c, j) => times[j].push(once(c)));
const base = median(times[0]);
const env0 = median(times[1]);
console.log(`\nCGI cold start, ${cgiRounds} interleaved rounds, medians\n`);
console.log('| case | median ms | vs node -e 0 | vs environ hello |');
console.log('|---|---|---|---|');
cases.forEach((c, j) => {
  const m = median(times[j]);
  console.log(`| ${c.name} | ${m.toFixed(1)} | ${(m / base).toFixed(2)}x | ${(m / env0).toFixed(2)}x |`);
});
process.exit(0);
