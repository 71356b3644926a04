// The configuration files in systemd/ and nginx/, run as shipped, the way a
// Debian operator runs them: as root, with tsgi installed from its packed
// tarball into /srv/app. Each file is read from the repository; only the
// documented prefixes (/srv, /run, /var/log) move into a temp dir, and
// /usr/bin/node becomes the Node under test. The units' own ExecStart and
// ExecReload lines run under systemd-socket-activate (tsgi.socket +
// tsgi.service) or as root (tsgi-plain.service); User=/Group= are applied
// with setpriv, as systemd applies them, and the directories systemd makes
// (RuntimeDirectory=, LogsDirectory=, the socket's) are made the same way.
// The nginx files start their backends with the commands in their own
// comments (the lines that begin `#   $ `). apache/ is run as shipped by
// cgi-servers, socket-servers, scgi-servers and bridges; fastcgi-upstream.conf by
// production. Last, SCRIPT_NAME and PATH_INFO as each web server sends them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { packAndInstall } from '../package/install.js';
import { fetchRaw } from './http-client.js';
import { ROOT, checkReadableBy, freePort, portOpen, runDir as tempDir, serversAvailable, startApache, startNginx, waitFor, which, type Running } from './servers.js';
import { NODE, alive } from './tsgi-process.js';

const USER = 'www-data';
const asRoot = process.getuid?.() === 0;
const haveUser = spawnSync('id', ['-u', USER]).status === 0;
const tools = ['nginx', 'apache2', 'fcgiwrap', 'systemd-socket-activate', 'setpriv', 'runuser', 'install'];
const enabled = asRoot && haveUser && serversAvailable('shipped configuration files', tools);
if (!asRoot || !haveUser) {
  const why = `the shipped configuration files need root and a ${USER} user`;
  if (process.env.TSGI_REQUIRE_SERVERS === '1') throw new Error(`${why}, and TSGI_REQUIRE_SERVERS=1 forbids skipping`);
  process.stderr.write(`\n!!! SKIPPING ${why}\n\n`);
}

const id = (flag: '-u' | '-g', name: string): number => Number(spawnSync('id', [flag, name], { encoding: 'utf8' }).stdout.trim());

let root = '';
let app = '';
/** The documented paths, moved under the temp dir; the Node under test instead of /usr/bin/node. */
const place = (text: string): string => text
  .replaceAll('/usr/bin/node', NODE)
  .replace(/(?<![\w/])\/(srv|run|var\/log)(?=[/\s;]|$)/gm, `${root}/$1`);

/** The app reports its version, who runs it, the path split and the body's length. */
function writeApp(version: string): void {
  writeFileSync(join(app, 'app.js'), [
    'export default function app(environ, startResponse) {',
    "  const body = environ['wsgi.input'].read();",
    "  startResponse('200 OK', [['Content-Type', 'text/plain']]);",
    `  return [Buffer.from(\`${version} uid \${process.getuid()} gid \${process.getgid()} \${environ.SCRIPT_NAME}|\${environ.PATH_INFO} \${body.length}\\n\`, 'latin1')];`,
    '}', '',
  ].join('\n'));
}
const answer = (version: string, sn: string, pi: string, len = 0): string => `${version} uid ${id('-u', USER)} gid ${id('-g', USER)} ${sn}|${pi} ${len}\n`;

beforeAll(() => {
  if (!enabled) return;
  const inst = packAndInstall('tsgi-shipped-', 'srv/app');
  root = inst.work;
  app = inst.app;
  for (const d of ['run', 'var/log']) mkdirSync(join(root, d), { recursive: true, mode: 0o755 });
  chmodSync(join(root, 'var'), 0o755);
}, 120_000);

/** Every process a test started, stopped (its whole group) after the test. */
const procs: Proc[] = [];
const servers: Running[] = [];
afterEach(async () => {
  await Promise.all([...procs.splice(0).map((p) => p.stop()), ...servers.splice(0).map((s) => s.stop())]);
});
const temps: string[] = [];
/** A temp dir the web server's user can read, removed after the file's tests. */
const runDir = (prefix: string): string => { const d = tempDir(prefix); temps.push(d); return d; };
afterAll(() => { for (const d of [root, ...temps]) if (d) rmSync(d, { recursive: true, force: true }); });

