// npm run bench:cgi — CGI cold start: the hello app answered by `tsgi cgi`
// and by a script calling runCgi, next to bare `node -e 0`. Runs are
// interleaved (one of each per round) so that machine noise hits all alike;
// the ratio is of medians (and, steadier on a busy machine, of 10th
// percentiles). Usage: node bench/cgi.js [rounds]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const rounds = Number(process.argv[2] ?? 100);
const env = {
  PATH: process.env.PATH, GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'GET', SERVER_NAME: 'localhost',
  SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1', SCRIPT_NAME: '/cgi-bin/hello', PATH_INFO: '/', QUERY_STRING: '',
};
const cases = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'tsgi cgi bench/hello.js', args: [`${root}bin/tsgi.cjs`, 'cgi', `${root}bench/hello.js`], expect: 'Hello, world!' },
  { name: 'tsgi cgi bench/hello.cjs (CommonJS app)', args: [`${root}bin/tsgi.cjs`, 'cgi', `${root}bench/hello.cjs`], expect: 'Hello, world!' },
  { name: 'runCgi script, CommonJS (hello-cgi.cjs)', args: [`${root}bench/hello-cgi.cjs`], expect: 'Hello, world!' },
  { name: 'runCgi script, ESM (hello-cgi.js)', args: [`${root}bench/hello-cgi.js`], expect: 'Hello, world!' },
];

function once(c) {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, c.args, { env, encoding: 'latin1' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0 || (c.expect && !r.stdout.includes(c.expect))) {
    throw new Error(`${c.name} failed (exit ${r.status}): ${r.stderr}`);
  }
  return ms;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const times = cases.map(() => []);
for (const c of cases) for (let i = 0; i < 3; i++) once(c); // warm the page cache
for (let i = 0; i < rounds; i++) cases.forEach((c, j) => times[j].push(once(c)));

const base = median(times[0]);
const p10 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.1)];
const baseP10 = p10(times[0]);
console.log(`CGI cold start, ${rounds} interleaved rounds, node ${process.version}, ${new Date().toISOString()}`);
console.log('case'.padEnd(42), 'median ms'.padStart(10), 'p10 ms'.padStart(8), 'p90 ms'.padStart(8), 'ratio'.padStart(7), 'p10 ratio'.padStart(10));
cases.forEach((c, j) => {
  const s = [...times[j]].sort((a, b) => a - b);
  const med = median(s);
  console.log(c.name.padEnd(42), med.toFixed(1).padStart(10), s[Math.floor(s.length * 0.1)].toFixed(1).padStart(8),
    s[Math.floor(s.length * 0.9)].toFixed(1).padStart(8), `${(med / base).toFixed(3)}x`.padStart(7),
    `${(p10(s) / baseP10).toFixed(3)}x`.padStart(10));
});
