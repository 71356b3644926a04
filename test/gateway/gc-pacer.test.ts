// R3/R4: a body streaming through the process leaves dead buffers at the rate
// it flows; the gateway asks V8 for a young-generation collection after every
// pace of buffer bytes, so they do not pile up between V8's own collections.
// The memory figure under real nginx is `npm run bench:memory`'s; these check
// the mechanism, and that nothing process-wide happens unless asked.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { paceBuffers, setGcPace } from '../../src/gateway/gc-pacer.js';
import { freePort } from '../integration/servers.js';
import { startTsgi } from '../integration/tsgi-process.js';

const LOAD = new URL('../../lib/load.cjs', import.meta.url).pathname;
const MiB = 1024 * 1024;

describe('gc pacer', () => {
  afterEach(() => {
    delete (globalThis as { gc?: unknown }).gc;
  });

  it('R4 one young-generation collection per pace of buffer bytes, none when off', () => {
    const calls: unknown[] = [];
    (globalThis as { gc?: unknown }).gc = (o: unknown) => { calls.push(o); };
    setGcPace(1000);
    paceBuffers(600);
    expect(calls).toEqual([]);
    paceBuffers(600);
    expect(calls).toEqual([{ type: 'minor' }]);
    paceBuffers(999);
    expect(calls).toHaveLength(1);
    paceBuffers(1);
    expect(calls).toHaveLength(2);
    setGcPace(0);
    paceBuffers(1e12);
    expect(calls).toHaveLength(2);
  });

  // A child process that sends 192 MiB of 64 KiB buffers, each dead at once, past the pacer. It
  // counts the pacer's calls to gc() (wrapped, when there is one) and the young-generation
  // collections V8 reports; whether it collects more or less on its own is V8's business, not
  // asserted here. The peak memory this keeps down is bench:memory's figure.
  const run = (pace: number, opts: { env?: Record<string, string>; flags?: string[] } = {}): { calls: number; minor: number; gc: string; vmGc: string } => {
    const script = `const real = globalThis.gc;
      let calls = 0;
      if (typeof real === 'function') globalThis.gc = (o) => { calls++; real(o); };
      const t = require(${JSON.stringify(LOAD)});
      const { PerformanceObserver, constants } = require('node:perf_hooks');
      if (${pace} >= 0) t.setGcPace(${pace});
      let minor = 0;
      const seen = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
      });
      seen.observe({ entryTypes: ['gc'] });
      for (let i = 0; i < 3072; i++) {
        const b = Buffer.allocUnsafe(65536); b[0] = i;
        t.paceBuffers(b.length);
      }
      setTimeout(() => {
        seen.disconnect();
        process.stdout.write(JSON.stringify({ calls, minor, gc: typeof globalThis.gc, vmGc: require('node:vm').runInNewContext('typeof gc') }));
      }, 100);`;
    const env = { ...process.env, ...opts.env };
    if (opts.env?.TSGI_GC_PACE_BYTES === undefined) delete env.TSGI_GC_PACE_BYTES;
    const r = spawnSync(process.execPath, [...(opts.flags ?? []), '-e', script], { encoding: 'utf8', env });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as { calls: number; minor: number; gc: string; vmGc: string };
  };

  it('R4 with --expose-gc: one young-generation collection per pace (192 MiB / 16 MiB = 12), each one V8 reports', () => {
    const paced = run(16 * MiB, { flags: ['--expose-gc'] });
    expect(paced.calls).toBe(12);
    expect(paced.minor).toBeGreaterThanOrEqual(paced.calls);
  });

  it('R4 TSGI_GC_PACE_BYTES sets the pace; 0 turns pacing off', () => {
    expect(run(-1, { env: { TSGI_GC_PACE_BYTES: String(4 * MiB) }, flags: ['--expose-gc'] }).calls).toBe(48);
    expect(run(-1, { env: { TSGI_GC_PACE_BYTES: '0' }, flags: ['--expose-gc'] }).calls).toBe(0);
  });

  it('R4 a library process is left as it was: no pacing unless asked, and no gc() made available anywhere', () => {
    const unasked = run(-1, { flags: ['--expose-gc'] });
    expect(unasked.calls).toBe(0);
    // Asked for, but started without --expose-gc: nothing to call, no V8 flag set at run time.
    const noFlag = run(16 * MiB);
    expect(noFlag.gc).toBe('undefined');
    expect(noFlag.vmGc).toBe('undefined');
  });

  it('R4 the tsgi command: --workers starts each worker with --expose-gc, and its server paces', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-gc-'));
    const app = join(dir, 'app.cjs');
    // What the worker reports: whether it has gc(), and whether the pacer calls it for a 48 MiB body.
    writeFileSync(app, `let calls = 0;
      const real = globalThis.gc;
      if (typeof real === 'function') globalThis.gc = (o) => { calls++; real(o); };
      module.exports = (environ, start) => {
        const input = environ['wsgi.input'];
        for (let c = input.read(65536); c.length > 0; c = input.read(65536));
        start('200 OK', [['Content-Type', 'text/plain']]);
        return [Buffer.from(typeof real + ' ' + calls)];
      };`);
    const port = await freePort();
    const p = startTsgi(['http', app, '--port', String(port), '--workers', '1', '--max-body', '64m']);
    try {
      await p.waitLog(/ready/, 'the worker to be ready');
      const body = Buffer.alloc(48 * MiB, 120);
      const r = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body, headers: { connection: 'close' } });
      const [gc, calls] = (await r.text()).split(' ');
      expect(r.status).toBe(200);
      expect(gc).toBe('function');
      expect(Number(calls)).toBeGreaterThanOrEqual(2);
    } finally {
      await p.stop();
    }
  });
});
