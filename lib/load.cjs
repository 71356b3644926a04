'use strict';
// Loads dist/tsgi.cjs, the whole of tsgi in one CommonJS file. Every way into
// tsgi goes through here (the tsgi command, require() and the ES module entry
// points), so a process has one instance of every class and of the logger.
//
// A CGI request starts a new process every time, so start-up is most of its
// cost (docs/design.md, "Cold start"; `npm run bench:cgi`). Compiled code is
// kept in Node's own compile cache (module.enableCompileCache), never inside
// the package (which may be read-only, and is shared): in NODE_COMPILE_CACHE,
// else a directory under the system's temp dir. Node keys it by file and Node
// version, checks it before use and writes it atomically; a directory it cannot
// create or write only costs the speed-up, silently. Stack traces name the
// installed file. TSGI_NO_CODE_CACHE=1 (or Node's NODE_DISABLE_COMPILE_CACHE=1)
// turns it off. docs/packaging.md has the details.
const path = require('path');
const Module = require('module');

const file = path.join(__dirname, '..', 'dist', 'tsgi.cjs');

if (!process.env.TSGI_NO_CODE_CACHE) {
  try {
    Module.enableCompileCache();
  } catch {
    /* an unusable cache directory only costs the speed-up */
  }
}

module.exports = require(file);
