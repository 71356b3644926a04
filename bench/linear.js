// npm run bench:linear — are the costs of large and oddly framed input linear
// (R1, R2, R4)? Each measurement gets a fresh `tsgi fastcgi` on a unix socket,
// fed by a FastCGI client in this process (no web server in between: nginx
// would reframe the input), and is stopped after --timeout seconds.
//
//   read()    wsgi.input.read() of a spooled body of 4, 16, 64 MiB: the app
//             times the call; also readline() on one long line (--modes)
//   params    one param of 64, 256, 512 KiB sent in 1-byte FCGI_PARAMS
//             records: the backend's CPU time for the request
//   stdin     a 1 MiB body in 1-byte FCGI_STDIN records: the backend's peak
//             RSS growth (VmHWM) per body byte, and its CPU time
//
// Times are printed with their ratio to a linear baseline: the cost per byte
// of the smallest size in the series. 1.0 everywhere is linear; a cost that
// grows with the square of the size shows 4.0 and 16.0 at 4x and 16x. The
// read cases also show the time against one allocation and copy of as many
// bytes, timed by the app right after the call (the same caches and memory).
// Figures only, never a pass/fail on time (the machine may be shared).
//
// Usage: node bench/linear.js [--only read,params,stdin] [--modes read,readline]
//          [--sizes-mib 4,16,64] [--params-kib 64,256,512] [--stdin-kib 1024] [--timeout 120]
//          [--repeat 3]   (read cases: the median of this many requests on one backend)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { cleanup, cpuSeconds, root, runDir, start } from './web.js';

process.on('SIGTERM', () => process.exit(143)); // web.js kills the servers on exit
const opt = { only: 'read,params,stdin', modes: 'read', 'sizes-mib': '4,16,64', 'params-kib': '64,256,512', 'stdin-kib': '1024', timeout: '120', repeat: '3' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opt)) { console.error(`bench:linear: unknown option --${k}`); process.exit(2); }
  opt[k] = process.argv[i + 1];
}
const list = (s) => s.split(',').filter(Boolean);
const nums = (s) => list(s).map(Number);
const TIMEOUT = Number(opt.timeout) * 1000;
const MiB = 1024 * 1024;
const dir = runDir();

// The app: times the wsgi.input call named by QUERY_STRING and answers with JSON.
writeFileSync(join(dir, 'app.mjs'), `
export default function app(environ, startResponse) {
  const input = environ['wsgi.input'];
  const mode = environ.QUERY_STRING || 'none';
  const t0 = performance.now();
  let data = Buffer.alloc(0);
  if (mode === 'read') data = input.read();
  else if (mode === 'readline') data = input.readline();
  const ms = performance.now() - t0;
  // The linear baseline, side by side: one allocation and copy of as many bytes.
  const t1 = performance.now();
  Buffer.allocUnsafe(data.length).set(data);
  const copyMs = performance.now() - t1;
  startResponse('200 OK', [['Content-Type', 'application/json']]);
  return [Buffer.from(JSON.stringify({ ms, copyMs, got: data.length, big: (environ.HTTP_X_BIG ?? '').length }))];
}
`);

