// The rows of `npm run bench`: how each backend starts, how nginx reaches it,
// and what it is compared to. Node rows exist once per Node binary under test;
// PHP-FPM, uWSGI (python3 plugin) and Go's net/http/fcgi rows only when
// installed (detected here; each skip is printed, never an error).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, processTree, root, start } from './web.js';

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const fcgiParams = 'include /etc/nginx/fastcgi_params; fastcgi_keep_conn on;';
const tsgi = (node, cmd, where) => [node, [join(root, 'bin/tsgi.cjs'), cmd, join(root, 'bench/hello.js'), ...where, '--log-level', 'warn']];
const backend = (node, kind, where) => [node, [join(root, 'bench/backends.cjs'), kind, where]];

/**
 * Row kinds. `via` says how the request reaches the backend: fastcgi and
 * proxy-ka go through a keepalive upstream, fastcgi-close, uwsgi, scgi and
 * proxy through a new connection per request (SCGI cannot be kept alive), direct is wrk on the backend's own
 * TCP port.
 * `baseline` (and `limit`, the physical-limit row) name the row of the same
 * Node binary that the ratios are taken to.
 */
export const nodeRows = [
  { id: 'node-http-ka', name: 'node:http', via: 'proxy-ka', group: 'fastcgi', proc: 'node-http', role: 'baseline' },
  { id: 'tsgi-fastcgi', name: 'tsgi fastcgi', via: 'fastcgi', group: 'fastcgi', baseline: 'node-http-ka', limit: 'minimal-fastcgi',
    cmd: (n, s) => tsgi(n, 'fastcgi', ['--socket', s, '--chmod', '666']) },
  { id: 'minimal-fastcgi', name: 'minimal FastCGI responder', via: 'fastcgi', group: 'fastcgi', baseline: 'node-http-ka', role: 'limit',
    cmd: (n, s) => [n, [join(root, 'bench/minimal-fastcgi.cjs'), s]] },
  { id: 'node-fastcgi', name: 'node-fastcgi (npm)', via: 'fastcgi', group: 'fastcgi', baseline: 'node-http-ka',
    cmd: (n, s) => backend(n, 'node-fastcgi', s) },
  { id: 'node-http', name: 'node:http', via: 'proxy', group: 'uwsgi', role: 'baseline',
    cmd: (n, s) => backend(n, 'http', s) },
  { id: 'tsgi-uwsgi', name: 'tsgi uwsgi', via: 'uwsgi', group: 'uwsgi', baseline: 'node-http', limit: 'minimal-uwsgi',
    cmd: (n, s) => tsgi(n, 'uwsgi', ['--socket', s, '--chmod', '666']) },
  { id: 'minimal-uwsgi', name: 'minimal uwsgi responder', via: 'uwsgi', group: 'uwsgi', baseline: 'node-http', role: 'limit',
    cmd: (n, s) => [n, [join(root, 'bench/minimal-uwsgi.cjs'), s]] },
  { id: 'tsgi-scgi', name: 'tsgi scgi', via: 'scgi', group: 'uwsgi', baseline: 'node-http',
    cmd: (n, s) => tsgi(n, 'scgi', ['--socket', s, '--chmod', '666']) },
  { id: 'node-http-direct', name: 'node:http', via: 'direct', group: 'http', role: 'baseline',
    cmd: (n, _s, port) => backend(n, 'http', String(port)) },
  { id: 'tsgi-http', name: 'tsgi http (dev server)', via: 'direct', group: 'http', baseline: 'node-http-direct',
    cmd: (n, _s, port) => tsgi(n, 'http', ['--bind', `127.0.0.1:${port}`]) },
];

