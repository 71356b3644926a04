// The fuzzing loop of one target, in a worker thread so that the parent can
// stop an input that never returns (a decoder that loops, R7) and save it.
//
// Coverage guidance without a native addon: the src/ files the target
// imports are instrumented with istanbul (statement, branch and function
// counters), the counters are turned into typed arrays, and after each input
// every counter's hit count, in power-of-two buckets, is compared with what
// the corpus has reached so far. An input that reaches a new bucket joins
// the corpus; new inputs are mutations of corpus entries (byte flips,
// interesting values, inserts, deletes, copies, splices, dictionary words).
import { parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { readFileSync, mkdirSync, writeFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { build, transformSync } from 'esbuild';
import istanbul from 'istanbul-lib-instrument';

const require = createRequire(import.meta.url);
const { targetPath, seed, runs, seconds, maxLen, corpusDir, findingsDir, progress, current, instrument } = workerData;

// ---- load the target with src/ instrumented ----
const instrumenter = istanbul.createInstrumenter({ esModules: true, compact: true, produceSourceMap: false });
const SRC = new URL('../../src/', import.meta.url).pathname;
const instrumentSrc = {
  name: 'instrument-src',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (!instrument || !args.path.startsWith(SRC)) return undefined;
      const js = transformSync(readFileSync(args.path, 'utf8'), { loader: 'ts', format: 'esm', target: 'node20', sourcefile: args.path }).code;
      return { contents: instrumenter.instrumentSync(js, args.path), loader: 'js', resolveDir: args.path.replace(/\/[^/]+$/, '') };
    });
  },
};
const bundle = await build({
  entryPoints: [targetPath], bundle: true, format: 'cjs', platform: 'node', target: 'node20', write: false, logLevel: 'error', plugins: [instrumentSrc],
});
const mod = { exports: {} };
new Function('module', 'exports', 'require', bundle.outputFiles[0].text)(mod, mod.exports, require);
const target = mod.exports;
if (typeof target.fuzz !== 'function') throw new Error(`${targetPath} exports no fuzz(data)`);

// Counters as typed arrays: the instrumented code does `cov().s[3]++`, which works the same on them.
const counters = [];
for (const fc of Object.values(globalThis.__coverage__ ?? {})) {
  const typed = (o) => { const a = new Uint32Array(Object.keys(o).length); return a; };
  fc.s = typed(fc.s);
  fc.f = typed(fc.f);
  for (const k of Object.keys(fc.b)) fc.b[k] = new Uint32Array(fc.b[k].length);
  counters.push(fc.s, fc.f, ...Object.values(fc.b));
}
const total = counters.reduce((n, a) => n + a.length, 0);
const seen = new Uint8Array(total);
const hit = [];

function bucket(c) {
  return c === 1 ? 1 : c === 2 ? 2 : c === 3 ? 4 : c < 8 ? 8 : c < 16 ? 16 : c < 32 ? 32 : c < 128 ? 64 : 128;
}
/** Clears the counters; returns true when the last input reached a bucket never reached before. */
function collect() {
  hit.length = 0;
  let idx = 0;
  for (let a = 0; a < counters.length; a++) {
    const arr = counters[a];
    for (let i = 0; i < arr.length; i++, idx++) {
      const c = arr[i];
      if (c !== 0) {
        const bit = bucket(c);
        if ((seen[idx] & bit) === 0) hit.push(idx, bit);
        arr[i] = 0;
      }
    }
  }
  return hit.length > 0;
}
function commit() {
  for (let i = 0; i < hit.length; i += 2) seen[hit[i]] |= hit[i + 1];
}
function coveredCounters() {
  let n = 0;
  for (let i = 0; i < total; i++) if (seen[i] !== 0) n++;
  return n;
}

// ---- deterministic randomness ----
let s0 = (seed >>> 0) || 1;
function rnd(n) { // xorshift32, 0 <= r < n
  s0 ^= s0 << 13; s0 >>>= 0; s0 ^= s0 >>> 17; s0 ^= s0 << 5; s0 >>>= 0;
  return s0 % n;
}

// ---- mutations ----
const INTERESTING = [0, 1, 2, 7, 8, 9, 15, 16, 0x7f, 0x80, 0x81, 0xfe, 0xff];
const dictionary = (target.dictionary ?? []).map((b) => Buffer.from(b));
let corpus = [];

