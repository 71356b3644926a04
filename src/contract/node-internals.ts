/**
 * The switch over the private Node internals tsgi uses (docs/internals.md).
 * Each use asks here before it touches its internal; with the internal
 * switched off it takes the path it takes on a Node that lacks it, so the
 * tests can check every fallback on a Node that has them all.
 *
 * `TSGI_NO_NODE_INTERNALS` names the ones to leave alone, comma-separated,
 * or `all`. Read once, on the first question.
 */

/** The internals docs/internals.md lists, by the name used there. */
export type NodeInternal = '_createServerHandle' | 'readStop' | 'kChannelHandle' | '_header' | 'kOutHeaders' | 'latin1Slice';

let off: ReadonlySet<string> | undefined;

/** Whether tsgi may use `name` (when Node has it: each use still checks that it is there). */
export function nodeInternal(name: NodeInternal): boolean {
  off ??= new Set((process.env.TSGI_NO_NODE_INTERNALS ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''));
  return !off.has(name) && !off.has('all');
}

/** Reads TSGI_NO_NODE_INTERNALS again on the next question; for tests. */
export function resetNodeInternals(): void {
  off = undefined;
}
