// The deployment recipes of docs/adapters.md, run as written against Debian's own Apache
// and nginx configuration, with the scripts and the app running as the web
// server's user. Each recipe is taken from docs/adapters.md (the fenced block after
// `<!-- recipe: NAME -->`); only the /srv, /run and /etc/apache2 prefixes are
// moved into a temp dir, and `systemctl reload apache2` is replaced by
// starting that Apache in the foreground.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../integration/http-client.js';
import { freePort, portOpen, ROOT, serversAvailable, waitFor, which, type Running } from '../integration/servers.js';
import { packAndInstall, type Installed } from './install.js';

const USER = 'www-data';
const asRoot = process.getuid?.() === 0;
const haveUser = spawnSync('id', ['-u', USER]).status === 0;
const enabled = asRoot && haveUser && serversAvailable('the deployment recipes of docs/adapters.md', ['nginx', 'apache2', 'a2enmod', 'fcgiwrap', 'runuser']);
if (!asRoot || !haveUser) {
  const why = `the deployment recipes of docs/adapters.md need root and a ${USER} user`;
  if (process.env.TSGI_REQUIRE_SERVERS === '1') throw new Error(`${why}, and TSGI_REQUIRE_SERVERS=1 forbids skipping`);
  process.stderr.write(`\n!!! SKIPPING ${why}\n\n`);
}

/** The page the recipes are taken from. */
const RECIPES = 'docs/adapters.md';

/** The fenced block that follows `<!-- recipe: NAME -->` in docs/adapters.md. */
export function recipe(name: string): string {
  const page = readFileSync(join(ROOT, RECIPES), 'utf8');
  const m = new RegExp(`<!-- recipe: ${name} -->\\n\`\`\`\\w*\\n([^]*?)\\n\`\`\`\\n`).exec(page);
  if (!m) throw new Error(`${RECIPES} has no recipe "${name}"`);
  return `${m[1]}\n`;
}

const id = (flag: string): number => Number(spawnSync('id', [flag, USER], { encoding: 'utf8' }).stdout.trim());

let inst: Installed;
let root: string;
const running: Running[] = [];
const cleanups: Array<() => void> = [];
/** The recipes' paths, moved under the temp dir; the Node under test instead of /usr/bin/node. */
const place = (text: string): string => text
  .replaceAll('/usr/bin/node', process.execPath)
  .replaceAll('/etc/apache2', `${root}/etc/apache2`)
  .replace(/(?<![\w/])\/(srv|run)(?=[/$ ;]|$)/gm, `${root}/$1`);

beforeAll(() => {
  if (!enabled) return;
  inst = packAndInstall('tsgi-deploy-', 'srv/app');
  root = inst.work;
  mkdirSync(join(root, 'run'), { mode: 0o755 });
  // The app reports who runs it: the recipes must run it as the web server's user.
  writeFileSync(join(inst.app, 'app.js'), [
    'export default function app(environ, startResponse) {',
    "  startResponse('200 OK', [['Content-Type', 'text/plain']]);",
    "  return [Buffer.from(`hello from uid ${process.getuid()} at ${environ.SCRIPT_NAME}${environ.PATH_INFO}\\n`, 'latin1')];",
    '}',
    '',
  ].join('\n'));
  const cgiBin = join(root, 'srv/cgi-bin');
  mkdirSync(cgiBin, { recursive: true });
  chmodSync(cgiBin, 0o755);
  for (const [name, text] of [['hello', recipe('cgi-script')], ['hello-runcgi', recipe('cgi-runcgi')]] as const) {
    writeFileSync(join(cgiBin, name), place(text));
    chmodSync(join(cgiBin, name), 0o755);
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(running.map((r) => r.stop()));
  for (const c of cleanups) c();
  if (root) rmSync(root, { recursive: true, force: true });
});

function track(child: ReturnType<typeof spawn>, name: string): Running {
  let output = '';
  child.stdout?.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { output += d.toString(); });
  const r: Running = {
    child, dir: root, log: () => `${name}: ${output}`,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
      setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 5000).unref();
    }),
  };
  running.push(r);
  return r;
}

/** nginx, as Debian runs it (user www-data, its fastcgi_params), with a location block of the recipes. */
async function nginxWith(location: string): Promise<number> {
  const port = await freePort();
  const dir = join(root, `nginx-${port}`);
  mkdirSync(dir);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, [
    `user ${USER};`, 'daemon off;', 'worker_processes 1;', `pid ${dir}/nginx.pid;`, `error_log ${dir}/error.log warn;`,
    'events { worker_connections 64; }',
    'http {', '  access_log off;',
    ...['client_body', 'fastcgi', 'proxy', 'uwsgi', 'scgi'].map((t) => `  ${t === 'client_body' ? t : `${t}_temp`}_path ${dir}/${t}_temp;`.replace('client_body_path', 'client_body_temp_path')),
    `  server {\n    listen 127.0.0.1:${port};\n${place(location).replace(/^/gm, '    ')}  }`,
    '}', '',
  ].join('\n'));
  const child = spawn(which('nginx')!, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], { detached: true });
  const r = track(child, 'nginx');
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(r.log() + readFileSync(join(dir, 'error.log'), 'utf8'));
    return portOpen(port);
  }, 'nginx to listen');
  return port;
}

const get = (port: number, path: string) => fetchRaw(port, `GET ${path} HTTP/1.0\r\nHost: localhost`);
const hello = (uid: number, path: string): RegExp => new RegExp(`^hello from uid ${uid} at ${path}\\n$`);

