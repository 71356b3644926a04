// R3/R4: a body streaming through the process leaves dead buffers at the rate
// it flows; the gateway asks V8 for a young-generation collection after every
// pace of buffer bytes, so they do not pile up between V8's own collections.
// The memory figure under real nginx is `npm run bench:memory`'s; these check
// the mechanism.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { paceBuffers, setGcPace } from '../../src/gateway/gc-pacer.js';

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

  // A process started without --expose-gc: the pacer gets V8's collector at run time. What is
  // counted is the young-generation collections V8 reports while 192 MiB of 64 KiB buffers go
  // by, each dead at once: one per pace with the pacer; without it, the few V8 starts itself
  // once the buffers' memory has grown (it schedules them by JavaScript allocation, which such a
  // loop barely does). The peak memory
  // this keeps down is bench:memory's figure; here V8's background freeing of the buffers'
  // memory makes a peak depend on the machine's load.
  const run = (pace: number, env: Record<string, string> = {}): { minor: number; gc: string } => {
    const script = `const t = require(${JSON.stringify(LOAD)});
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
        process.stdout.write(JSON.stringify({ minor, gc: require('node:vm').runInNewContext('typeof gc') }));
      }, 100);`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, ...env } });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as { minor: number; gc: string };
  };

  it('R4 192 MiB of dead 64 KiB buffers: a young-generation collection per 16 MiB, without --expose-gc', () => {
    const paced = run(16 * MiB);
    expect(paced.gc).toBe('function');
    expect(paced.minor).toBeGreaterThanOrEqual(11); // 192 / 16 = 12 paces
  });

  it('R4 TSGI_GC_PACE_BYTES sets the pace; 0 turns pacing off and leaves V8 as it was', () => {
    const small = run(-1, { TSGI_GC_PACE_BYTES: String(4 * MiB) });
    expect(small.gc).toBe('function');
    expect(small.minor).toBeGreaterThanOrEqual(47); // 192 / 4 = 48 paces
    const off = run(-1, { TSGI_GC_PACE_BYTES: '0' });
    expect(off.gc).toBe('undefined');
    expect(off.minor).toBeLessThan(11); // V8's own: 5 or 6 here
  });
});
