#!/usr/bin/env node
// Runs the fuzz targets of test/fuzz/targets/, one after another, each in a
// worker thread watched for inputs that never return (R7).
//
//   node test/fuzz/run.mjs [target…] [--seconds S | --runs N] [--seed N]
//        [--max-len BYTES] [--hang S] [--corpus DIR] [--findings DIR] [--json]
//   node test/fuzz/run.mjs TARGET --replay FILE   (run one saved input, print what it does)
//   node test/fuzz/run.mjs --target-file PATH …   (a target module of your own)
//
// `npm run fuzz` runs every target for FUZZ_SECONDS (default 60) each; the
// test suite runs a fixed number of inputs with a fixed seed. Exit status 1
// when anything was found; findings are saved under .fuzz/findings/TARGET/.
import { Worker } from 'node:worker_threads';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const HERE = new URL('.', import.meta.url).pathname;
const ROOT = resolve(HERE, '../..');
export const TARGETS = ['fastcgi-records', 'fastcgi-params', 'uwsgi', 'scgi', 'cgi-environ'];

function parse(argv) {
  const o = { targets: [], seconds: 0, runs: 0, seed: 1, maxLen: 1024, hang: 10, corpus: join(ROOT, '.fuzz/corpus'), findings: join(ROOT, '.fuzz/findings'), json: false, replay: null, instrument: true, files: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { const v = argv[++i]; if (v === undefined) throw new Error(`${a} needs a value`); return v; };
    if (a === '--seconds') o.seconds = Number(val());
    else if (a === '--runs') o.runs = Number(val());
    else if (a === '--seed') o.seed = Number(val());
    else if (a === '--max-len') o.maxLen = Number(val());
    else if (a === '--hang') o.hang = Number(val());
    else if (a === '--corpus') o.corpus = resolve(val());
    else if (a === '--no-corpus') o.corpus = '';
    else if (a === '--findings') o.findings = resolve(val());
    else if (a === '--replay') o.replay = resolve(val());
    else if (a === '--no-instrument') o.instrument = false;
    else if (a === '--json') o.json = true;
    else if (a === '--target-file') { const f = resolve(val()); const n = f.replace(/^.*\//, '').replace(/\.[cm]?[jt]s$/, ''); o.files[n] = f; o.targets.push(n); }
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else if (TARGETS.includes(a)) o.targets.push(a);
    else throw new Error(`unknown target ${a} (targets: ${TARGETS.join(', ')})`);
  }
  if (o.targets.length === 0) o.targets = [...TARGETS];
  if (!o.seconds && !o.runs) o.seconds = Number(process.env.FUZZ_SECONDS ?? 60);
  return o;
}

function fuzzOne(name, o) {
  const progress = new Int32Array(new SharedArrayBuffer(4));
  const current = new SharedArrayBuffer(4 + o.maxLen);
  const worker = new Worker(join(HERE, 'worker.mjs'), {
    workerData: {
      targetPath: o.files[name] ?? join(HERE, 'targets', `${name}.ts`), seed: o.seed, runs: o.runs, seconds: o.seconds, maxLen: o.maxLen,
      corpusDir: o.corpus && join(o.corpus, name), findingsDir: join(o.findings, name), progress, current, instrument: o.instrument,
    },
  });
  return new Promise((done) => {
    let last = -1;
    let still = 0;
    let result = null;
    let ready = false; // loading and instrumenting the target is not an input
    const watch = setInterval(() => {
      if (!ready) return;
      const n = Atomics.load(progress, 0);
      if (n !== last) { last = n; still = 0; return; }
      if (++still < o.hang) return;
      // The same input has run for `hang` seconds: save it and stop the worker.
      const len = new Int32Array(current, 0, 1)[0];
      const data = Buffer.from(new Uint8Array(current, 4, len));
      mkdirSync(join(o.findings, name), { recursive: true });
      const file = join(o.findings, name, `hang-${Date.now()}`);
      writeFileSync(file, data);
      result = { execs: n, seconds: NaN, corpus: 0, covered: 0, total: 0, findings: [{ message: `an input ran for more than ${o.hang} s (a loop?)`, file }] };
      void worker.terminate();
    }, 1000);
    worker.on('message', (m) => {
      if (m.type === 'ready') ready = true;
      else if (m.type === 'finding') { if (!o.json) console.log(`  [${name}] FINDING ${m.message}\n    input saved: ${m.file}`); }
      else if (m.type === 'status' && !o.json) console.log(`  [${name}] ${m.execs} execs, corpus ${m.corpus}, coverage ${m.covered}/${m.total} counters`);
      else if (m.type === 'done') result = m;
    });
    worker.on('error', (err) => { result = { execs: 0, seconds: 0, corpus: 0, covered: 0, total: 0, findings: [{ message: `the worker failed: ${err.stack ?? err}`, file: '' }] }; });
    worker.on('exit', () => { clearInterval(watch); done({ target: name, ...result }); });
  });
}

async function replay(name, file, o) {
  const out = await build({ entryPoints: [o.files[name] ?? join(HERE, 'targets', `${name}.ts`)], bundle: true, format: 'esm', platform: 'node', write: false, logLevel: 'error' });
  const target = await import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString('base64')}`);
  const data = readFileSync(file);
  console.log(`${name}: ${data.length} bytes: ${data.toString('hex')}`);
  target.fuzz(data);
  console.log('no finding');
}

async function main() {
  const o = parse(process.argv.slice(2));
  if (o.replay) { await replay(o.targets[0], o.replay, o); return; }
  const results = [];
  for (const name of o.targets) {
    if (!o.json) console.log(`fuzz ${name}: ${o.runs ? `${o.runs} inputs` : `${o.seconds} s`}, seed ${o.seed}, inputs up to ${o.maxLen} bytes`);
    const r = await fuzzOne(name, o);
    results.push(r);
    if (!o.json) {
      const rate = r.seconds ? Math.round(r.execs / r.seconds) : 0;
      console.log(`  [${name}] ${r.execs} execs in ${r.seconds?.toFixed(1)} s (${rate}/s), corpus ${r.corpus}, coverage ${r.covered}/${r.total} counters, ${r.findings.length} finding(s)`);
    }
  }
  if (o.json) console.log(JSON.stringify(results));
  if (results.some((r) => r.findings.length > 0)) process.exitCode = 1;
}

await main();
