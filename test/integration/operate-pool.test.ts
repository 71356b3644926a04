// O1–O3 with real processes: a master with --workers 2, real requests, its
// /metrics scraped over HTTP (exact counts by status class, kept across a
// SIGHUP reload and a killed worker), `tsgi status` (text and --json),
// `tsgi reload`, `tsgi scale N`, `tsgi stop` run as the CLI on the control
// socket (mode 0600), raw requests on that socket, and hostile reports of
// counts from a worker (P13).
import { execFile } from 'node:child_process';
import { lstatSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../timing.js';
import { ROOT, freePort } from './servers.js';
import { BIN, NODE, alive, httpGet, startTsgi, stopAll, type TsgiProcess } from './tsgi-process.js';
import { cleanDirs, connectAsNobody, requireRoot, tempDir as rootDir } from '../server/root-helpers.js';

afterEach(stopAll);
const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const APP = join(ROOT, 'test/fixtures/metrics-app.js');
const HOSTILE = join(ROOT, 'test/fixtures/hostile-worker-app.js');

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tsgi-ops-'));
  dirs.push(d);
  return d;
}

/** `tsgi ARGS` (the CLI as a user runs it): exit code and both outputs. */
function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(NODE, [BIN, ...args], { env: { PATH: process.env.PATH ?? '' } }, (err, out, errText) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, out, err: errText });
    });
  });
}

/** A request with a method and a body. */
async function request(port: number, path: string, method = 'GET', body?: string): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method, ...(body !== undefined ? { body } : {}) });
  await r.arrayBuffer();
  return r.status;
}

