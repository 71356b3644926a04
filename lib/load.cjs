'use strict';
// Loads dist/tsgi.cjs, the whole of tsgi in one CommonJS file. Every way into
// tsgi goes through here (the tsgi command, require() and the ES module entry
// points), so a process has one instance of every class and of the logger.
//
// A CGI request starts a new process every time, so start-up is most of its
// cost (docs/design.md, "Cold start"; `npm run bench:cgi`). Where Node has its
// own on-disk compile cache (module.enableCompileCache, Node >= 22.1) it is
// turned on here: Node keeps the cache outside the package (NODE_COMPILE_CACHE,
// else a directory under the system temp dir), checks it against the source
// and the Node version, writes it atomically, and stack traces keep naming the
// real file. Older Node loads the bundle uncached. TSGI_NO_CODE_CACHE=1 (or
// Node's own NODE_DISABLE_COMPILE_CACHE=1) turns the cache off. Nothing is
// ever written inside the installed package.
const { enableCompileCache } = require('module');

if (typeof enableCompileCache === 'function' && !process.env.TSGI_NO_CODE_CACHE) {
  try {
    enableCompileCache();
  } catch {
    /* an unusable cache directory only costs the speed-up */
  }
}

module.exports = require('../dist/tsgi.cjs');
