// npm run bench:uwsgi — nginx in front of tsgi's uwsgi server and of a plain
// node:http server, in one run, loaded with wrk on loopback, interleaved:
//   node:http, no upstream keepalive (a connection per request, as uwsgi always has: the baseline)
//   tsgi uwsgi               nginx uwsgi_pass
//   node:http, keepalive upstream
// Prints req/s, p99 latency and the backend's CPU time per request, with ratios.
// Usage: node bench/uwsgi.js [rounds] [seconds] [connections]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, freePort, load, need, nginxConf, root, runDir, start, startNginx } from './web.js';

need('nginx', 'wrk', 'curl');
const [rounds = 5, seconds = 5, connections = 50] = process.argv.slice(2).map(Number);
const dir = runDir();
const sock = (n) => join(dir, `${n}.sock`);
const ready = (n) => () => existsSync(sock(n));

const tsgi = await start('tsgi', process.execPath, [join(root, 'bin/tsgi.cjs'), 'uwsgi', join(root, 'bench/hello.js'), '--socket', sock('tsgi'), '--chmod', '666', '--log-level', 'warn'], ready('tsgi'));
const http = await start('node:http', process.execPath, [join(root, 'bench/backends.cjs'), 'http', sock('http')], ready('http'));
const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
await startNginx(dir, nginxConf(dir, `
  upstream nodehttp { server unix:${sock('http')}; }
  upstream nodehttpka { server unix:${sock('http')}; keepalive 64; }
  server { listen 127.0.0.1:${p1}; location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:${sock('tsgi')}; } }
  server { listen 127.0.0.1:${p2}; location / { proxy_pass http://nodehttp; } }
  server { listen 127.0.0.1:${p3}; location / { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://nodehttpka; } }
`));
try {
  load([
    { name: 'nginx proxy_pass -> node:http (no keepalive)', url: `http://127.0.0.1:${p2}/`, pid: http.pid },
    { name: 'nginx uwsgi_pass -> tsgi uwsgi', url: `http://127.0.0.1:${p1}/`, pid: tsgi.pid },
    { name: 'nginx proxy_pass -> node:http (keepalive)', url: `http://127.0.0.1:${p3}/`, pid: http.pid },
  ], { rounds, seconds, connections });
} finally {
  cleanup(dir);
}
process.exit(0);
