#!/usr/bin/env node
// The fastest CGI script: CommonJS, calling runCgi itself. (Node >= 20.19
// require()s the ES module app; bench/hello-cgi.js is the same in ESM.)
const { runCgi } = require('tsgi/cgi');
runCgi(require('./hello.js').default);
