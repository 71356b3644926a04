/**
 * X4 for Node apps: `res.writeEarlyHints(hints, cb)` (node:http's shape) in
 * a bridged app calls `environ['tsgi.early_hints']`, which sends a 103 where
 * the front passes one (the dev HTTP server) and does nothing elsewhere.
 */
import type { Environ } from '../contract/types.js';

/** node:http's hints object as header pairs: an array value is one header per item. */
export function hintPairs(hints: Record<string, unknown>): [string, string][] {
  const pairs: [string, string][] = [];
  if (hints === null || typeof hints !== 'object') return pairs;
  for (const name of Object.keys(hints)) {
    const value = hints[name];
    if (Array.isArray(value)) for (const v of value) pairs.push([name, String(v)]);
    else if (value !== undefined && value !== null) pairs.push([name, String(value)]);
  }
  return pairs;
}

/** Hands the hints to the gateway (before the head only), then calls `cb` as node:http does once they are written. */
export function writeEarlyHints(environ: Environ, headSent: boolean, hints: Record<string, unknown>, cb?: () => void): void {
  const send = environ['tsgi.early_hints'];
  if (!headSent && typeof send === 'function') send(hintPairs(hints));
  if (typeof cb === 'function') queueMicrotask(cb);
}