// ---- a minimal FastCGI client (FastCGI 1.0 §3.3, §3.4) ----
function header(type, id, len, pad = 0) {
  return Buffer.from([1, type, id >> 8, id & 0xff, len >> 8, len & 0xff, pad, 0]);
}
function record(type, content) {
  const pad = (8 - (content.length & 7)) & 7;
  return Buffer.concat([header(type, 1, content.length, pad), content, Buffer.alloc(pad)]);
}
function stream(type, data, recordSize = 65535) {
  const out = [];
  for (let pos = 0; pos < data.length; pos += recordSize) out.push(record(type, data.subarray(pos, pos + recordSize)));
  out.push(header(type, 1, 0));
  return out;
}
/** 1-byte records without padding: 9 bytes on the wire per content byte. */
function tinyRecords(type, data) {
  const out = Buffer.alloc(data.length * 9);
  for (let i = 0; i < data.length; i++) {
    out.set([1, type, 0, 1, 0, 1, 0, 0, data[i]], i * 9);
  }
  return Buffer.concat([out, header(type, 1, 0)]);
}
function pairs(list) {
  const parts = [];
  for (const [n, v] of list) {
    const len = (x) => (x < 128 ? Buffer.from([x]) : Buffer.from([(x >>> 24) | 0x80, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff]));
    parts.push(len(n.length), len(v.length), Buffer.from(n, 'latin1'), Buffer.from(v, 'latin1'));
  }
  return Buffer.concat(parts);
}
const baseParams = (query, length) => [['REQUEST_METHOD', length ? 'POST' : 'GET'], ['QUERY_STRING', query], ['SCRIPT_NAME', ''], ['REQUEST_URI', '/'],
  ['SERVER_NAME', 'bench'], ['SERVER_PORT', '80'], ['SERVER_PROTOCOL', 'HTTP/1.1'], ['CONTENT_LENGTH', String(length)]];

/** Sends the request pieces with backpressure; resolves with the STDOUT bytes once FCGI_END_REQUEST arrives. */
function request(sock, pieces) {
  return new Promise((resolve, reject) => {
    const c = connect(sock);
    const out = [];
    let acc = Buffer.alloc(0);
    c.on('data', (d) => {
      acc = Buffer.concat([acc, d]);
      while (acc.length >= 8) {
        const len = (acc[4] << 8) | acc[5];
        const total = 8 + len + acc[6];
        if (acc.length < total) break;
        if (acc[1] === 6) out.push(acc.subarray(8, 8 + len));
        if (acc[1] === 3) { c.destroy(); resolve(Buffer.concat(out)); return; }
        acc = acc.subarray(total);
      }
    });
    c.on('error', reject);
    c.on('close', () => reject(new Error('the backend closed the connection before FCGI_END_REQUEST')));
    (async () => {
      for (const p of pieces) {
        if (!c.write(p)) await new Promise((r) => c.once('drain', r));
      }
    })().catch(reject);
  });
}
const json = (stdout) => JSON.parse(stdout.subarray(stdout.indexOf('\r\n\r\n') + 4).toString());

