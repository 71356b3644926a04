// O5: the adaptive pool's policy (autoscale.ts), a pure function of load
// samples: it grows one worker when load stays high for GROW_AFTER_MS and not
// on a blip, shrinks one after --idle-timeout of low load, keeps to MIN:MAX,
// and waits while a worker boots.
import { describe, expect, it } from 'vitest';
import { decideScale, ELU_HIGH, FLIGHT_HIGH, GROW_AFTER_MS, initialScaleState, type LoadSample, type ScaleBounds, type ScaleState } from '../../src/server/arbiter/autoscale.js';

const B: ScaleBounds = { min: 1, max: 3, idleMs: 10_000 };
const busy = { elu: 0.95, inFlight: 1 };
const held = { elu: 0.01, inFlight: FLIGHT_HIGH };
const idle = { elu: 0.02, inFlight: 0 };

/** Feeds samples one second apart from t=0; the targets decided, in order (null: none). */
function run(target: number, loads: { elu: number; inFlight: number }[][], b = B, booting: number[] = []): (number | null)[] {
  let state: ScaleState = initialScaleState;
  const out: (number | null)[] = [];
  loads.forEach((workers, i) => {
    const s: LoadSample = { at: i * 1000, target, booting: booting[i] ?? 0, workers };
    const d = decideScale(state, s, b);
    state = d.state;
    out.push(d.to);
    if (d.to !== null) {
      expect(d.why).toMatch(/event-loop utilization \d\.\d\d, \d+\.\d requests in flight per worker for \d+\.\d s/);
      target = d.to;
    }
  });
  return out;
}

describe('autoscale policy', () => {
  it('O5 grows by one when event-loop utilization stays high for GROW_AFTER_MS', () => {
    expect(GROW_AFTER_MS).toBe(3000);
    expect(busy.elu).toBeGreaterThanOrEqual(ELU_HIGH);
    expect(run(1, [[busy], [busy], [busy], [busy]])).toEqual([null, null, null, 2]);
  });

  it('O5 grows when requests in flight stay high even with an idle event loop', () => {
    expect(run(1, [[held], [held], [held], [held]])).toEqual([null, null, null, 2]);
  });

  it('O5 a blip does not grow the pool: the clock starts again after a quiet sample', () => {
    expect(run(1, [[busy], [busy], [idle], [busy], [busy], [busy]])).toEqual([null, null, null, null, null, null]);
    // Half-busy (between the high and low marks) also resets it.
    expect(run(1, [[busy], [busy], [{ elu: 0.5, inFlight: 2 }], [busy], [busy]])).toEqual([null, null, null, null, null]);
  });

  it('O5 the mean over workers decides: one busy worker among idle ones is not a busy pool', () => {
    expect(run(2, [[busy, idle], [busy, idle], [busy, idle], [busy, idle], [busy, idle]])).toEqual([null, null, null, null, null]);
  });

  it('O5 one step at a time: after a grow the next waits GROW_AFTER_MS again, and never passes MAX', () => {
    const s = Array.from({ length: 14 }, () => [busy]);
    expect(run(1, s)).toEqual([null, null, null, 2, null, null, 3, null, null, null, null, null, null, null]);
  });

  it('O5 no decision while a worker boots, and the clock restarts after', () => {
    expect(run(1, [[busy], [busy], [busy], [busy], [busy], [busy]], B, [0, 0, 0, 1, 0, 0])).toEqual([null, null, null, null, null, null]);
    expect(run(1, [[], [], [], []])).toEqual([null, null, null, null]);
  });

  it('O5 shrinks by one after --idle-timeout of low load, down to MIN and no further', () => {
    const b = { ...B, idleMs: 2000 };
    expect(run(3, Array.from({ length: 9 }, () => [idle, idle, idle]), b)).toEqual([null, null, 2, null, 1, null, null, null, null]);
  });

  it('O5 load before the idle time is up keeps the pool', () => {
    const b = { ...B, idleMs: 3000 };
    expect(run(2, [[idle, idle], [idle, idle], [idle, { elu: 0.01, inFlight: 2 }], [idle, idle], [idle, idle], [idle, idle], [idle, idle]], b))
      .toEqual([null, null, null, null, null, null, 1]);
  });

  it('O5 a fixed range (MIN = MAX) never moves', () => {
    const b = { min: 2, max: 2, idleMs: 0 };
    expect(run(2, [[busy, busy], [busy, busy], [busy, busy], [busy, busy], [idle, idle], [idle, idle]], b)).toEqual([null, null, null, null, null, null]);
  });
});