describe.runIf(enabled)('the deployment recipes of docs/adapters.md, as www-data', () => {
  it('CGI6 Debian\'s Apache (event MPM, mod_cgid) runs both cgi-bin scripts after the recipe\'s a2enconf / a2enmod steps', async () => {
    const etc = join(root, 'etc/apache2');
    mkdirSync(join(root, 'etc'), { recursive: true });
    cpSync('/etc/apache2', etc, { recursive: true, verbatimSymlinks: true });
    const port = await freePort();
    writeFileSync(join(etc, 'ports.conf'), `Listen 127.0.0.1:${port}\n`);
    const runDir = join(root, 'apache-run');
    mkdirSync(join(runDir, 'socks'), { recursive: true }); // what apache2ctl (or Debian's unit) creates
    const env = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C', APACHE_CONFDIR: etc,
      APACHE_RUN_USER: USER, APACHE_RUN_GROUP: USER, APACHE_PID_FILE: join(runDir, 'apache2.pid'), APACHE_RUN_DIR: runDir,
      APACHE_LOCK_DIR: runDir, APACHE_LOG_DIR: runDir,
    };
    const steps = place(recipe('apache-debian')).replace(/^systemctl reload apache2$/m, ': the test starts Apache below');
    const setup = spawnSync('sh', ['-e', '-c', steps], { env, encoding: 'utf8' });
    expect(setup.stderr).toBe('');
    expect(setup.status).toBe(0);
    const child = spawn(which('apache2')!, ['-d', etc, '-f', join(etc, 'apache2.conf'), '-DFOREGROUND'], { detached: true, env });
    const r = track(child, 'apache2');
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(r.log());
      return portOpen(port);
    }, 'Apache to listen');
    const a = await get(port, '/cgi-bin/hello/x');
    const b = await get(port, '/cgi-bin/hello-runcgi/y');
    const errors = readFileSync(join(runDir, 'error.log'), 'utf8');
    expect({ status: a.status, body: a.body.toString() }, errors).toMatchObject({ status: 200, body: expect.stringMatching(hello(id('-u'), '/cgi-bin/hello/x')) });
    expect({ status: b.status, body: b.body.toString() }, errors).toMatchObject({ status: 200, body: expect.stringMatching(hello(id('-u'), '/cgi-bin/hello-runcgi/y')) });
  }, 60_000);

  it('CGI6 nginx + fcgiwrap on Debian\'s socket (/run/fcgiwrap.socket, as its systemd unit sets it up) runs the cgi-bin script as www-data', async () => {
    // What Debian's fcgiwrap.socket and fcgiwrap.service do, read from the units themselves.
    const unit = readFileSync('/lib/systemd/system/fcgiwrap.socket', 'utf8');
    const service = readFileSync('/lib/systemd/system/fcgiwrap.service', 'utf8');
    const setting = (text: string, key: string): string => new RegExp(`^${key}=(.*)$`, 'm').exec(text)![1]!.trim();
    expect(setting(unit, 'ListenStream')).toBe('/run/fcgiwrap.socket');
    const socket = place(setting(unit, 'ListenStream'));
    const listener: Server = createServer();
    await new Promise<void>((resolve) => listener.listen(socket, resolve));
    cleanups.push(() => rmSync(socket, { force: true }));
    chownSync(socket, id('-u'), id('-g'));
    expect(setting(unit, 'SocketUser')).toBe(USER);
    chmodSync(socket, Number.parseInt(setting(unit, 'SocketMode'), 8));
    // The unit hands fcgiwrap the listening socket; fcgiwrap accepts on fd 0 when given one there.
    const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
    const child = spawn('runuser', ['-u', setting(service, 'User'), '--', which('fcgiwrap')!, '-c', '2'], { detached: true, stdio: [fd, 'pipe', 'pipe'] });
    track(child, 'fcgiwrap');
    // This process must stop accepting on it, or it would take some of nginx's
    // connections. Closing a listener unlinks its path: move the path aside meanwhile.
    renameSync(socket, `${socket}.hold`);
    await new Promise<void>((resolve) => listener.close(() => resolve()));
    renameSync(`${socket}.hold`, socket);
    const port = await nginxWith(recipe('nginx-fcgiwrap'));
    const r = await get(port, '/cgi-bin/hello/z');
    expect({ status: r.status, body: r.body.toString() }).toMatchObject({ status: 200, body: expect.stringMatching(hello(id('-u'), '/cgi-bin/hello/z')) });
    const r2 = await get(port, '/cgi-bin/hello-runcgi/');
    expect({ status: r2.status, body: r2.body.toString() }).toMatchObject({ status: 200, body: expect.stringMatching(hello(id('-u'), '/cgi-bin/hello-runcgi/')) });
  }, 60_000);

  it('S5 tsgi fastcgi on /run/tsgi/app.sock --chmod 660, started as docs/adapters.md says, is reachable by nginx\'s user', async () => {
    const sh = spawn('sh', ['-e', '-c', `${place(recipe('fastcgi-socket'))}wait\n`], { detached: true, env: { PATH: process.env.PATH ?? '' } });
    const r = track(sh, 'tsgi fastcgi');
    const socket = join(root, 'run/tsgi/app.sock');
    await waitFor(() => {
      if (sh.exitCode !== null) throw new Error(r.log());
      return spawnSync('test', ['-S', socket]).status === 0;
    }, 'the FastCGI socket', 20_000);
    const port = await nginxWith(recipe('nginx-fastcgi'));
    const res = await get(port, '/some/path');
    expect({ status: res.status, body: res.body.toString() }).toMatchObject({ status: 200, body: expect.stringMatching(hello(id('-u'), '/some/path')) });
  }, 60_000);
});