function status(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

/**
 * One measurement on a fresh backend: `run(sock, pid)` resolves with figures,
 * or the backend is killed after the timeout. Returns null on timeout.
 */
async function measure(name, run) {
  const sock = join(dir, `${name}.sock`);
  const child = await start(name, process.execPath, [join(root, 'bin/tsgi.cjs'), 'fastcgi', join(dir, 'app.mjs'), '--socket', sock, '--max-body', '2g', '--log-level', 'error'], () => existsSync(sock));
  try {
    await request(sock, [record(1, Buffer.from([0, 1, 0, 0, 0, 0, 0, 0])), ...stream(4, pairs(baseParams('none', 0))), header(5, 1, 0)]); // warm up
    let timer;
    const timeout = new Promise((r) => { timer = setTimeout(() => r(null), TIMEOUT); });
    const got = await Promise.race([run(sock, child.pid), timeout]);
    clearTimeout(timer);
    return got;
  } finally {
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
  }
}
const begin = () => record(1, Buffer.from([0, 1, 0, 0, 0, 0, 0, 0]));

function table(title, unit, rows) {
  const copies = rows.some((r) => r.copy !== undefined);
  console.log(`\n${title}\n`);
  console.log(`| size | ${unit} | per MiB | ratio to linear |${copies ? ' x a copy of as many bytes |' : ''}`);
  console.log(`|---|---|---|---|${copies ? '---|' : ''}`);
  const base = rows.find((r) => r.value !== null);
  for (const r of rows) {
    if (r.value === null) { console.log(`| ${r.label} | > ${opt.timeout} s (stopped) | | |`); continue; }
    const perMiB = r.value / (r.bytes / MiB);
    const ratio = perMiB / (base.value / (base.bytes / MiB));
    console.log(`| ${r.label} | ${r.value.toFixed(1)} | ${perMiB.toFixed(2)} | ${ratio.toFixed(2)} |${copies ? ` ${(r.value / r.copy).toFixed(1)} |` : ''}`);
  }
}

const only = list(opt.only);
console.log(`bench:linear — Node ${process.version}, timeout ${opt.timeout} s per measurement`);
try {
  if (only.includes('read')) {
    for (const mode of list(opt.modes)) {
      const rows = [];
      for (const mib of nums(opt['sizes-mib'])) {
        const size = mib * MiB;
        const body = Buffer.alloc(size, 'a'); // no newline: readline() reads it all
        const r = await measure(`read-${mode}-${mib}`, async (sock) => {
          const times = [];
          for (let k = 0; k < Number(opt.repeat); k++) {
            const res = json(await request(sock, [begin(), ...stream(4, pairs(baseParams(mode, size))), ...stream(5, body)]));
            if (res.got !== size) throw new Error(`${mode}() returned ${res.got} bytes of ${size}`);
            times.push(res);
          }
          return times.sort((a, b) => a.ms - b.ms)[times.length >> 1];
        });
        rows.push({ label: `${mib} MiB`, bytes: size, value: r && r.ms, copy: r && r.copyMs });
        if (r === null) break; // a bigger one would take longer still
      }
      table(`wsgi.input.${mode}() of a spooled body, ms inside the call (median of ${opt.repeat})`, 'ms', rows);
    }
  }
  if (only.includes('params')) {
    const rows = [];
    for (const kib of nums(opt['params-kib'])) {
      const size = kib * 1024;
      const r = await measure(`params-${kib}`, async (sock, pid) => {
        const wire = tinyRecords(4, pairs([...baseParams('none', 0), ['HTTP_X_BIG', 'p'.repeat(size)]]));
        const c0 = cpuSeconds(pid);
        const res = json(await request(sock, [begin(), wire, header(5, 1, 0)]));
        if (res.big !== size) throw new Error(`the app saw a param of ${res.big} bytes, not ${size}`);
        return (cpuSeconds(pid) - c0) * 1000;
      });
      rows.push({ label: `${kib} KiB`, bytes: size, value: r });
      if (r === null) break;
    }
    table('a param in 1-byte FCGI_PARAMS records, backend CPU ms for the request (10 ms ticks)', 'CPU ms', rows);
  }
  if (only.includes('stdin')) {
    console.log('\na body in 1-byte FCGI_STDIN records (read() by the app)\n');
    console.log('| body | backend CPU ms | peak RSS growth | RSS bytes per body byte |');
    console.log('|---|---|---|---|');
    for (const kib of nums(opt['stdin-kib'])) {
      const size = kib * 1024;
      const r = await measure(`stdin-${kib}`, async (sock, pid) => {
        const body = Buffer.alloc(size, 'b');
        const wire = tinyRecords(5, body);
        const before = status(pid).rss;
        // Reset the peak (VmHWM) to the current RSS, and sample too in case clear_refs is not allowed.
        try { writeFileSync(`/proc/${pid}/clear_refs`, '5'); } catch { /* sampling below still sees the peak */ }
        let peak = before;
        const poll = setInterval(() => { try { peak = Math.max(peak, status(pid).rss); } catch { /* exited */ } }, 10);
        const c0 = cpuSeconds(pid);
        const res = json(await request(sock, [begin(), ...stream(4, pairs(baseParams('read', size))), wire]));
        clearInterval(poll);
        if (res.got !== size) throw new Error(`read() returned ${res.got} bytes of ${size}`);
        peak = Math.max(peak, status(pid).hwm);
        return { cpu: (cpuSeconds(pid) - c0) * 1000, growth: peak - before };
      });
      if (r === null) { console.log(`| ${kib} KiB | > ${opt.timeout} s (stopped) | | |`); continue; }
      console.log(`| ${kib} KiB | ${r.cpu.toFixed(0)} | ${(r.growth / MiB).toFixed(1)} MiB | ${(r.growth / size).toFixed(1)} |`);
    }
  }
} finally {
  cleanup(dir);
}
console.log('\n(one run; the machine may be shared: compare ratios, not absolute times)');
process.exit(0);
