// npm run bench:workers — tsgi's process model behind nginx, in one run:
//   tsgi fastcgi --workers 1       nginx fastcgi_pass, keepalive upstream
//   tsgi fastcgi --workers 2       the same, two workers on the same socket
//   node:cluster (2) + node:http   nginx proxy_pass, keepalive upstream (gunicorn-style SCHED_NONE)
//   tsgi fastcgi --workers 2 --metrics   the cost of O1's metrics: req/s against the row without (same run)
// each loaded with wrk on loopback, interleaved round by round. Prints req/s,
// p99 and the backend's CPU time per request (master and workers together),
// with ratios to --workers 1. On a machine with two cores, nginx and wrk take
// a good part of them: read the ratios, not the absolute figures.
// Usage: node bench/workers.js [rounds] [seconds] [connections]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, freePort, groupCpuSeconds, load, need, nginxConf, root, runDir, start, startNginx } from './web.js';

need('nginx', 'wrk', 'curl');
const [rounds = 3, seconds = 4, connections = 32] = process.argv.slice(2).map(Number);
const dir = runDir();
const sock = (n) => join(dir, `${n}.sock`);
// A worker is accepting once the socket answers; the master binds before any worker listens.
const ready = (n) => () => existsSync(sock(n));
const tsgiArgs = (n, workers) => [join(root, 'bin/tsgi.cjs'), 'fastcgi', join(root, 'bench/hello.js'), '--socket', sock(n), '--chmod', '666', '--log-level', 'warn', '--workers', String(workers)];

const w1 = await start('tsgi --workers 1', process.execPath, tsgiArgs('w1', 1), ready('w1'));
const w2 = await start('tsgi --workers 2', process.execPath, tsgiArgs('w2', 2), ready('w2'));
const metricsPort = await freePort();
const w2m = await start('tsgi --workers 2 --metrics', process.execPath, [...tsgiArgs('w2m', 2), '--metrics', `127.0.0.1:${metricsPort}`], ready('w2m'));
const cl = await start('cluster', process.execPath, [join(root, 'bench/cluster.cjs'), '2', sock('cluster')], ready('cluster'));
await new Promise((r) => setTimeout(r, 1000)); // the workers boot
const [p1, p2, p3, p4] = [await freePort(), await freePort(), await freePort(), await freePort()];
await startNginx(dir, nginxConf(dir, `
  upstream w1 { server unix:${sock('w1')}; keepalive 64; }
  upstream w2 { server unix:${sock('w2')}; keepalive 64; }
  upstream cluster { server unix:${sock('cluster')}; keepalive 64; }
  upstream w2m { server unix:${sock('w2m')}; keepalive 64; }
  server { listen 127.0.0.1:${p1}; location / { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass w1; } }
  server { listen 127.0.0.1:${p2}; location / { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass w2; } }
  server { listen 127.0.0.1:${p3}; location / { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://cluster; } }
  server { listen 127.0.0.1:${p4}; location / { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass w2m; } }
`));
try {
  const res = load([
    { name: 'tsgi fastcgi --workers 1', url: `http://127.0.0.1:${p1}/`, pid: w1.pid, cpu: () => groupCpuSeconds(w1.pid) },
    { name: 'tsgi fastcgi --workers 2', url: `http://127.0.0.1:${p2}/`, pid: w2.pid, cpu: () => groupCpuSeconds(w2.pid) },
    { name: 'node:cluster (2) + node:http, proxy_pass', url: `http://127.0.0.1:${p3}/`, pid: cl.pid, cpu: () => groupCpuSeconds(cl.pid) },
    { name: 'tsgi fastcgi --workers 2 --metrics', url: `http://127.0.0.1:${p4}/`, pid: w2m.pid, cpu: () => groupCpuSeconds(w2m.pid) },
  ], { rounds, seconds, connections });
  // O1: what counting costs, scraped as Prometheus would (the master asks every worker each second anyway).
  const scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const counted = Number(/^tsgi_requests_total\{class="2xx"\} (\d+)$/m.exec(scraped)?.[1]);
  const [without, withMetrics] = [res[1], res[3]];
  console.log(`\n--metrics: ${withMetrics.rps.toFixed(0)} req/s against ${without.rps.toFixed(0)} without (${((withMetrics.rps / without.rps - 1) * 100).toFixed(1)}%; ` +
    `CPU per request ${((withMetrics.cpu / without.cpu - 1) * 100).toFixed(1)}%); its /metrics counted ${counted} requests answered 2xx`);
  console.log(`\nNode ${process.version}, ${(await import('node:os')).availableParallelism()} CPUs shared by nginx, wrk and the backends.`);
} finally {
  cleanup(dir);
}
process.exit(0);
