'use strict';
// Loads dist/tsgi.cjs, the whole of tsgi in one CommonJS file. Every way into
// tsgi goes through here (the tsgi command, require() and the ES module entry
// points), so a process has one instance of every class and of the logger.
//
// A CGI request starts a new process every time, so start-up is most of its
// cost (docs/design.md, "Cold start"; `npm run bench:cgi`). Compiled code is
// kept in Node's own compile cache (module.enableCompileCache), never inside
// the package (which may be read-only, and is shared): in NODE_COMPILE_CACHE,
// else a per-user directory under the system's temp dir (ownCacheDir). Node
// keys it by file and Node version, checks each entry against a hash of the
// file's contents before use and writes it atomically; a directory it cannot
// create or write, or one that is not safely ours, only costs the speed-up, silently. Stack traces name the
// installed file. TSGI_NO_CODE_CACHE=1 (or Node's NODE_DISABLE_COMPILE_CACHE=1)
// turns it off. docs/packaging.md has the details.
const fs = require('fs');
const path = require('path');
const Module = require('module');

const file = path.join(__dirname, '..', 'dist', 'tsgi.cjs');

/**
 * The compile cache's directory when the operator named none: one per user,
 * `<temp dir>/tsgi-compile-cache-<uid>`, created 0700. Node would otherwise
 * share one `node-compile-cache` in the temp dir between all users, and a
 * compiled-code cache is code: on shared hosting another user who made that
 * directory first could plant entries the next CGI request runs. So the
 * directory is used only if it is a real directory (not a symlink), owned by
 * this user, writable by no one else, in a temp dir that others cannot
 * rename it out of (sticky, or not writable by others); else no cache, silently.
 */
function ownCacheDir() {
  if (typeof process.getuid !== 'function') return undefined;
  const uid = process.getuid();
  const tmp = path.resolve(process.env.TMPDIR || '/tmp');
  const dir = path.join(tmp, `tsgi-compile-cache-${uid}`);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if (err.code !== 'EEXIST') return null;
  }
  try {
    const parent = fs.statSync(tmp);
    if ((parent.mode & 0o022) !== 0 && (parent.mode & 0o1000) === 0) return null;
    const st = fs.lstatSync(dir);
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) return null;
  } catch {
    return null;
  }
  return dir;
}

if (!process.env.TSGI_NO_CODE_CACHE) {
  try {
    // NODE_COMPILE_CACHE, when set, is the operator's choice and Node's to use as given.
    const dir = process.env.NODE_COMPILE_CACHE ? undefined : ownCacheDir();
    if (dir !== null) Module.enableCompileCache(dir);
  } catch {
    /* an unusable cache directory only costs the speed-up */
  }
}

module.exports = require(file);