/** Rows of other servers, each with the row id of the Node baseline it is compared to. */
export function otherRows(dir, notes) {
  const rows = [];
  const fpm = existsSync('/usr/sbin') ? readdirSync('/usr/sbin').find((f) => /^php-fpm[\d.]*$/.test(f)) : undefined;
  if (fpm) {
    const conf = join(dir, 'php-fpm.conf');
    // One static worker, as each Node row is one process; -R because the
    // benchmark may run as root. The master's CPU is counted too.
    writeFileSync(conf, `[global]\npid = ${dir}/php-fpm.pid\nerror_log = ${dir}/php-fpm.log\ndaemonize = no\n` +
      `[bench]\nlisten = ${dir}/php.sock\nlisten.mode = 0666\npm = static\npm.max_children = 1\n`);
    const version = spawnSync(`/usr/sbin/${fpm}`, ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0].split(' (')[0];
    // A PHP-FPM worker serves one connection at a time: with fastcgi_keep_conn one worker would
    // hold one of nginx's idle upstream connections and starve the rest, so it gets a new one per request.
    rows.push({ id: 'php-fpm', name: `PHP-FPM (${version}, 1 worker)`, via: 'fastcgi-close', group: 'fastcgi', baseline: 'node-http-ka',
      cmd: (s) => [`/usr/sbin/${fpm}`, ['-F', '-R', '-y', conf]], socket: join(dir, 'php.sock'),
      nginx: `fastcgi_param SCRIPT_FILENAME ${join(root, 'bench/others/hello.php')};` });
  } else notes.push('PHP-FPM not installed (apt-get install php-fpm): row skipped');
  if (has('uwsgi') && spawnSync('uwsgi', ['--plugin', 'python3', '--version']).status === 0) {
    const version = spawnSync('uwsgi', ['--version'], { encoding: 'utf8' }).stdout.trim();
    rows.push({ id: 'uwsgi-python', name: `uWSGI ${version} python3 (1 process)`, via: 'uwsgi', group: 'uwsgi', baseline: 'node-http',
      cmd: (s) => ['uwsgi', ['--plugin', 'python3', '--socket', s, '--chmod-socket=666', '--wsgi-file', join(root, 'bench/others/hello.py'),
        '--processes', '1', '--disable-logging', '--need-app']] });
  } else notes.push('uWSGI with the python3 plugin not installed (apt-get install uwsgi uwsgi-plugin-python3): row skipped');
  if (has('go')) {
    const bin = join(dir, 'hello-fcgi');
    const env = { ...process.env, GOCACHE: '/tmp/tsgi-bench-gocache', GOPATH: '/tmp/tsgi-bench-gopath', GO111MODULE: 'off', HOME: process.env.HOME ?? '/tmp' };
    const built = spawnSync('go', ['build', '-o', bin, join(root, 'bench/others/hello-fcgi.go')], { env, encoding: 'utf8' });
    if (built.status === 0) {
      const version = spawnSync('go', ['version'], { encoding: 'utf8' }).stdout.split(' ')[2];
      rows.push({ id: 'go-fcgi', name: `Go net/http/fcgi (${version})`, via: 'fastcgi', group: 'fastcgi', baseline: 'node-http-ka',
        cmd: (s) => [bin, [s]] });
    } else notes.push(`Go installed but the FastCGI responder did not build: ${built.stderr.trim()}`);
  } else notes.push("Go not installed (apt-get install golang-go): the net/http/fcgi row skipped");
  return rows;
}

/** The nginx upstream (if any) and location body that reach `socket` the row's way. */
function nginxRoute(row, key, socket) {
  const name = key.replace(/\W/g, '_');
  const upstream = (keepalive) => `  upstream ${name} { server unix:${socket};${keepalive ? ' keepalive 64;' : ''} }\n`;
  switch (row.via) {
    case 'fastcgi': return [upstream(true), `${fcgiParams} ${row.nginx ?? ''} fastcgi_pass ${name};`];
    case 'fastcgi-close': return ['', `include /etc/nginx/fastcgi_params; ${row.nginx ?? ''} fastcgi_pass unix:${socket};`];
    case 'uwsgi': return ['', `include /etc/nginx/uwsgi_params; uwsgi_pass unix:${socket};`];
    case 'scgi': return ['', `include /etc/nginx/scgi_params; scgi_param PATH_INFO $document_uri; scgi_pass unix:${socket};`];
    case 'proxy': return [upstream(false), `proxy_pass http://${name};`];
    default: return [upstream(true), `proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://${name};`];
  }
}

/**
 * Starts every backend and returns the nginx server blocks and the targets
 * for measure(): [{ key, row, node, name, url, pid }], in matrix order.
 */
export async function startAll(dir, nodes, rows, others) {
  const targets = [];
  let servers = '';
  const launch = async (key, row, socket, port, cmd) => {
    const ready = row.via === 'direct'
      ? async () => spawnSync('curl', ['-s', '-o', '/dev/null', `http://127.0.0.1:${port}/`]).status === 0
      : () => existsSync(socket);
    return start(key, ...cmd, ready);
  };
  const route = async (key, row, node, socket, port, pid) => {
    if (row.via !== 'direct') {
      port = await freePort();
      const [upstream, location] = nginxRoute(row, key, socket);
      servers += `${upstream}  server { listen 127.0.0.1:${port}; location / { ${location} } }\n`;
    }
    targets.push({ key, row, node: node?.label ?? null, name: row.name, url: `http://127.0.0.1:${port}/`, pid });
  };
  for (const node of nodes) {
    const started = new Map();
    const owners = new Set(rows.map((r) => r.proc ?? r.id));
    for (const row of nodeRows.filter((r) => owners.has(r.id))) {
      const key = `${row.id}@${node.label}`;
      const socket = join(dir, `${row.id}-${node.label}.sock`);
      const port = await freePort();
      started.set(row.id, { child: await launch(key, row, socket, port, row.cmd(node.bin, socket, port)), socket, port });
    }
    for (const row of rows) {
      const { child, socket, port } = started.get(row.proc ?? row.id);
      await route(`${row.id}@${node.label}`, row, node, socket, port, child.pid);
    }
  }
  for (const row of others) {
    const socket = row.socket ?? join(dir, `${row.id}.sock`);
    const child = await launch(row.id, row, socket, 0, row.cmd(socket));
    await new Promise((r) => setTimeout(r, 300)); // let a master fork its workers
    await route(row.id, row, null, socket, 0, processTree(child.pid));
  }
  return { targets, servers };
}
