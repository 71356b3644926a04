'use strict';
// Loads dist/tsgi.cjs, the whole of tsgi in one CommonJS file, with a V8 code
// cache. Every way into tsgi goes through here (the tsgi command, require()
// and the ESM entry points), so a process has one instance of every class and
// of the logger.
//
// Why: a CGI request starts a new process every time, so start-up is most of
// its cost (DESIGN.md §4, `npm run bench:cgi`). With the cache (dist/cache/,
// one file per Node version and architecture) the functions a request runs are
// neither parsed nor compiled again. Without a usable cache the bundle is
// compiled as usual and a cache is written at exit for the next process. Any
// problem with the cache (read-only install, other Node) only costs the speed-up.
const fs = require('fs');
const path = require('path');
const vm = require('vm');
const Module = require('module');

const file = path.join(__dirname, '..', 'dist', 'tsgi.cjs');
const cacheDir = path.join(__dirname, '..', 'dist', 'cache');
const cacheFile = path.join(cacheDir, `tsgi-${process.version}-${process.arch}.v8cache`);

function load() {
  const loader = vm.constants && vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER;
  if (loader === undefined || Module._cache[file] || process.env.TSGI_NO_CODE_CACHE) return require(file);
  const source = fs.readFileSync(file, 'utf8');
  let cachedData;
  try { cachedData = fs.readFileSync(cacheFile); } catch { /* none yet */ }
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData, importModuleDynamically: loader });
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = Module._nodeModulePaths(path.dirname(file));
  Module._cache[file] = mod; // a later require() of the bundle gets this same instance
  try {
    script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
  } catch (err) {
    delete Module._cache[file];
    throw err;
  }
  mod.loaded = true;
  // Code restored from a V8 code cache cannot call import() itself (Node 20):
  // the bundle imports apps through this function, compiled the usual way.
  globalThis[Symbol.for('tsgi.import')] = (specifier) => import(specifier);
  if (cachedData === undefined || script.cachedDataRejected) {
    process.once('exit', () => {
      try {
        fs.mkdirSync(cacheDir, { recursive: true });
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, script.createCachedData());
        fs.renameSync(tmp, cacheFile);
      } catch { /* read-only install: run without a cache */ }
    });
  }
  return mod.exports;
}

module.exports = load();
