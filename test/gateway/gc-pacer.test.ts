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

  // A process started without --expose-gc: the pacer gets V8's collector at run time.
  const run = (pace: number, env: Record<string, string> = {}): { max: number; gc: string } => {
    const script = `const t = require(${JSON.stringify(LOAD)});
      if (${pace} >= 0) t.setGcPace(${pace});
      let max = 0;
      for (let i = 0; i < 3000; i++) {
        const b = Buffer.allocUnsafe(65536); b[0] = i; // 192 MiB of buffers, each dead at once
        t.paceBuffers(b.length);
        max = Math.max(max, process.memoryUsage().arrayBuffers);
      }
      process.stdout.write(JSON.stringify({ max, gc: require('node:vm').runInNewContext('typeof gc') }));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, ...env } });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as { max: number; gc: string };
  };

  it('R4 192 MiB of dead 64 KiB buffers: at most two paces of them are alive at once, without --expose-gc', () => {
    const paced = run(16 * MiB);
    expect(paced.gc).toBe('function');
    expect(paced.max).toBeLessThan(32 * MiB);
  });

  it('R4 TSGI_GC_PACE_BYTES sets the pace; 0 turns pacing off and leaves V8 as it was', () => {
    const small = run(-1, { TSGI_GC_PACE_BYTES: String(4 * MiB) });
    expect(small.gc).toBe('function');
    expect(small.max).toBeLessThan(16 * MiB);
    const off = run(-1, { TSGI_GC_PACE_BYTES: '0' });
    expect(off.gc).toBe('undefined');
  });
});
