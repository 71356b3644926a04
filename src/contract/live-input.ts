/**
 * X3: how a layer above the gateway (the bridges) tells a body still
 * arriving from a spooled one. The gateway marks its live `tsgi.input` with
 * a registered symbol, so that separately bundled layers agree on it.
 */
import type { Environ } from './types.js';

/** The mark on a `tsgi.input` whose body is still arriving. */
export const LIVE_INPUT: unique symbol = Symbol.for('tsgi.live_input') as never;

/** The environ's live `tsgi.input`, or undefined when its body was spooled (read `wsgi.input` then). */
export function liveInput(environ: Environ): AsyncIterable<Uint8Array> | undefined {
  const input = environ['tsgi.input'] as (AsyncIterable<Uint8Array> & { [LIVE_INPUT]?: boolean }) | undefined;
  return input !== undefined && input[LIVE_INPUT] === true ? input : undefined;
}
