#!/usr/bin/env node
'use strict';
// The tsgi command. CommonJS on purpose, and loaded through lib/load.cjs (see
// there): a CGI request pays for start-up at every request.
const argv = process.argv.slice(2);

// Started by npm (`npx tsgi …`, an npm script), tsgi runs under `sh -c`,
// itself a child of npm. Killing npm kills that shell, which does not pass
// the signal on: the server would be left running, adopted by init. So a
// server started by npm watches its parent and, once the parent is gone,
// sends itself SIGTERM, which stops it the usual way (finish in-flight
// requests, remove the socket, exit 0). Only under npm: a server started by a
// shell with nohup or `&` must outlive that shell. Not for `cgi`, which lives
// for one request.
if (process.env.npm_command !== undefined && argv[0] !== 'cgi') {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  }, 250);
  timer.unref();
}

require('../lib/load.cjs').main(argv);
