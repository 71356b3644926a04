// O4 and O6 over real processes: the stack of a worker stuck in a synchronous
// loop, the slow log, and a worker recycled past --max-memory behind a real nginx.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, freePort, runDir, serversAvailable, startNginx, type Running } from './servers.js';
import { WORKER_APP, httpGet, startTsgi, stopAll, wrk } from './tsgi-process.js';

const OPS_APP = join(ROOT, 'test/fixtures/ops-app.js');

afterEach(stopAll);

describe('O4 the JavaScript stack of a worker', () => {
  it('O4 a worker stuck in a synchronous loop: its stack is logged before the --timeout kill', async () => {
    const port = await freePort();
    const t = startTsgi(['http', WORKER_APP, '--port', String(port), '--workers', '1', '--timeout', '1']);
    await t.waitLog(/ready/, 'worker');
    const hung = httpGet(port, '/hang');
    await t.waitLog(/ready/, 'the replacement', 2);
    expect((await hung).status).toBe(0);
    const log = t.log();
    // The stuck frame itself: the for (;;) on line 11 of the fixture, then the server's frames below it.
    const stack = /its event loop is stuck; killing it; it was running: GET \/hang \(running [\d.]+ s\); its stack:\n {4}at app \(file:\/\/\S*worker-app\.js:11:\d+\)\n/.exec(log);
    expect(stack, log).not.toBeNull();
    expect(log.indexOf('killed by SIGKILL (timeout)')).toBeGreaterThan(stack!.index);
    expect((await httpGet(port, '/')).status).toBe(200);
  });

  it('O4 --slow-log: a request running longer is logged once, with method, path, age and stack; a quick one is not', async () => {
    const port = await freePort();
    const t = startTsgi(['http', WORKER_APP, '--port', String(port), '--workers', '1', '--slow-log', '0.3']);
    await t.waitLog(/ready/, 'worker');
    expect((await httpGet(port, '/quick')).status).toBe(200);
    // 3 s past the limit: about ten looks at the in-flight board, each a chance to log it again.
    expect(await httpGet(port, '/slow?3300')).toEqual({ status: 200, text: 'slow done\n' });
    await t.waitLog(/"GET \/slow\?3300 HTTP\/1.1" 200/, 'the access line of /slow');
    const lines = t.log().split('\n');
    const slow = lines.filter((l) => l.includes('slow request (--slow-log 0.3): GET /slow?3300 (running'));
    expect(slow).toHaveLength(1);
    expect(slow[0]).toMatch(/\(running 0\.[3-9] s\) on worker 1 \(pid \d+, generation 1\); its stack:$/);
    // The request waits in a timer: the stack is the event loop's (the worker is not stuck), one indented frame at least.
    expect(lines[lines.indexOf(slow[0]!) + 1]).toMatch(/^ {4}at /);
    expect(t.log()).not.toMatch(/slow request.*\/quick/);
  });

  it('O4 a newline or control byte in the path cannot forge a log line (H4)', async () => {
    const port = await freePort();
    const t = startTsgi(['http', OPS_APP, '--port', String(port), '--workers', '1', '--slow-log', '0.2']);
    await t.waitLog(/ready/, 'worker');
    expect((await httpGet(port, '/sleep%0A2026-01-01T00:00:00.000Z%20tsgi[1]%20error:%20forged%1b[2J')).status).toBe(200);
    await t.waitLog(/slow request/, 'the slow line');
    expect(t.log()).not.toMatch(/^2026-01-01T00:00:00.000Z tsgi\[1\] error: forged/m);
    expect(t.log()).not.toContain('\x1b');
  });
});

const haveServers = serversAvailable('O6 --max-memory (nginx, wrk)', ['nginx', 'wrk']);

describe.skipIf(!haveServers)('O6 --max-memory behind a real nginx', () => {
  let dir: string;
  let nginx: (Running & { port: number }) | undefined;
  beforeAll(() => { dir = runDir('tsgi-mem-'); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => { await nginx?.stop(); nginx = undefined; });

  it('O6 a worker past --max-memory is replaced gracefully: no request fails under load, and the log says why', async () => {
    const socket = join(dir, 'app.sock');
    const t = startTsgi(['fastcgi', OPS_APP, '--socket', socket, '--chmod', '666', '--workers', '1', '--max-memory', '128']);
    await t.waitLog(/ready/, 'worker');
    nginx = await startNginx('fastcgi.conf', { RUN_DIR: dir, SOCKET: socket, PLAIN_PORT: String(await freePort()) });
    const first = t.readyPids()[0]!;
    const load = wrk(nginx.port, 6);
    expect((await httpGet(nginx.port, '/grow')).status).toBe(200);
    await t.waitLog(new RegExp(`pid ${first}, generation 1\\) uses \\d+ MiB \\(--max-memory 128\\): replacing it`), 'the recycle');
    await t.waitLog(new RegExp(`pid ${first}, generation 1\\) exited with status 0 \\(max-memory\\)`), 'the old worker to retire');
    const r = await load;
    expect(r.requests).toBeGreaterThan(0);
    expect({ non2xx: r.non2xx, socketErrors: r.socketErrors }).toEqual({ non2xx: 0, socketErrors: 0 });
    expect((await httpGet(nginx.port, '/')).text).not.toBe(`pid ${first}\n`);
  });
});
