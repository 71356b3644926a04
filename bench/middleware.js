// npm run bench:middleware — what each middleware layer costs per request,
// in process: requests go through the engine (runApp) into a sink that
// discards the bytes, so that only the app + middleware + engine are
// measured. Cases are interleaved in rounds; the figure is the median time
// per request and its ratio to the bare app. Also: the cost of loading
// tsgi/middleware, which a CGI process pays at every request.
// Usage: node bench/middleware.js [rounds] [requests-per-round]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const tsgi = require('../lib/load.cjs');
const mw = require('../dist/middleware.cjs');
const rounds = Number(process.argv[2] ?? 7);
const perRound = Number(process.argv[3] ?? 20000);

const TEXT = [['Content-Type', 'text/plain']];
const HELLO = Buffer.from('Hello, world!\n');
const hello = (_e, start) => { start('200 OK', TEXT); return [HELLO]; };
const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-mw-'));
writeFileSync(join(dir, 'file.txt'), 'x'.repeat(1024));
const quiet = { write: () => {} };

const sink = { head() {}, write() {}, end() {}, abort() {} };
const vars = {
  REQUEST_METHOD: 'GET', SERVER_NAME: 'localhost', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1', SCRIPT_NAME: '',
  PATH_INFO: '/', QUERY_STRING: '', REMOTE_ADDR: '127.0.0.1', REQUEST_URI: '/', HTTP_HOST: 'localhost', HTTP_USER_AGENT: 'bench',
};

const cases = [
  ['hello (no middleware)', hello],
  ['validate(hello)', mw.validate(hello, { onViolation: () => {} })],
  ['logging(json, to a no-op)', mw.logging({ format: 'json', write: () => {} })(hello)],
  ['timing()', mw.timing()(hello)],
  ['cors() with an allowed Origin', mw.cors({ origins: ['https://a.example'] })(hello), { HTTP_ORIGIN: 'https://a.example' }],
  ['session(), no cookie, untouched', mw.session({ secret: 'x'.repeat(32) })(hello)],
  ['auth() with a good API key', mw.auth({ apiKeys: ['k'.repeat(32)] })(hello), { HTTP_X_API_KEY: 'k'.repeat(32) }],
  ['monitor()', mw.monitor()(hello)],
  ['staticFiles(): a 1 KiB file', mw.staticFiles({ root: dir })(hello), { PATH_INFO: '/file.txt', REQUEST_URI: '/file.txt' }],
  ['all of the above but static, composed', mw.compose(hello, mw.logging({ write: () => {} }), mw.monitor(), mw.timing(),
    mw.cors({ origins: ['https://a.example'] }), mw.session({ secret: 'x'.repeat(32) }), mw.auth({ apiKeys: ['k'.repeat(32)] })),
  { HTTP_ORIGIN: 'https://a.example', HTTP_X_API_KEY: 'k'.repeat(32) }],
];

async function once(app, extra) {
  const abort = new tsgi.RequestAbort();
  const environ = tsgi.completeEnviron({ ...vars, ...extra }, {
    input: tsgi.emptyInput(), errors: quiet, abort, multiprocess: false, runOnce: false,
  });
  await tsgi.runApp(app, environ, sink, abort);
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const times = cases.map(() => []);
for (const [, app, extra] of cases) for (let i = 0; i < 2000; i++) await once(app, extra); // warm up
for (let r = 0; r < rounds; r++) {
  for (const [j, [, app, extra]] of cases.entries()) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) await once(app, extra);
    times[j].push(Number(process.hrtime.bigint() - t) / perRound / 1000);
  }
}
const base = median(times[0]);
console.log(`${rounds} rounds x ${perRound} requests, in process, median µs per request (ratio to the bare app)`);
for (const [j, [name]] of cases.entries()) {
  const m = median(times[j]);
  console.log(`  ${name.padEnd(42)} ${m.toFixed(2).padStart(7)} µs  ${(m / base).toFixed(2)}x  (+${(m - base).toFixed(2)} µs)`);
}

// Load cost: a fresh process requiring the main bundle, then also tsgi/middleware.
const load = (code) => {
  const xs = [];
  for (let i = 0; i < 15; i++) {
    const r = spawnSync(process.execPath, ['-e', `const t=process.hrtime.bigint();${code};process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`], { cwd: new URL('..', import.meta.url).pathname, encoding: 'utf8' });
    xs.push(Number(r.stdout));
  }
  return median(xs);
};
const main = load("require('./lib/load.cjs')");
const both = load("require('./lib/load.cjs');require('./dist/middleware.cjs')");
console.log(`load, median of 15 processes: tsgi ${main.toFixed(1)} ms; tsgi + tsgi/middleware ${both.toFixed(1)} ms (+${(both - main).toFixed(1)} ms)`);
