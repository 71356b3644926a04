'use strict';
// Loads dist/tsgi.cjs, the whole of tsgi in one CommonJS file. Every way into
// tsgi goes through here (the tsgi command, require() and the ES module entry
// points), so a process has one instance of every class and of the logger.
//
// A CGI request starts a new process every time, so start-up is most of its
// cost (docs/design.md, "Cold start"; `npm run bench:cgi`). Compiled code is
// cached, never inside the package (which may be read-only, and is shared):
//
// - Node >= 22.1: Node's own compile cache (module.enableCompileCache), in
//   NODE_COMPILE_CACHE or a directory under the system temp dir. Node keys it
//   by file and Node version, checks it, and writes it atomically.
// - Node 20: a V8 code cache of the bundle in TSGI_CACHE_DIR, else
//   <temp dir>/tsgi-cache-<uid> (created 0700, used only if this user owns it
//   and no one else may write to it), one file per bundle path, Node version,
//   architecture and bundle hash, written to a temp name and renamed.
//
// Either way stack traces name the installed file. TSGI_NO_CODE_CACHE=1 turns
// both off. docs/packaging.md has the details.
const path = require('path');
const Module = require('module');

const file = path.join(__dirname, '..', 'dist', 'tsgi.cjs');
// Node 20's code cache compiles the bundle inside this wrapper, on a line of
// its own, with lineOffset -1: lines and columns in stack traces (and source
// maps) are those of the file.
const WRAPPER = '(function (exports, require, module, __filename, __dirname) {\n';

function load() {
  if (process.env.TSGI_NO_CODE_CACHE) return require(file);
  if (typeof Module.enableCompileCache === 'function') {
    try {
      Module.enableCompileCache();
    } catch {
      /* an unusable cache directory only costs the speed-up */
    }
    return require(file);
  }
  return loadWithCodeCache();
}

/** A cache directory that only this user can write, or undefined. */
function cacheDir(fs) {
  if (process.env.TSGI_CACHE_DIR) return process.env.TSGI_CACHE_DIR;
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  const dir = path.join(require('os').tmpdir(), `tsgi-cache-${uid}`);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch { /* exists, or cannot be made */ }
  try {
    const st = fs.lstatSync(dir);
    if (!st.isDirectory() || (typeof process.getuid === 'function' && st.uid !== process.getuid()) || (st.mode & 0o022) !== 0) return undefined;
    return dir;
  } catch {
    return undefined;
  }
}

/** FNV-1a of a string, as 8 hex digits: names the cache file after the bundle's path. */
function fnv(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

function loadWithCodeCache() {
  const fs = require('fs');
  const vm = require('vm');
  const source = fs.readFileSync(file, 'utf8');
  // The build ends the bundle with `//# tsgiBundleHash=<sha256 of the rest>`.
  const hash = /\/\/# tsgiBundleHash=([0-9a-f]{16,})\s*$/.exec(source.slice(-120));
  const dir = hash ? cacheDir(fs) : undefined;
  if (!dir) return require(file);
  // The wrapper is part of the compiled code: it is in the key too.
  const cacheFile = path.join(dir, `tsgi-${fnv(file)}-${process.version}-${process.arch}-${hash[1].slice(0, 16)}-${fnv(WRAPPER)}.v8cache`);
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch { /* none yet */ }
  const script = new vm.Script(`${WRAPPER}${source}\n})`, { filename: file, cachedData, lineOffset: -1 });
  const mod = { exports: {}, id: file, filename: file, loaded: false, path: path.dirname(file) };
  script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
  mod.loaded = true;
  if (cachedData === undefined || script.cachedDataRejected) {
    // At exit, so the cache holds the functions this process compiled.
    process.once('exit', () => {
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      try {
        fs.writeFileSync(tmp, script.createCachedData(), { flag: 'wx', mode: 0o600 });
        fs.renameSync(tmp, cacheFile);
      } catch {
        try { fs.unlinkSync(tmp); } catch { /* never written */ }
      }
    });
  }
  return mod.exports;
}

module.exports = load();
