#!/usr/bin/env node
// A CGI script that calls runCgi itself (the second way to deploy under cgi-bin).
import { runCgi } from 'tsgi/cgi';
import app from './hello.js';

runCgi(app);
