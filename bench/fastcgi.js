// npm run bench:fastcgi — the FastCGI part of `npm run bench` (bench/matrix.js)
// under the running Node only, nothing written: nginx fastcgi_pass with a
// keepalive upstream in front of tsgi fastcgi, the minimal FastCGI responder,
// node-fastcgi (and PHP-FPM and Go when installed), next to nginx proxy_pass
// -> node:http with a keepalive upstream.
// Usage: node bench/fastcgi.js [rounds] [seconds] [connections]
import { runMatrix } from './matrix.js';

const [rounds = '5', seconds = '5', connections = '16'] = process.argv.slice(2);
await runMatrix({ only: 'fastcgi', nodes: 'current', rounds, seconds, connections, 'no-write': true });
process.exit(0);
