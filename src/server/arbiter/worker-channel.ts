/**
 * P13: the master never trusts a worker. A worker runs the app, unprivileged
 * and possibly compromised; the master may run as root and holds the
 * listening sockets of the whole service. Everything that comes from a
 * worker (its IPC messages, the handles sent with them, the in-flight board's
 * pipe) is checked here before the master acts on it; what does not pass is
 * reported as a reason, and the master replaces that worker.
 */
import { Socket } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { MAX_HANDOFF_BYTES } from '../handoff.js';
import type { WorkerMessage } from './messages.js';
import { nodeInternal } from '../../contract/node-internals.js';
import { checkStats } from './pool-stats.js';

/** Longest line the in-flight board may write (64 slots of 240 bytes, JSON-escaped, with room to spare). */
export const MAX_BOARD_LINE = 256 * 1024;
/** Most requests a worker may list as in flight, and the longest description of one. */
const MAX_LIST = 1024;
const MAX_ITEM = 128 * 1024;
/** What the master keeps of each (for its log lines). */
const SHOWN_ITEM = 1024;
/** Longest IPC message (a handoff carries at most MAX_HANDOFF_BYTES, in base64). */
const MAX_MESSAGE = 4 * 1024 * 1024;
/** Longest error text of a 'fatal' message. */
const MAX_ERROR = 64 * 1024;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function isList(v: unknown): v is string[] {
  return Array.isArray(v) && v.length <= MAX_LIST && v.every((x) => typeof x === 'string' && x.length <= MAX_ITEM);
}

/** A checked list, each item cut to what a log line shows. */
const cut = (list: string[]): string[] => list.map((x) => x.length > SHOWN_ITEM ? `${x.slice(0, SHOWN_ITEM)}...` : x);

/** Shows a bad value in a log line: short, and only printable ASCII. */
export function shown(v: unknown): string {
  let text: string;
  try { text = JSON.stringify(v) ?? String(v); } catch { text = Object.prototype.toString.call(v); }
  text = text.length > 80 ? `${text.slice(0, 80)}...` : text;
  return text.replace(/[^\x20-\x7e]/g, '?');
}

/**
 * Checks one IPC message (and the handle sent with it): the message, or why
 * it is refused. `listeners` is how many listening sockets the workers have.
 */
export function checkMessage(m: unknown, handle: unknown, listeners: number): WorkerMessage | string {
  if (!isObject(m) || typeof m.t !== 'string') return `a message that is not one of tsgi's: ${shown(m)}`;
  if (handle !== undefined && m.t !== 'handoff') return `a handle with a ${shown(m.t)} message`;
  switch (m.t) {
    case 'ready':
      return { t: 'ready' };
    case 'pong':
      return isList(m.inFlight) ? { t: 'pong', inFlight: cut(m.inFlight) } : `a malformed pong: ${shown(m)}`;
    case 'retire':
      return Number.isSafeInteger(m.served) && (m.served as number) >= 0 ? { t: 'retire', served: m.served as number } : `a malformed retire: ${shown(m)}`;
    case 'fatal':
      return typeof m.error === 'string' && isList(m.inFlight)
        ? { t: 'fatal', error: m.error.length > MAX_ERROR ? `${m.error.slice(0, MAX_ERROR)}...` : m.error, inFlight: cut(m.inFlight) }
        : `a malformed fatal: ${shown(m)}`;
    case 'handoff':
      if (!(handle instanceof Socket)) return `a handoff without a connection (${handle === undefined ? 'none' : 'another kind of handle'})`;
      if (!Number.isSafeInteger(m.l) || (m.l as number) < 0 || (m.l as number) >= listeners) return `a handoff for listener ${shown(m.l)}`;
      if (typeof m.data !== 'string' || m.data.length > Math.ceil(MAX_HANDOFF_BYTES / 3) * 4 || m.data.length % 4 !== 0 || !BASE64.test(m.data)) {
        return `a handoff with malformed data (${typeof m.data === 'string' ? `${m.data.length} characters` : typeof m.data})`;
      }
      return { t: 'handoff', l: m.l as number, data: m.data };
    case 'stats':
      return checkStats(m);
    default:
      return `an unknown message type ${shown(m.t)}`;
  }
}