interface Proc { child: ChildProcess; log: () => string; exited: Promise<number | null>; stop: () => Promise<void> }
function start(argv: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Proc {
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd, env: opts.env ?? { PATH: process.env.PATH ?? '' } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const p: Proc = {
    child, exited, log: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
        const t = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
  procs.push(p);
  return p;
}

type Unit = Record<string, Record<string, string>>;
/** systemd/NAME as sections of settings; anything this reader cannot take literally fails the test. */
function readUnit(name: string): Unit {
  const out: Unit = {};
  let section = '';
  for (const line of readFileSync(join(ROOT, 'systemd', name), 'utf8').split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) continue;
    const sec = /^\[(\w+)\]$/.exec(t);
    if (sec) { section = sec[1]!; out[section] = {}; continue; }
    const kv = /^(\w+)=(.*)$/.exec(t);
    if (!kv || t.endsWith('\\') || !out[section]) throw new Error(`systemd/${name}: cannot read ${JSON.stringify(line)}`);
    out[section]![kv[1]!] = kv[2]!;
  }
  return out;
}

/** A unit's command line as systemd runs it: words, `$NAME` replaced; quoting and %-specifiers are not used. */
function words(line: string, vars: Record<string, string> = {}): string[] {
  expect(line).not.toMatch(/["'\\%]/);
  return place(line).trim().split(/\s+/).map((w) => w.replace(/^\$(\w+)$/, (_, n: string) => {
    if (vars[n] === undefined) throw new Error(`no value for $${n} in ${line}`);
    return vars[n];
  }));
}

/** What systemd does before ExecStart: the service's directories, its environment, and User=/Group=. */
function prepare(svc: Record<string, string>, argv: string[]): { argv: string[]; env: Record<string, string>; cwd: string } {
  const user = svc.User;
  const group = svc.Group ?? user;
  const [uid, gid] = user ? [id('-u', user), id('-g', group!)] : [0, 0];
  const dirs: [string | undefined, string, string | undefined][] = [
    [svc.RuntimeDirectory, '/run', svc.RuntimeDirectoryMode], [svc.LogsDirectory, '/var/log', svc.LogsDirectoryMode],
  ];
  for (const [name, base, mode] of dirs) {
    if (name === undefined) continue;
    const d = place(`${base}/${name}`);
    mkdirSync(d, { recursive: true });
    chmodSync(d, Number.parseInt(mode ?? '0755', 8));
    chownSync(d, uid, gid);
  }
  const env: Record<string, string> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin', LANG: 'C.UTF-8' };
  if (!user) return { argv, env, cwd: place(svc.WorkingDirectory!) };
  Object.assign(env, { USER: user, LOGNAME: user, HOME: '/', SHELL: '/usr/sbin/nologin' });
  const priv = [which('setpriv')!, `--reuid=${user}`, `--regid=${group}`, '--init-groups', ...(svc.NoNewPrivileges === 'true' ? ['--no-new-privs'] : []), '--'];
  return { argv: [...priv, ...argv], env, cwd: place(svc.WorkingDirectory!) };
}

const get = (port: number, path: string) => fetchRaw(port, `GET ${path} HTTP/1.0\r\nHost: localhost`);
/** Status, Content-Type and body of a GET, to compare whole. */
async function fetchText(port: number, path: string): Promise<[number, string, string]> {
  const r = await get(port, path);
  return [r.status, /\r\nContent-Type: ([^\r]*)\r\n/i.exec(r.head)?.[1] ?? '', r.body.toString('latin1')];
}

/** ExecReload with the started pid as $MAINPID; every answer on the way is a 200 until the new code answers. */
async function reload(svc: Record<string, string>, mainPid: number, port: number): Promise<void> {
  writeApp('v2');
  const cmd = words(svc.ExecReload!, { MAINPID: String(mainPid) });
  expect(spawnSync(cmd[0]!, cmd.slice(1)).status).toBe(0);
  await waitFor(async () => {
    const [status, , body] = await fetchText(port, '/after');
    expect(status).toBe(200);
    expect([answer('v1', '', '/after'), answer('v2', '', '/after')]).toContain(body);
    return body === answer('v2', '', '/after');
  }, 'the new generation to answer', 30_000);
}

/** KillMode=mixed: SIGTERM to the main process only; it exits 0 and no worker outlives it. */
async function stop(p: Proc): Promise<void> {
  const pids = [...p.log().matchAll(/\(pid (\d+), generation/g)].map((m) => Number(m[1]));
  expect(pids.length).toBeGreaterThan(0);
  process.kill(p.child.pid!, 'SIGTERM');
  expect(await p.exited).toBe(0);
  await waitFor(() => pids.every((pid) => !alive(pid)), 'every worker to exit');
}

describe.runIf(enabled)('systemd/ as shipped', () => {
  it('P7 P3 P4 tsgi.socket + tsgi.service under systemd-socket-activate: the unit\'s ExecStart takes the socket, serves nginx, reloads on ExecReload, stops on SIGTERM', async () => {
    writeApp('v1');
    const sock = readUnit('tsgi.socket').Socket!;
    const svc = readUnit('tsgi.service').Service!;
    const socket = place(sock.ListenStream!);
    mkdirSync(dirname(socket), { recursive: true });
    chmodSync(dirname(socket), Number.parseInt(sock.DirectoryMode!, 8));
    const run = prepare(svc, words(svc.ExecStart!));
    const act = start([which('systemd-socket-activate')!, '-l', socket, '--', ...run.argv], { cwd: run.cwd, env: run.env });
    await waitFor(() => act.log().includes(`Listening on ${socket}`), `systemd-socket-activate on ${socket}\n${act.log()}`);
    // systemd makes the socket with these; systemd-socket-activate has no option for them.
    chownSync(socket, id('-u', sock.SocketUser!), id('-g', sock.SocketGroup!));
    chmodSync(socket, Number.parseInt(sock.SocketMode!, 8));
    const nginx = await startNginx('fastcgi.conf', { RUN_DIR: runDir('tsgi-shipped-nginx-'), SOCKET: socket, PLAIN_PORT: String(await freePort()) });
    servers.push(nginx);
    // The first connection starts the service, which must take the socket (LISTEN_PID is the pid started).
    expect(await fetchText(nginx.port, '/x/y')).toEqual([200, 'text/plain', answer('v1', '', '/x/y')]);
    expect(readFileSync(`/proc/${act.child.pid}/cmdline`, 'latin1').split('\0')).toContain(`${app}/node_modules/tsgi/bin/tsgi.cjs`);
    await reload(svc, act.child.pid!, nginx.port);
    expect(act.child.exitCode).toBeNull();
    const access = join(place(`/var/log/${svc.LogsDirectory}`), 'access.log');
    expect(readFileSync(access, 'latin1')).toMatch(/"GET \/x\/y HTTP\/1\.0" 200 /);
    expect(lstatSync(access).uid).toBe(id('-u', USER));
    await stop(act);
    // The socket belongs to the activator: tsgi leaves it where it was.
    expect(lstatSync(socket).isSocket()).toBe(true);
  }, 90_000);

  it('P9 P3 P4 tsgi-plain.service run as root: binds, hands the socket to www-data\'s group, runs the app as www-data, serves nginx, reloads, stops', async () => {
    writeApp('v1');
    const svc = readUnit('tsgi-plain.service').Service!;
    const run = prepare(svc, words(svc.ExecStart!));
    const pidFile = place(svc.PIDFile!);
    const socket = place('/run/tsgi/app.sock');
    expect(run.argv.join(' ')).toContain(`--socket ${socket}`);
    const main = start(run.argv, { cwd: run.cwd, env: run.env });
    await waitFor(() => {
      if (main.child.exitCode !== null) throw new Error(main.log());
      // The master binds; the socket listens from the first worker's listen(2) on.
      return existsSync(pidFile) && existsSync(socket) && / ready$/m.test(main.log());
    }, 'the pid file, the socket and a worker', 20_000);
    // PIDFile= names the process systemd started: the one ExecReload signals.
    expect(readFileSync(pidFile, 'utf8')).toBe(`${main.child.pid}\n`);
    const st = lstatSync(socket);
    expect([st.isSocket(), st.uid, st.gid, st.mode & 0o777]).toEqual([true, 0, id('-g', USER), 0o660]);
    const nginx = await startNginx('fastcgi.conf', { RUN_DIR: runDir('tsgi-shipped-nginx-'), SOCKET: socket, PLAIN_PORT: String(await freePort()) });
    servers.push(nginx);
    expect(await fetchText(nginx.port, '/a%20b')).toEqual([200, 'text/plain', answer('v1', '', '/a b')]);
    await reload(svc, main.child.pid!, nginx.port);
    await stop(main);
    expect([existsSync(socket), existsSync(pidFile)]).toEqual([false, false]);
  }, 90_000);
});

/** The lines of nginx/NAME's comments that begin `#   $ `, placeholders filled. */
function commands(conf: string, vars: Record<string, string>): string[] {
  const text = readFileSync(join(ROOT, 'nginx', conf), 'utf8');
  return [...text.matchAll(/^#\s+\$ (.+)$/gm)].map((m) => {
    let line = m[1]!;
    for (const [k, v] of Object.entries(vars)) line = line.replaceAll(`@${k}@`, v);
    expect(line).not.toMatch(/@[A-Z_]+@/);
    return place(line);
  });
}

describe.runIf(enabled)('nginx/ as shipped, started as root, its backend started as its comments say', () => {
  for (const [conf, kind] of [['fastcgi.conf', 'fastcgi'], ['uwsgi.conf', 'uwsgi'], ['scgi.conf', 'scgi']] as const) {
    it(`${{ fastcgi: 'F14', uwsgi: 'U8', scgi: 'G4' }[kind]} P9 nginx/${conf}: nginx's workers (www-data) reach tsgi's socket (root:www-data 0660); the app runs as www-data`, async () => {
      writeApp('v1');
      const socket = join(root, 'run', `nginx-${kind}`, 'app.sock');
      const cmds = commands(conf, { SOCKET: socket });
      expect(cmds).toHaveLength(1);
      const tsgi = start(cmds[0]!.split(/\s+/), { cwd: app });
      // The socket exists from the bind, root's until --chown gives it to www-data's group: wait for
      // that group, or nginx's workers may connect in between and answer 502.
      const group = id('-g', USER);
      await waitFor(() => {
        if (tsgi.child.exitCode !== null) throw new Error(tsgi.log());
        return existsSync(socket) && lstatSync(socket).gid === group;
      }, 'the socket, in www-data\'s group');
      const plain = await freePort();
      const nginx = await startNginx(conf, { RUN_DIR: runDir('tsgi-shipped-nginx-'), SOCKET: socket, PLAIN_PORT: String(plain) });
      servers.push(nginx);
      expect(await fetchText(nginx.port, '/p?q=1')).toEqual([200, 'text/plain', answer('v1', '', '/p')]);
      const post = await fetchRaw(nginx.port, 'POST /upload HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/octet-stream', Buffer.alloc(70_000, 7));
      expect([post.status, post.body.toString()]).toEqual([200, answer('v1', '', '/upload', 70_000)]);
      if (kind === 'fastcgi') expect(await fetchText(plain, '/plain')).toEqual([200, 'text/plain', answer('v1', '', '/plain')]);
    }, 60_000);
  }

  it('CGI6 nginx/cgi-fcgiwrap.conf: fcgiwrap started as www-data as the file says, the cgi-bin script of docs/adapters.md runs as www-data', async () => {
    writeApp('v1');
    const cmds = commands('cgi-fcgiwrap.conf', {});
    expect(cmds).toHaveLength(2);
    const made = spawnSync('sh', ['-e', '-c', cmds[0]!], { encoding: 'utf8' });
    expect([made.status, made.stderr]).toEqual([0, '']);
    const wrap = start(cmds[1]!.split(/\s+/));
    const socket = /-s unix:(\S+)/.exec(cmds[1]!)![1]!;
    await waitFor(() => {
      if (wrap.child.exitCode !== null) throw new Error(wrap.log());
      return existsSync(socket);
    }, 'the fcgiwrap socket');
    expect(lstatSync(socket).uid).toBe(id('-u', USER));
    const scripts = join(root, 'srv');
    mkdirSync(join(scripts, 'cgi-bin'), { recursive: true, mode: 0o755 });
    const page = readFileSync(join(ROOT, 'docs/adapters.md'), 'utf8');
    const script = /<!-- recipe: cgi-script -->\n```sh\n([^]*?)\n```\n/.exec(page)![1]!;
    writeFileSync(join(scripts, 'cgi-bin', 'hello'), place(`${script}\n`), { mode: 0o755 });
    checkReadableBy(USER, join(app, 'app.js'));
    const nginx = await startNginx('cgi-fcgiwrap.conf', { RUN_DIR: runDir('tsgi-shipped-nginx-'), SCRIPT_ROOT: scripts, FCGIWRAP_SOCKET: socket });
    servers.push(nginx);
    expect(await fetchText(nginx.port, '/cgi-bin/hello/x')).toEqual([200, 'text/plain', answer('v1', '/cgi-bin/hello', '/x')]);
    expect(await fetchText(nginx.port, '/cgi-bin/hello')).toEqual([200, 'text/plain', answer('v1', '/cgi-bin/hello', '')]);
  }, 60_000);
});

/** examples/env-dump.ts's `KEY = "value"` lines, the string values only. */
async function dumped(port: number, path: string): Promise<Record<string, string>> {
  const r = await get(port, path);
  expect(r.status, r.raw.toString('latin1')).toBe(200);
  const text = r.body.toString('latin1');
  return Object.fromEntries([...text.matchAll(/^([\w.]+) = (".*")$/gm)].map((m) => [m[1]!, JSON.parse(m[2]!) as string]));
}
const split = (env: Record<string, string>): [string | undefined, string | undefined] => [env.SCRIPT_NAME, env.PATH_INFO];
const ENV_DUMP = `${ROOT}/examples/env-dump.ts`;
const EXPRESS = `${ROOT}/examples/express.ts`;
const haveFcgid = existsSync('/usr/lib/apache2/modules/mod_fcgid.so');
if (enabled && !haveFcgid) {
  if (process.env.TSGI_REQUIRE_SERVERS === '1') throw new Error('mod_fcgid is not installed (apt-get install libapache2-mod-fcgid) and TSGI_REQUIRE_SERVERS=1');
  process.stderr.write('\n!!! SKIPPING the mod_fcgid SCRIPT_NAME cases: libapache2-mod-fcgid is not installed\n\n');
}

describe.runIf(enabled)('SCRIPT_NAME and PATH_INFO as each web server sends them (RFC 3875 §4.1.13, §4.1.5)', () => {
  it.runIf(haveFcgid)('F13 C8 B1 Apache mod_fcgid (apache/fcgid.conf): /env.fcgi is SCRIPT_NAME /env.fcgi with PATH_INFO \'\'; an Express app at /app.fcgi answers GET /app.fcgi with its / route', async () => {
    const dir = runDir('tsgi-shipped-fcgid-');
    const fcgi = join(dir, 'fcgi');
    mkdirSync(fcgi, { mode: 0o755 });
    for (const [name, target] of [['env.fcgi', ENV_DUMP], ['app.fcgi', EXPRESS]] as const) {
      writeFileSync(join(fcgi, name), `#!/bin/sh\nexec ${NODE} ${ROOT}/bin/tsgi.cjs fastcgi ${target}\n`, { mode: 0o755 });
      checkReadableBy(USER, target);
    }
    const apache = await startApache('fcgid.conf', { TSGI_RUN_DIR: dir, TSGI_FCGI_DIR: fcgi });
    servers.push(apache);
    const bare = await dumped(apache.port, '/env.fcgi?q=1');
    expect([...split(bare), bare.REQUEST_URI, bare.SCRIPT_FILENAME]).toEqual(['/env.fcgi', '', '/env.fcgi?q=1', join(fcgi, 'env.fcgi')]);
    expect(split(await dumped(apache.port, '/env.fcgi/a/b'))).toEqual(['/env.fcgi', '/a/b']);
    expect(split(await dumped(apache.port, '/env.fcgi/'))).toEqual(['/env.fcgi', '/']);
    expect(await fetchText(apache.port, '/app.fcgi')).toEqual([200, 'text/plain; charset=utf-8', 'Express, served by tsgi.\n']);
    expect(await fetchText(apache.port, '/app.fcgi/')).toEqual([200, 'text/plain; charset=utf-8', 'Express, served by tsgi.\n']);
    expect(await fetchText(apache.port, '/app.fcgi/hello')).toEqual([200, 'text/html; charset=utf-8', 'Hello, world!\n']);
    const info = JSON.parse((await get(apache.port, '/app.fcgi/info?x=1')).body.toString()) as Record<string, unknown>;
    expect([info.url, info.path]).toEqual(['/info?x=1', '/info']);
  }, 60_000);

  it('F13 nginx\'s stock fastcgi_params (nginx/fastcgi.conf) send the whole path as SCRIPT_NAME and no PATH_INFO: it stays the app\'s PATH_INFO', async () => {
    const dir = runDir('tsgi-shipped-fcgi-');
    const socket = join(dir, 'app.sock');
    const tsgi = start([NODE, `${ROOT}/bin/tsgi.cjs`, 'fastcgi', ENV_DUMP, '--socket', socket, '--chmod', '660', '--chown', `root:${USER}`]);
    await waitFor(() => { if (tsgi.child.exitCode !== null) throw new Error(tsgi.log()); return existsSync(socket); }, 'the socket');
    const nginx = await startNginx('fastcgi.conf', { RUN_DIR: dir, SOCKET: socket, PLAIN_PORT: String(await freePort()) });
    servers.push(nginx);
    const env = await dumped(nginx.port, '/app.fcgi?q=1');
    expect([...split(env), env.REQUEST_URI, 'SCRIPT_FILENAME' in env]).toEqual(['', '/app.fcgi', '/app.fcgi?q=1', false]);
    expect(split(await dumped(nginx.port, '/'))).toEqual(['', '/']);
  }, 60_000);

  it('F13 nginx\'s other stock file, /etc/nginx/fastcgi.conf (SCRIPT_FILENAME = $document_root$fastcgi_script_name for every URL, no path split): the whole path stays the app\'s PATH_INFO', async () => {
    const dir = runDir('tsgi-shipped-fcgi-conf-');
    const socket = join(dir, 'app.sock');
    const tsgi = start([NODE, `${ROOT}/bin/tsgi.cjs`, 'fastcgi', ENV_DUMP, '--socket', socket, '--chmod', '660', '--chown', `root:${USER}`]);
    await waitFor(() => { if (tsgi.child.exitCode !== null) throw new Error(tsgi.log()); return existsSync(socket); }, 'the socket');
    // nginx/fastcgi.conf as shipped, but including nginx's fastcgi.conf instead of fastcgi_params.
    const shipped = readFileSync(join(ROOT, 'nginx', 'fastcgi.conf'), 'utf8');
    expect(shipped).toContain('include /etc/nginx/fastcgi_params;');
    const [port, plain] = [await freePort(), await freePort()];
    let conf = shipped.replaceAll('include /etc/nginx/fastcgi_params;', 'include /etc/nginx/fastcgi.conf;');
    for (const [k, v] of Object.entries({ PORT: String(port), PLAIN_PORT: String(plain), RUN_DIR: dir, SOCKET: socket })) conf = conf.replaceAll(`@${k}@`, v);
    writeFileSync(join(dir, 'nginx.conf'), conf);
    // The document root is nginx's default, html under its prefix: a directory a/ and a file app.fcgi in it.
    const html = join(dir, 'html');
    mkdirSync(join(html, 'a'), { recursive: true, mode: 0o755 });
    writeFileSync(join(html, 'app.fcgi'), '');
    const nginx = start([which('nginx')!, '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')]);
    await waitFor(async () => { if (nginx.child.exitCode !== null) throw new Error(nginx.log()); return portOpen(port); }, 'nginx to listen');
    const env = await dumped(port, '/a/b?q=1');
    expect([...split(env), env.REQUEST_URI, env.SCRIPT_FILENAME]).toEqual(['', '/a/b', '/a/b?q=1', join(html, 'a/b')]);
    expect(split(await dumped(port, '/'))).toEqual(['', '/']);
    expect(split(await dumped(port, '/a/'))).toEqual(['', '/a/']);
    expect(split(await dumped(plain, '/a/b'))).toEqual(['', '/a/b']);
    // A URL that names a regular file under the document root names a script, as under fcgiwrap.
    expect(split(await dumped(port, '/app.fcgi'))).toEqual(['/app.fcgi', '']);
  }, 60_000);

  it('F13 Apache mod_proxy_fcgi (apache/proxy-fcgi.conf) sends the whole path as SCRIPT_NAME and a proxy: SCRIPT_FILENAME: it stays the app\'s PATH_INFO', async () => {
    const dir = runDir('tsgi-shipped-proxy-fcgi-');
    const socket = join(dir, 'app.sock');
    const tsgi = start([NODE, `${ROOT}/bin/tsgi.cjs`, 'fastcgi', ENV_DUMP, '--socket', socket, '--chmod', '666']);
    await waitFor(() => { if (tsgi.child.exitCode !== null) throw new Error(tsgi.log()); return existsSync(socket); }, 'the socket');
    const apache = await startApache('proxy-fcgi.conf', { TSGI_RUN_DIR: dir, TSGI_SOCKET: socket });
    servers.push(apache);
    const env = await dumped(apache.port, '/app.fcgi');
    expect([...split(env), env.SCRIPT_FILENAME]).toEqual(['', '/app.fcgi', 'proxy:fcgi://localhost/app.fcgi']);
  }, 60_000);
});
