// O5 with real processes: `--workers 1:3` grows under load held in flight and
// shrinks back to one worker after --idle-timeout, with every request answered
// (a shrink retires a worker the graceful way, handing its connections on:
// P11); and the command line's checks of MIN:MAX (exit 2).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../timing.js';
import { ROOT, freePort } from './servers.js';
import { BIN, NODE, startTsgi, stopAll } from './tsgi-process.js';

afterEach(stopAll);
const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const APP = join(ROOT, 'test/fixtures/hold-app.js');

/** `tsgi ARGS`: exit code and both outputs. */
function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(NODE, [BIN, ...args], { env: { PATH: process.env.PATH ?? '' } }, (err, out, errText) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, out, err: errText });
    });
  });
}

describe('adaptive pool (--workers MIN:MAX)', () => {
  it('O5 --workers 1:3 grows under held load, then shrinks back to 1 after --idle-timeout with no request failed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-scale-'));
    dirs.push(dir);
    const release = join(dir, 'release');
    const port = await freePort();
    const t = startTsgi(['http', APP, '--port', String(port), '--workers', '1:3', '--idle-timeout', '1', '--graceful-timeout', '5', '--pid', join(dir, 'app.pid')],
      { env: { TSGI_TEST_RELEASE: release } });
    await t.waitLog(/\) ready/, 'the first worker');
    const statuses: (number | string)[] = [];
    const get = async (path: string): Promise<void> => {
      try {
        const r = await fetch(`http://127.0.0.1:${port}${path}`);
        await r.arrayBuffer();
        statuses.push(r.status);
      } catch (err) {
        statuses.push(String((err as Error).cause ?? err));
      }
    };
    // Twelve requests held in flight on the one worker: the pool is busy for as long as they are.
    const held = Array.from({ length: 12 }, () => get('/hold'));
    await t.waitLog(/autoscale: .*requests in flight per worker for .*: from 1 to 2 workers/, 'the pool to grow');
    await t.waitLog(/\) ready/, 'the second worker', 2);
    // Quick requests keep running (keep-alive connections) through the release and the shrink.
    let steady = true;
    const traffic = (async () => { while (steady) await get('/'); })();
    writeFileSync(release, '');
    await Promise.all(held);
    await waitUntil(() => / to 1 workers$/m.test(t.log()), `the pool to shrink back to one worker\n${t.log()}`, 30_000);
    steady = false;
    await traffic;
    const lines = t.log().split('\n').filter((l) => l.includes('autoscale:'));
    // Every decision is one line with its reason; the last one lands on MIN.
    for (const l of lines) expect(l).toMatch(/autoscale: event-loop utilization \d\.\d\d, \d+\.\d requests in flight per worker for \d+\.\d s.*: from \d to \d workers$/);
    expect(lines.at(-1)).toMatch(/--idle-timeout 1\): from 2 to 1 workers$/);
    expect(statuses.length).toBeGreaterThan(12);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const status = await cli(['status', '--pid', join(dir, 'app.pid')]);
    expect(status.out).toMatch(/^workers: 1 \(target 1, adapting within 1:3, max \d+\)$/m);
    expect(await t.stop()).toBe(0);
  });

  it('O5 MIN:MAX is checked before anything starts: MIN above MAX, MAX above --max-workers, malformed, MIN 0', async () => {
    const cases: [string[], RegExp][] = [
      [['--workers', '4:2'], /--workers 4:2: expected .*MIN:MAX with MIN at most MAX/],
      [['--workers', '2:8', '--max-workers', '4'], /--workers 2:8 is more than --max-workers 4/],
      [['--workers', '2:x'], /--workers 2:x: expected a number of workers \(1 or more\), auto or MIN:MAX/],
      [['--workers', '0:4'], /--workers 0:4: workers started on demand \(MIN 0\) are not supported; give MIN 1 or more/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(['http', APP, '--port', '0', ...args]);
      expect(r.err).toMatch(re);
      expect(r.code).toBe(2);
    }
    const ok = await cli(['check', 'http', APP, '--workers', '2:5', '--idle-timeout', '10']);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^workers: 2:5$/m);
    expect(ok.out).toMatch(/^idle-timeout: 10$/m);
  });
});