function mutate(src) {
  let b = Buffer.from(src);
  const steps = 1 + rnd(rnd(2) ? 3 : 8);
  for (let s = 0; s < steps; s++) {
    const len = b.length;
    switch (rnd(11)) {
      case 0: if (len) b[rnd(len)] ^= 1 << rnd(8); break;
      case 1: if (len) b[rnd(len)] = INTERESTING[rnd(INTERESTING.length)]; break;
      case 2: if (len) b[rnd(len)] = rnd(256); break;
      case 3: { // insert random bytes
        const n = 1 + rnd(rnd(4) ? 4 : 64); const at = rnd(len + 1); const ins = Buffer.alloc(n);
        for (let i = 0; i < n; i++) ins[i] = rnd(256);
        b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]); break;
      }
      case 4: if (len > 1) { const at = rnd(len); const n = 1 + rnd(Math.min(len - at, rnd(4) ? 8 : 256)); b = Buffer.concat([b.subarray(0, at), b.subarray(at + n)]); } break;
      case 5: if (len) { // copy a range elsewhere (insert)
        const from = rnd(len); const n = 1 + rnd(Math.min(len - from, 128)); const at = rnd(len + 1);
        b = Buffer.concat([b.subarray(0, at), Buffer.from(b.subarray(from, from + n)), b.subarray(at)]); break;
      }
      case 6: if (len >= 2) { // a 16-bit value, either byte order
        const at = rnd(len - 1); const v = [0, 1, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, rnd(0x10000), len - at, len][rnd(13)] & 0xffff;
        if (rnd(2)) b.writeUInt16BE(v, at); else b.writeUInt16LE(v, at); break;
      }
      case 7: if (len >= 4) { // a 32-bit value (FastCGI's 4-byte lengths)
        const at = rnd(len - 3); const v = [0x80000000, 0x80000001, 0xffffffff, 0x7fffffff, 0x80000000 | (len - at), 0x80000000 | rnd(0x10000)][rnd(6)];
        b.writeUInt32BE(v >>> 0, at); break;
      }
      case 8: if (corpus.length) { // splice with another corpus entry
        const o = corpus[rnd(corpus.length)]; const at = rnd(len + 1); const from = rnd(o.length + 1);
        b = Buffer.concat([b.subarray(0, at), o.subarray(from, from + rnd(o.length - from + 1))]); break;
      }
      case 9: if (dictionary.length) {
        const w = dictionary[rnd(dictionary.length)]; const at = rnd(len + 1);
        b = rnd(2) ? Buffer.concat([b.subarray(0, at), w, b.subarray(at)]) : Buffer.concat([b.subarray(0, at), w, b.subarray(Math.min(len, at + w.length))]); break;
      }
      default: if (len > 1) { const at = rnd(len); b = b.subarray(0, at + 1); } // truncate
    }
  }
  return b.length > maxLen ? b.subarray(0, maxLen) : b;
}

// ---- the loop ----
const currentLen = new Int32Array(current, 0, 1);
const currentBytes = new Uint8Array(current, 4);
const findings = new Map();

function save(dir, data) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, createHash('sha1').update(data).digest('hex').slice(0, 16));
  writeFileSync(file, data);
  return file;
}

function runOne(data) {
  currentBytes.set(data.subarray(0, currentBytes.length));
  currentLen[0] = data.length;
  try {
    target.fuzz(data);
  } catch (err) {
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const key = message.replace(/\d+/g, 'N').slice(0, 120);
    if (!findings.has(key)) {
      const file = save(findingsDir, data);
      findings.set(key, { message: message.slice(0, 500), file, size: data.length });
      parentPort.postMessage({ type: 'finding', message: message.slice(0, 500), file });
    }
  }
  Atomics.add(progress, 0, 1);
}

let initial = [...(target.seeds ?? []).map((b) => Buffer.from(b))];
try { for (const f of readdirSync(corpusDir)) initial.push(readFileSync(join(corpusDir, f))); } catch { /* a first run has no corpus */ }
if (initial.length === 0) initial = [Buffer.alloc(1)];
let execs = 0;
parentPort.postMessage({ type: 'ready' });
for (const data of initial) {
  runOne(data); execs++;
  if (collect() || corpus.length === 0) { commit(); corpus.push(data); }
}
const started = process.hrtime.bigint();
const deadline = seconds > 0 ? started + BigInt(Math.round(seconds * 1e9)) : 0n;
let lastReport = Date.now();
let saved = 0;
while (runs <= 0 || execs < runs) {
  const data = mutate(corpus[rnd(corpus.length)]);
  runOne(data); execs++;
  if (collect()) {
    commit();
    corpus.push(data);
    if (corpusDir) { save(corpusDir, data); saved++; }
  }
  if ((execs & 1023) === 0) {
    if (deadline && process.hrtime.bigint() > deadline) break;
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      parentPort.postMessage({ type: 'status', execs, corpus: corpus.length, covered: coveredCounters(), total });
    }
  }
}
const secs = Number(process.hrtime.bigint() - started) / 1e9;
parentPort.postMessage({ type: 'done', execs, seconds: secs, corpus: corpus.length, saved, covered: coveredCounters(), total, findings: [...findings.values()] });
