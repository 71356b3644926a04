#!/usr/bin/env node
'use strict';
// The tsgi command. CommonJS on purpose, and loaded through lib/load.cjs (see
// there): a CGI request pays for start-up at every request.
require('../lib/load.cjs').main(process.argv.slice(2));