/** Scrapes /metrics: every sample, by its series (name and labels as written). */
async function scrape(port: number): Promise<Map<string, number>> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  const out = new Map<string, number>();
  for (const line of (await r.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

const cls = (m: Map<string, number>, c: string): number | undefined => m.get(`tsgi_requests_total{class="${c}"}`);

async function pool(extra: string[] = [], env: Record<string, string> = {}): Promise<{ t: TsgiProcess; port: number; mport: number; dir: string; ctl: string }> {
  const dir = tempDir();
  const port = await freePort();
  const mport = await freePort();
  const t = startTsgi(['http', APP, '--port', String(port), '--workers', '2', '--pid', join(dir, 'app.pid'), '--metrics', `127.0.0.1:${mport}`,
    '--graceful-timeout', '2', ...extra], { env });
  await t.waitLog(/\) ready/, 'two workers', 2);
  return { t, port, mport, dir, ctl: join(dir, 'app.ctl') };
}

/** One request on the control socket, as raw bytes; the reply line. */
function raw(path: string, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => s.write(bytes));
    let got = '';
    s.on('data', (d: Buffer) => { got += d.toString(); });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

describe('O1 /metrics aggregates the whole pool', () => {
  it('O1 exact counts by status class, bytes and durations from every worker; monotonic across a SIGHUP reload and a killed worker', async () => {
    const { t, port, mport } = await pool();
    const seen: Map<string, number>[] = [];
    const look = async (): Promise<Map<string, number>> => { const m = await scrape(mport); seen.push(m); return m; };

    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push(await request(port, '/'));
    for (let i = 0; i < 3; i++) statuses.push(await request(port, '/status/404'));
    for (let i = 0; i < 2; i++) statuses.push(await request(port, '/status/500'));
    statuses.push(await request(port, '/status/302'));
    statuses.push(await request(port, '/upload', 'POST', '0123456789'));
    expect(statuses).toEqual([200, 200, 200, 200, 200, 404, 404, 404, 500, 500, 302, 200]);

    const m = await look();
    expect(cls(m, '2xx')).toBe(6);
    expect(cls(m, '3xx')).toBe(1);
    expect(cls(m, '4xx')).toBe(3);
    expect(cls(m, '5xx')).toBe(2);
    expect(cls(m, '1xx')).toBe(0);
    expect(m.get('tsgi_request_duration_seconds_count')).toBe(12);
    expect(m.get('tsgi_request_duration_seconds_bucket{le="+Inf"}')).toBe(12);
    expect(m.get('tsgi_request_body_bytes_total')).toBe(10);
    expect(m.get('tsgi_response_body_bytes_total')).toBe(36);
    expect(m.get('tsgi_requests_in_flight')).toBe(0);
    expect(m.get('tsgi_worker_starts_total')).toBe(2);
    expect(m.get('tsgi_workers{state="ready"}')).toBe(2);
    expect(m.get('tsgi_pool_generation')).toBe(1);
    // Per worker, labelled by pid: the two workers' counts add up to the pool's.
    const pids = t.readyPids();
    let perWorker = 0;
    for (const pid of pids) {
      // Each worker's series carry its number, pid and generation.
      const key = [...m.keys()].find((k) => k.startsWith('tsgi_worker_requests_total{') && k.includes(`,pid="${pid}",generation="1",class="2xx"`))!;
      expect(key).toMatch(/^tsgi_worker_requests_total\{worker="[12]",pid="\d+",generation="1",class="2xx"\}$/);
      perWorker += m.get(key)!;
      const labels = key.slice(key.indexOf('{'), key.indexOf(',class='));
      expect(m.get(`tsgi_worker_resident_memory_bytes${labels}}`)).toBeGreaterThan(1e6);
      const elu = m.get(`tsgi_worker_event_loop_utilization${labels}}`)!;
      expect(elu).toBeGreaterThanOrEqual(0);
      expect(elu).toBeLessThanOrEqual(1);
    }
    expect(perWorker).toBe(6);

    // A reload: the old generation's counts stay in the pool's totals.
    t.child.kill('SIGHUP');
    await t.waitLog(/generation 2 serving/, 'the reload');
    await waitUntil(async () => (await look()).get('tsgi_worker_deaths_total{cause="reload"}') === 2, 'the old generation to exit', 30_000, 100);
    const after = await look();
    expect(cls(after, '2xx')).toBe(6);
    expect(cls(after, '4xx')).toBe(3);
    expect(after.get('tsgi_pool_generation')).toBe(2);
    expect(after.get('tsgi_worker_starts_total')).toBe(4);

    for (let i = 0; i < 2; i++) expect(await request(port, '/')).toBe(200);
    expect(cls(await look(), '2xx')).toBe(8);

    // A worker killed outright: what it had reported stays counted; its death is a crash.
    const victim = t.readyPids().at(-1)!;
    process.kill(victim, 'SIGKILL');
    await t.waitLog(/\) ready/, 'its replacement', 5);
    await waitUntil(async () => (await look()).get('tsgi_worker_deaths_total{cause="crash"}') === 1, 'the death to be counted', 10_000, 100);
    const last = await look();
    expect(cls(last, '2xx')).toBe(8);
    expect(cls(last, '5xx')).toBe(2);
    expect(last.get('tsgi_worker_starts_total')).toBe(5);

    // Requests and at once a reload, no scrape between: the retiring workers' last reports still count, once.
    for (let i = 0; i < 3; i++) expect(await request(port, '/status/404')).toBe(404);
    t.child.kill('SIGHUP');
    await t.waitLog(/generation 3 serving/, 'the second reload');
    await waitUntil(async () => (await look()).get('tsgi_worker_deaths_total{cause="reload"}') === 4, 'generation 2 to exit', 30_000, 100);
    const third = await look();
    expect([cls(third, '2xx'), cls(third, '4xx'), cls(third, '5xx')]).toEqual([8, 6, 2]);

    // Never back, between any two scrapes.
    for (let i = 1; i < seen.length; i++) {
      for (const c of ['2xx', '3xx', '4xx', '5xx']) expect(cls(seen[i]!, c)!).toBeGreaterThanOrEqual(cls(seen[i - 1]!, c)!);
      expect(seen[i]!.get('tsgi_request_duration_seconds_count')!).toBeGreaterThanOrEqual(seen[i - 1]!.get('tsgi_request_duration_seconds_count')!);
    }
    expect(t.child.exitCode).toBe(null);
    expect(await t.stop()).toBe(0);
  });

  it('O1 only GET/HEAD /metrics; a malformed --metrics is a usage error (exit 2)', async () => {
    const { t, mport } = await pool();
    expect((await fetch(`http://127.0.0.1:${mport}/other`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${mport}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405);
    expect(await t.stop()).toBe(0);
    const bad = startTsgi(['http', APP, '--port', String(await freePort()), '--metrics', 'nowhere']);
    expect(await bad.exited).toBe(2);
    expect(bad.log()).toMatch(/--metrics nowhere: expected HOST:PORT, :PORT or the path of a unix socket/);
  });
});

describe('O2 O3 the control socket', () => {
  it('O2 tsgi status (text and --json): generation, per worker pid, state, requests, in-flight requests with method, path and age, RSS, event loop; the socket is mode 0600', async () => {
    const { t, port, dir, ctl } = await pool();
    const st = lstatSync(ctl);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    for (let i = 0; i < 4; i++) await request(port, '/status/404');
    const slowOne = fetch(`http://127.0.0.1:${port}/slow?60000`).catch(() => null);

    let json: Record<string, unknown> = {};
    await waitUntil(async () => {
      const r = await cli(['status', '--pid', join(dir, 'app.pid'), '--json']);
      expect(r.code).toBe(0);
      json = JSON.parse(r.out) as Record<string, unknown>;
      return (json.workers as { inFlight: number }[]).some((w) => w.inFlight === 1);
    }, 'the slow request in flight', 10_000, 100);
    const master = json.master as Record<string, unknown>;
    expect(master.pid).toBe(t.child.pid);
    expect(master.generation).toBe(1);
    expect(master.target).toBe(2);
    expect(json.requests).toEqual({ '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 4, '5xx': 0, other: 0 });
    const workers = json.workers as Record<string, unknown>[];
    expect(workers.map((w) => w.pid).sort()).toEqual(t.readyPids().sort());
    expect(workers.map((w) => [w.id, w.generation, w.state])).toEqual([[1, 1, 'ready'], [2, 1, 'ready']]);
    expect(workers.reduce((n, w) => n + (w.requests as number), 0)).toBe(4);
    const busy = workers.find((w) => w.inFlight === 1)!;
    const [flight] = busy.requestsInFlight as { method: string; path: string; age: number }[];
    expect(flight!.method).toBe('GET');
    expect(flight!.path).toBe('/slow?60000');
    expect(flight!.age).toBeGreaterThanOrEqual(0);
    for (const w of workers) {
      expect(w.rss).toBeGreaterThan(1e6);
      expect(w.elu).toBeGreaterThanOrEqual(0);
      expect(w.elu).toBeLessThanOrEqual(1);
    }

    const text = await cli(['status', '--control', ctl]);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(new RegExp(`^master pid ${t.child.pid}, up \\d+ s, generation 1\\nworkers: 2 \\(target 2, max \\d+\\)\\nrequests: 1xx 0, 2xx 0, 3xx 0, 4xx 4, 5xx 0, other 0\\n`));
    expect(text.out).toMatch(/WORKER +PID +GEN +STATE +REQUESTS +IN FLIGHT +RSS +EVENT LOOP/);
    expect(text.out).toMatch(/\n {4}GET \/slow\?60000 \(running \d+\.\d s\)\n/);
    void slowOne;
    expect(await t.stop()).toBe(0);
    expect(existsSync(ctl)).toBe(false);
  });

  it('O3 tsgi reload, scale N and stop act through the socket and say what happened', async () => {
    const marker = join(tempDir(), 'broken');
    const { t, dir, ctl } = await pool([], { TSGI_TEST_BROKEN: marker });
    const pid = ['--pid', join(dir, 'app.pid')];
    const reload = await cli(['reload', ...pid]);
    expect(reload).toMatchObject({ code: 0, out: 'reloaded: generation 2 serving (2 workers)\n' });

    const up = await cli(['scale', '3', ...pid]);
    expect(up).toMatchObject({ code: 0, out: '3 workers ready (generation 2)\n' });
    const s3 = JSON.parse((await cli(['status', '--json', ...pid])).out) as { workers: { state: string; generation: number }[] };
    expect(s3.workers.filter((w) => w.state === 'ready' && w.generation === 2).length).toBe(3);
    const down = await cli(['scale', '1', ...pid]);
    expect(down).toMatchObject({ code: 0, out: '1 worker ready (generation 2)\n' });
    const over = await cli(['scale', '1000', ...pid]);
    expect(over.code).toBe(1);
    expect(over.err).toMatch(/^tsgi scale: 1000 is more than --max-workers \d+\n$/);

    // A reload whose app fails to boot: said, exit 1, the old generation serves on.
    writeFileSync(marker, '');
    const failed = await cli(['reload', ...pid]);
    expect(failed.code).toBe(1);
    expect(failed.err).toBe('tsgi reload: reload failed: generation 2 keeps serving (the master\'s error log says why)\n');

    // The protocol: bounded, one JSON line, unknown commands answered with an error.
    expect(JSON.parse(await raw(ctl, '{"cmd":"own-the-master"}\n'))).toEqual({ ok: false, error: 'unknown command "own-the-master": expected status, reload, stop or scale' });
    expect(JSON.parse(await raw(ctl, 'not json\n'))).toEqual({ ok: false, error: 'a request is one line of JSON: {"cmd":"status"}' });
    expect(JSON.parse(await raw(ctl, Buffer.alloc(5000, 0x61)))).toEqual({ ok: false, error: 'a request longer than 4096 bytes' });
    expect(JSON.parse(await raw(ctl, '{"cmd":"scale","n":-1}\n'))).toEqual({ ok: false, error: 'scale needs a number of workers, 1 or more' });
    expect(JSON.parse(await raw(ctl, '{"cmd":{"toString":1},"n":{"toString":1}}\n'))).toEqual({ ok: false, error: 'unknown command of type object: expected status, reload, stop or scale' });
    expect(JSON.parse(await raw(ctl, '{"cmd":"scale","n":{"toString":1}}\n'))).toEqual({ ok: false, error: 'scale needs a number of workers, 1 or more' });

    const stop = await cli(['stop', ...pid]);
    expect(stop.code).toBe(0);
    expect(stop.out).toMatch(new RegExp(`^stopping: master ${t.child.pid} and \\d worker\\(s\\) finish their requests \\(up to 2 s\\)\\nstopped\\n$`));
    expect(await t.exited).toBe(0);
    expect(alive(t.child.pid!)).toBe(false);
    expect(existsSync(ctl)).toBe(false);
    expect(existsSync(join(dir, 'app.pid'))).toBe(false);
  });

  it('O3 the client says which master it could not reach (exit 1), and asks for one when given none (exit 2)', async () => {
    const none = await cli(['status']);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/^tsgi: which master\? give --control PATH, or the --pid, --socket or --config it was started with\n/);
    const gone = await cli(['reload', '--control', join(tempDir(), 'x.ctl')]);
    expect(gone.code).toBe(1);
    expect(gone.err).toMatch(/^tsgi reload: no master answers on .*x\.ctl \(ENOENT\)/);
    const badN = await cli(['scale', 'many', '--control', '/x']);
    expect(badN.code).toBe(2);
    // A control socket path too long for a unix socket: one line, exit 2, from check and start alike.
    const long = join(tempDir(), `${'a'.repeat(120)}.ctl`);
    for (const cmd of [['check', 'http'], ['http']]) {
      const r = await cli([...cmd, APP, '--port', String(await freePort()), '--workers', '1', '--control', long]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^tsgi: --control \/.*\.ctl: \d+ bytes, longer than a unix socket path may be \(107 bytes here\); choose a shorter path\n$/);
    }
  });
});

describe('P13 O1 a worker that lies in its reports is replaced', () => {
  for (const [path, said] of [
    ['/ipc-stats-malformed', /sent a malformed stats report: .*; replacing it/],
    ['/ipc-stats-flight', /sent a stats report with a malformed in-flight list: .*; replacing it/],
    ['/ipc-stats-back', /sent a stats report whose counters went back: .*; replacing it/],
  ] as const) {
    it(`P13 O1 ${path}: logged, the worker replaced, the master and its counts live on`, async () => {
      const port = await freePort();
      const mport = await freePort();
      const t = startTsgi(['http', HOSTILE, '--port', String(port), '--workers', '1', '--metrics', `127.0.0.1:${mport}`]);
      await t.waitLog(/\) ready/, 'the worker');
      expect((await httpGet(port, '/')).status).toBe(200);
      expect(cls(await scrape(mport), '2xx')).toBe(1);
      await httpGet(port, path);
      await t.waitLog(said, `the master to refuse ${path}`);
      await t.waitLog(/\) ready/, 'the replacement', 2);
      await waitUntil(async () => (await scrape(mport)).get('tsgi_worker_deaths_total{cause="untrusted"}') === 1, 'the death to be counted', 10_000, 100);
      expect(cls(await scrape(mport), '2xx')).toBeGreaterThanOrEqual(1);
      expect(t.child.exitCode).toBe(null);
      expect(t.log()).not.toMatch(/uncaught exception/);
      expect(await t.stop()).toBe(0);
    });
  }
});

describe.runIf(requireRoot('operate-pool.test.ts (its root part)'))('O2 P12 who may use the control socket, started as root', () => {
  it('O2 P12 the socket is root\'s, mode 0600: the workers\' user (nobody) cannot connect, root can', async () => {
    const dir = rootDir();
    const port = await freePort();
    const t = startTsgi(['http', APP, '--port', String(port), '--workers', '1', '--user', 'nobody', '--group', 'nogroup', '--pid', join(dir, 'app.pid')]);
    await t.waitLog(/\) ready/, 'the worker');
    const ctl = join(dir, 'app.ctl');
    const st = lstatSync(ctl);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([0, 0, 0o600]);
    expect(await connectAsNobody(ctl)).toBe('EACCES');
    const r = await cli(['status', '--json', '--control', ctl]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as { workers: unknown[] }).workers.length).toBe(1);
    expect(await t.stop()).toBe(0);
    cleanDirs();
  });
});
