// npm run bench:uwsgi — the uwsgi part of `npm run bench` (bench/matrix.js)
// under the running Node only, nothing written: nginx uwsgi_pass in front of
// tsgi uwsgi and the minimal uwsgi responder (and uWSGI's python3 plugin when
// installed), next to nginx proxy_pass -> node:http without upstream
// keepalive (a connection per request, as uwsgi always has).
// Usage: node bench/uwsgi.js [rounds] [seconds] [connections]
import { runMatrix } from './matrix.js';

const [rounds = '5', seconds = '5', connections = '16'] = process.argv.slice(2);
await runMatrix({ only: 'uwsgi', nodes: 'current', rounds, seconds, connections, 'no-write': true });
process.exit(0);
