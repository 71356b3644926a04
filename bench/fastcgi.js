// npm run bench:fastcgi — nginx in front of three backends, in one run:
//   tsgi fastcgi            nginx fastcgi_pass, keepalive upstream, fastcgi_keep_conn on
//   node:http               nginx proxy_pass, keepalive upstream (the baseline)
//   node-fastcgi            nginx fastcgi_pass, keepalive upstream, fastcgi_keep_conn on
// each loaded with wrk on loopback, interleaved round by round. Prints req/s,
// p99 latency and the backend's CPU time per request, with ratios to node:http.
// Usage: node bench/fastcgi.js [rounds] [seconds] [connections]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, freePort, load, need, nginxConf, root, runDir, start, startNginx } from './web.js';

need('nginx', 'wrk', 'curl');
const [rounds = 5, seconds = 5, connections = 50] = process.argv.slice(2).map(Number);
const dir = runDir();
const sock = (n) => join(dir, `${n}.sock`);
const ready = (n) => () => existsSync(sock(n));

const tsgi = await start('tsgi', process.execPath, [join(root, 'bin/tsgi.cjs'), 'fastcgi', join(root, 'bench/hello.js'), '--socket', sock('tsgi'), '--chmod', '666', '--log-level', 'warn'], ready('tsgi'));
const http = await start('node:http', process.execPath, [join(root, 'bench/backends.cjs'), 'http', sock('http')], ready('http'));
const nfcgi = await start('node-fastcgi', process.execPath, [join(root, 'bench/backends.cjs'), 'node-fastcgi', sock('nfcgi')], ready('nfcgi'));
const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
await startNginx(dir, nginxConf(dir, `
  upstream tsgi { server unix:${sock('tsgi')}; keepalive 64; }
  upstream nodehttp { server unix:${sock('http')}; keepalive 64; }
  upstream nfcgi { server unix:${sock('nfcgi')}; keepalive 64; }
  server { listen 127.0.0.1:${p1}; location / { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass tsgi; } }
  server { listen 127.0.0.1:${p2}; location / { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://nodehttp; } }
  server { listen 127.0.0.1:${p3}; location / { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass nfcgi; } }
`));
try {
  load([
    { name: 'nginx proxy_pass -> node:http (keepalive)', url: `http://127.0.0.1:${p2}/`, pid: http.pid },
    { name: 'nginx fastcgi_pass -> tsgi fastcgi (keepalive)', url: `http://127.0.0.1:${p1}/`, pid: tsgi.pid },
    { name: 'nginx fastcgi_pass -> node-fastcgi', url: `http://127.0.0.1:${p3}/`, pid: nfcgi.pid },
  ], { rounds, seconds, connections });
} finally {
  cleanup(dir);
}
process.exit(0);
