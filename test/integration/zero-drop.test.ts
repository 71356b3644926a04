// P11 zero drop: a master behind a real nginx with keepalive upstream
// connections, under wrk POSTing 2 KB bodies, loses no request to a reload
// (SIGHUP), a recycle (--max-requests), a scale-down (SIGTTOU) or a graceful
// stop: no non-2xx answer, and nginx logs no "upstream prematurely closed
// connection". For FastCGI (fastcgi_keep_conn), uwsgi and SCGI (G5; one
// request per connection) and the dev HTTP server behind proxy_pass keepalive.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runDir, serversAvailable, type Running } from './servers.js';
import { WORKER_APP, sleep, startTsgi, stopAll } from './tsgi-process.js';
import { postLoad, startFront, upstreamErrors, type Front, type Proto } from './zero-drop-harness.js';
import { SLOWNESS } from '../timing.js';

afterEach(stopAll);

const haveServers = serversAvailable('zero-drop suite (nginx, wrk)', ['nginx', 'wrk']);

// Each test runs seconds of wrk load and several reloads, beside another test file on two cores:
// more time than the default, scaled like every other wait (TSGI_TEST_SLOWNESS).
describe.skipIf(!haveServers)('P11 zero drop behind nginx keepalive upstreams', { timeout: 90_000 * SLOWNESS }, () => {
  let dir: string;
  let front: (Running & Front) | undefined;
  beforeAll(() => { dir = runDir('tsgi-zero-'); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => { await front?.stop(); front = undefined; });

  const start = async (proto: Proto, extra: string[]) => {
    const socket = join(dir, `${proto}.sock`);
    const port = await freePort();
    const listen = proto === 'http' ? ['--port', String(port)] : ['--socket', socket, '--chmod', '666'];
    const t = startTsgi([proto, WORKER_APP, ...listen, '--log-level', 'debug', ...extra]);
    await t.waitLog(/\) ready/, 'workers ready', Number(extra[extra.indexOf('--workers') + 1]));
    front = await startFront(proto, dir, proto === 'http' ? `127.0.0.1:${port}` : `unix:${socket}`);
    return t;
  };

  for (const proto of ['fastcgi', 'uwsgi', 'scgi', 'http'] as const) {
    it(`${proto === 'scgi' ? 'G5 ' : ''}P11 P3 ${proto}: four SIGHUP reloads under POST load: every answer a 200, nothing closed under nginx`, async () => {
      const t = await start(proto, ['--workers', '2']);
      const load = postLoad(front!.port, 7);
      for (let i = 1; i <= 4; i++) {
        await sleep(1200);
        t.child.kill('SIGHUP');
        await t.waitLog(/reload: generation \d+ serving/, `reload ${i}`, i);
      }
      const r = await load;
      expect(r.requests).toBeGreaterThan(500);
      expect({ non2xx: r.non2xx, socketErrors: r.socketErrors, upstream: upstreamErrors(front!.log()) }, r.output)
        .toEqual({ non2xx: 0, socketErrors: 0, upstream: [] });
      // The old generations retired, and (keepalive protocols) handed their idle connections over.
      await t.waitLog(/\(reload\)$/, 'the old generations to exit', 8);
      // (uwsgi and SCGI have nothing kept alive to hand over: only a connection whose request had not arrived.)
      if (proto !== 'uwsgi' && proto !== 'scgi') expect(t.log()).toMatch(/(FastCGI|HTTP): connection handed over/);
      expect(await t.stop()).toBe(0);
    });

    it(`${proto === 'scgi' ? 'G5 ' : ''}P11 P5 ${proto}: --max-requests 50 under POST load: every answer a 200, nothing closed under nginx`, async () => {
      const t = await start(proto, ['--workers', '2', '--max-requests', '50', '--max-requests-jitter', '10']);
      const r = await postLoad(front!.port, 4);
      expect(r.requests).toBeGreaterThan(500);
      expect({ non2xx: r.non2xx, socketErrors: r.socketErrors, upstream: upstreamErrors(front!.log()) }, r.output)
        .toEqual({ non2xx: 0, socketErrors: 0, upstream: [] });
      // A worker's replacement is logged once it has handed over and exited, which may be after the load ends.
      await t.waitLog(/\(--max-requests\): replacing it/, 'five workers recycled', 5);
      expect(t.log().split('(--max-requests): replacing it').length - 1).toBeGreaterThanOrEqual(5);
    });
  }

  it('P11 fastcgi: SIGTTIN then SIGTTOU under POST load loses nothing', async () => {
    const t = await start('fastcgi', ['--workers', '2']);
    const load = postLoad(front!.port, 5);
    await sleep(1000);
    t.child.kill('SIGTTIN');
    await t.waitLog(/\) ready/, 'the third worker', 3);
    await sleep(1000);
    t.child.kill('SIGTTOU');
    await t.waitLog(/\(SIGTTOU\)/, 'the retired worker');
    await sleep(500);
    t.child.kill('SIGTTOU');
    await t.waitLog(/\(SIGTTOU\)/, 'the second retired worker', 2);
    const r = await load;
    expect({ non2xx: r.non2xx, socketErrors: r.socketErrors, upstream: upstreamErrors(front!.log()) }, r.output)
      .toEqual({ non2xx: 0, socketErrors: 0, upstream: [] });
  });

  for (const proto of ['fastcgi', 'http'] as const) {
    it(`P11 P4 ${proto}: a graceful stop under POST load closes no kept connection under nginx`, async () => {
      const t = await start(proto, ['--workers', '2', '--graceful-timeout', '20']);
      const load = postLoad(front!.port, 4);
      await sleep(1500);
      t.child.kill('SIGTERM');
      // New connections are refused at once (nginx answers those 502 "connect() failed", and could
      // try another backend); what nginx writes into a kept connection is answered.
      const r = await load;
      expect(r.requests).toBeGreaterThan(100);
      expect(upstreamErrors(front!.log()).filter((l) => !/connect\(\) (to \S+ )?failed/.test(l)), front!.log()).toEqual([]);
      expect(await t.exited).toBe(0);
    });
  }
});
