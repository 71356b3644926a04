// npm run bench:offload — a 1 MiB and a 64 MiB download through nginx
// (fastcgi_pass, keepalive upstream) from `tsgi fastcgi` serving them with
// staticFiles(): streamed by tsgi, and offloaded (`--offload nginx:/internal/`,
// nginx sends the file from an internal location). Per row: requests/s, MB/s
// (bytes of body per second, from the request count) and the CPU time the
// backend (tsgi) spent per request, and nginx's too.
// Usage: node bench/offload.js [--seconds 3] [--connections 4] [--rounds 1]
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cleanup, cpuSeconds, freePort, median, need, nginxConf, processTree, root, runDir, start, startNginx, wrk } from './web.js';

const { values: opt } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, connections: { type: 'string', default: '4' }, rounds: { type: 'string', default: '1' } } });
const [seconds, connections, rounds] = [opt.seconds, opt.connections, opt.rounds].map(Number);
need('nginx', 'wrk', 'curl');

const dir = runDir();
const files = join(dir, 'files');
const SIZES = [['1 MiB', 'one.bin', 1 << 20], ['64 MiB', 'sixty-four.bin', 64 << 20]];
mkdirSync(files, { mode: 0o755 });
for (const [, name, size] of SIZES) {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4096) buf[i] = i & 0xff;
  writeFileSync(join(files, name), buf, { mode: 0o644 });
}

const backends = {};
for (const mode of ['streamed', 'offloaded']) {
  const socket = join(dir, `${mode}.sock`);
  const args = [join(root, 'bin/tsgi.cjs'), 'fastcgi', join(root, 'bench/offload-app.js'), '--socket', socket, '--chmod', '666', '--mount', `/${mode}`, '--log-level', 'warn'];
  if (mode === 'offloaded') args.push('--offload', 'nginx:/internal/');
  const child = await start(`tsgi ${mode}`, process.execPath, args, () => existsSync(socket), { env: { ...process.env, OFFLOAD_ROOT: files } });
  backends[mode] = { socket, pid: child.pid };
}
const port = await freePort();
const nginx = await startNginx(dir, nginxConf(dir, `
  upstream streamed { server unix:${backends.streamed.socket}; keepalive 8; }
  upstream offloaded { server unix:${backends.offloaded.socket}; keepalive 8; }
  server {
    listen 127.0.0.1:${port};
    location /internal/ { internal; alias /; disable_symlinks on; }
    location /streamed/ { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass streamed; }
    location /offloaded/ { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass offloaded; }
  }`));
const nginxPids = processTree(nginx.pid);

const rows = [];
for (const [label, name, size] of SIZES) {
  for (const mode of ['streamed', 'offloaded']) {
    const url = `http://127.0.0.1:${port}/${mode}/${name}`;
    const head = (await fetch(url, { method: 'HEAD' })).headers.get('content-length');
    if (Number(head) !== size) throw new Error(`${url}: Content-Length ${head}, expected ${size}`);
    const got = [];
    for (let r = 0; r < rounds; r++) {
      const b0 = cpuSeconds(backends[mode].pid);
      const n0 = cpuSeconds(nginxPids);
      const w = wrk(url, seconds, connections);
      const b1 = cpuSeconds(backends[mode].pid);
      const n1 = cpuSeconds(nginxPids);
      got.push({ rps: w.rps, mbs: (w.requests * size) / seconds / 1e6, backend: ((b1 - b0) / w.requests) * 1e3, nginx: ((n1 - n0) / w.requests) * 1e3, requests: w.requests });
    }
    const pick = (k) => median(got.map((g) => g[k]));
    rows.push({ file: label, mode, rps: pick('rps'), mbs: pick('mbs'), backend: pick('backend'), nginx: pick('nginx'), requests: pick('requests') });
  }
}

console.log(`\nnginx fastcgi_pass -> tsgi fastcgi (staticFiles), ${seconds} s x ${rounds} round(s), ${connections} connections, Node ${process.version}`);
console.log('| file | tsgi | req/s | MB/s | backend CPU ms/req | nginx CPU ms/req |');
console.log('|---|---|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.file} | ${r.mode} | ${r.rps.toFixed(1)} | ${r.mbs.toFixed(0)} | ${r.backend.toFixed(3)} | ${r.nginx.toFixed(3)} |`);
cleanup(dir);
process.exit(0);
