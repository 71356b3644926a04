/**
 * O5 `--workers MIN:MAX`: when the pool grows or shrinks. A pure function of
 * the load samples the master already receives (the workers' stats reports:
 * requests in flight, event-loop utilization), so that the policy can be
 * tested without processes; the Arbiter feeds it one sample a second and
 * applies what it decides through the same path as `tsgi scale N`.
 *
 * The policy: load that stays high for GROW_AFTER_MS adds one worker (never
 * above MAX); load that stays low for `--idle-timeout` takes one away (never
 * below MIN), gracefully. One step at a time, and no step while a worker of
 * the pool is still booting, so that each decision sees the previous one's
 * effect. A blip (one high sample between low ones) changes nothing.
 */

/** Mean event-loop utilization at or above which a worker counts as busy. */
export const ELU_HIGH = 0.75;
/** Mean requests in flight per worker at or above which the pool counts as busy. */
export const FLIGHT_HIGH = 4;
/** Below both of these the pool counts as idle. */
export const ELU_LOW = 0.25;
export const FLIGHT_LOW = 1;
/** How long load must stay high before one worker is added. */
export const GROW_AFTER_MS = 3000;

/** The bounds and the idle time (`--workers MIN:MAX`, `--idle-timeout`). */
export interface ScaleBounds {
  readonly min: number;
  readonly max: number;
  readonly idleMs: number;
}

/** One look at the pool's serving generation. */
export interface LoadSample {
  /** Milliseconds, any monotonic origin. */
  readonly at: number;
  /** How many workers the pool should have now (its target). */
  readonly target: number;
  /** Workers of the pool not ready yet (booting): no decision until they are. */
  readonly booting: number;
  /** One entry per ready worker that reported: its event-loop utilization (0–1) and requests in flight. */
  readonly workers: readonly { readonly elu: number; readonly inFlight: number }[];
}

/** What the policy remembers between samples. */
export interface ScaleState {
  /** Since when the load has been high (null: it is not). */
  readonly highSince: number | null;
  /** Since when the load has been low (null: it is not). */
  readonly lowSince: number | null;
}

/** What to do: nothing, or a new target with the reason, for the log. */
export interface ScaleDecision {
  readonly state: ScaleState;
  readonly to: number | null;
  readonly why: string;
}

/** The state before the first sample. */
export const initialScaleState: ScaleState = { highSince: null, lowSince: null };

/** Decides on one sample; `state` is what the previous call returned. */
export function decideScale(state: ScaleState, s: LoadSample, b: ScaleBounds): ScaleDecision {
  // Nothing to judge by, or the pool is changing: the clocks start again after.
  if (s.workers.length === 0 || s.booting > 0) return { state: initialScaleState, to: null, why: '' };
  const n = s.workers.length;
  const elu = s.workers.reduce((a, w) => a + w.elu, 0) / n;
  const flight = s.workers.reduce((a, w) => a + w.inFlight, 0) / n;
  const load = `event-loop utilization ${elu.toFixed(2)}, ${flight.toFixed(1)} requests in flight per worker`;
  if (elu >= ELU_HIGH || flight >= FLIGHT_HIGH) {
    const since = state.highSince ?? s.at;
    if (s.at - since >= GROW_AFTER_MS && s.target < b.max) {
      // The clock restarts: the next step waits to see what this one did.
      return { state: { highSince: s.at, lowSince: null }, to: s.target + 1, why: `${load} for ${((s.at - since) / 1000).toFixed(1)} s` };
    }
    return { state: { highSince: since, lowSince: null }, to: null, why: '' };
  }
  if (elu < ELU_LOW && flight < FLIGHT_LOW) {
    const since = state.lowSince ?? s.at;
    if (s.at - since >= b.idleMs && s.target > b.min) {
      return { state: { highSince: null, lowSince: s.at }, to: s.target - 1, why: `${load} for ${((s.at - since) / 1000).toFixed(1)} s (--idle-timeout ${b.idleMs / 1000})` };
    }
    return { state: { highSince: null, lowSince: since }, to: null, why: '' };
  }
  return { state: initialScaleState, to: null, why: '' };
}
