// npm run bench:sse — how long the first event of a server-sent event stream
// takes to reach a client through nginx fastcgi_pass (X2: tsgi marks the
// stream `X-Accel-Buffering: no` and writes each event as it is yielded).
// Time from the request written to the first event read, over N fresh
// connections, one at a time; the app yields its first event at once and
// holds the stream open. Target: under 50 ms.
// Usage: node bench/sse.js [--requests 200]
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cleanup, freePort, median, need, nginxConf, root, runDir, start, startNginx } from './web.js';

const { values: opt } = parseArgs({ options: { requests: { type: 'string', default: '200' } } });
const n = Number(opt.requests);
need('nginx');
const dir = runDir();
const app = join(dir, 'sse.mjs');
writeFileSync(app, `export default (environ, start) => {
  start('200 OK', [['Content-Type', 'text/event-stream']]);
  return (async function* () {
    yield Buffer.from('data: first\\n\\n');
    await new Promise((r) => environ['tsgi.abort'].addEventListener('abort', r));
  })();
};
`);
const socket = join(dir, 'sse.sock');
await start('tsgi', process.execPath, [join(root, 'bin/tsgi.cjs'), 'fastcgi', app, '--socket', socket, '--chmod', '666', '--log-level', 'warn'], () => existsSync(socket));
const port = await freePort();
await startNginx(dir, nginxConf(dir, `  server { listen 127.0.0.1:${port}; location / { include /etc/nginx/fastcgi_params; fastcgi_pass unix:${socket}; } }`));

function firstEvent() {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    let t0;
    s.on('connect', () => { t0 = process.hrtime.bigint(); s.write('GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n'); });
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('data: first\n\n')) { resolve(Number(process.hrtime.bigint() - t0) / 1e6); s.destroy(); }
    });
    s.on('error', reject);
    setTimeout(() => { s.destroy(); reject(new Error(`no first event after 5 s: ${JSON.stringify(got)}`)); }, 5000).unref();
  });
}

const ms = [];
for (let i = 0; i < n; i++) ms.push(await firstEvent());
ms.sort((a, b) => a - b);
const p = (q) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))];
console.log(`first event through nginx fastcgi_pass, ${n} streams, Node ${process.version}: median ${median(ms).toFixed(2)} ms, p95 ${p(0.95).toFixed(2)} ms, max ${ms[ms.length - 1].toFixed(2)} ms (target < 50 ms)`);
cleanup(dir);
process.exit(0);