/** Closes a handle a worker sent that will not be used (a socket, a server, anything with close()). */
export function discard(handle: unknown): void {
  try {
    if (handle instanceof Socket) handle.destroy();
    else (handle as { close?: () => void } | null)?.close?.();
  } catch { /* already closed */ }
}

/**
 * Reads the in-flight board's pipe: one JSON array of strings per line, the
 * last whole line wins. `bad` gets the reason when a line is too long or
 * not such an array (the reader then stops listening to this pipe).
 */
export function readBoard(stream: NodeJS.ReadableStream, update: (list: string[]) => void, bad: (why: string) => void): void {
  let rest = '';
  let failed = false;
  const onData = (d: Buffer): void => {
    if (failed) return;
    const lines = (rest + d.toString('latin1')).split('\n');
    rest = lines.pop()!;
    const fail = (why: string): void => {
      failed = true;
      stream.removeListener('data', onData);
      stream.resume(); // keep draining it, so the worker never blocks on a full pipe
      bad(why);
    };
    if (rest.length > MAX_BOARD_LINE || lines.some((l) => l.length > MAX_BOARD_LINE)) { fail(`a board line longer than ${MAX_BOARD_LINE} bytes`); return; }
    if (lines.length === 0) return;
    const line = lines.at(-1)!;
    let list: unknown;
    try { list = JSON.parse(Buffer.from(line, 'latin1').toString('utf8')); } catch { fail(`a board line that is not JSON: ${shown(line.slice(0, 80))}`); return; }
    if (!isList(list)) { fail(`a board line that is not a list of requests: ${shown(line.slice(0, 80))}`); return; }
    update(cut(list));
  };
  stream.on('data', onData);
}

/**
 * Node parses a child's IPC channel inside the master: bytes a worker writes
 * to the channel's descriptor that are not a message make that parser throw
 * in the master, which would end it (and the whole service). The channel's
 * read callback is wrapped so that such a throw is this worker's fault, not
 * the master's end. The channel's handle and its onread are Node's own
 * (docs/internals.md): without them, the master's last-resort handler of
 * uncaught exceptions keeps it alive instead (the worker then stays).
 */
export function guardChannel(child: ChildProcess, bad: (why: string) => void): boolean {
  if (!nodeInternal('kChannelHandle')) return false;
  // child.channel is a wrapper for ref()/unref(); the pipe handle itself is kept under a symbol.
  const key = Object.getOwnPropertySymbols(child).find((k) => k.description === 'kChannelHandle');
  const channel = (key === undefined ? undefined : (child as unknown as Record<symbol, unknown>)[key]) as { onread?: (...a: unknown[]) => unknown } | null | undefined;
  const read = channel?.onread;
  if (channel === null || channel === undefined || typeof read !== 'function') return false;
  // Where Node keeps an incomplete message: a worker must not make the master buffer without end.
  const pending = Object.getOwnPropertySymbols(channel).find((k) => k.description === 'kJSONBuffer');
  const held = channel as unknown as Record<symbol, unknown>;
  let refused = false;
  channel.onread = function guarded(this: unknown, ...a: unknown[]): unknown {
    // After a refusal nothing more is parsed; the end of the channel (no data) still goes to Node.
    if (refused && a[0] !== undefined) return undefined;
    try {
      return read.apply(this, a);
    } catch (err) {
      refused = true;
      bad(`bytes on the IPC channel that are not a message (${err instanceof Error ? err.message : String(err)})`);
      return undefined;
    } finally {
      if (!refused && pending !== undefined && typeof held[pending] === 'string' && (held[pending] as string).length > MAX_MESSAGE) {
        refused = true;
        held[pending] = '';
        bad(`an IPC message longer than ${MAX_MESSAGE} bytes`);
      }
    }
  };
  return true;
}
