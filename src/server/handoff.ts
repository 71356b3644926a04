/**
 * P11: handing a kept-alive connection to another process without losing a
 * byte. A retiring worker gives its idle connections to the master, which
 * passes them to a worker of the next generation: the kernel keeps the
 * connection open throughout, so the web server never sees it close.
 *
 * Node reads ahead of the application: bytes may sit in the socket's
 * Readable buffer, and libuv keeps reading into it until the buffer is full.
 * Once a socket has been given to `process.send`, Node points the old
 * handle's read callback at a no-op until the receiver acknowledges it and
 * the handle closes: whatever libuv reads in that window is gone. So before
 * a socket is sent, reading is stopped (the handle's readStop: Node offers no
 * public way for a socket accepted by a server, whose pause() only stops the
 * 'data' events) and what was already buffered is taken out, to travel with
 * the handle. Both happen synchronously, and libuv reads only between ticks,
 * so nothing can arrive in between. docs/internals.md lists the private call
 * and its fallback: without it, no connection is handed off and the old
 * worker serves its connections until the web server lets them go.
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { nodeInternal } from '../contract/node-internals.js';

/**
 * Takes a connection this process gives up: `rest` holds the bytes already
 * read from it and not used (they come first on the new side).
 */
export type Handoff = (socket: Socket, rest: Buffer) => void;

/** The bytes a handed-off connection may carry along (the read-ahead of one socket is far less). */
export const MAX_HANDOFF_BYTES = 1024 * 1024;

interface ReadableHandle { readStop(): number; reading?: boolean }

/** The socket's libuv handle, when it can stop reading (every Node this package supports). */
function handleOf(socket: Socket): ReadableHandle | null {
  if (!nodeInternal('readStop')) return null;
  const h = (socket as unknown as { _handle?: Partial<ReadableHandle> | null })._handle;
  return h !== null && h !== undefined && typeof h.readStop === 'function' ? h as ReadableHandle : null;
}

/** Whether `socket` can be handed off here (see the fallback above). */
export function canHandOff(socket: Socket): boolean {
  return !socket.destroyed && handleOf(socket) !== null;
}

/**
 * Stops reading from `socket` and returns the bytes it had read and not yet
 * delivered (null when it cannot stop reading: it must not be handed off).
 * The caller has already removed its 'data' listeners; the socket is paused
 * and reads nothing more, in this process, afterwards.
 */
export function detach(socket: Socket): Buffer | null {
  const handle = handleOf(socket);
  if (handle === null || socket.destroyed) return null;
  socket.pause();
  const parts: Buffer[] = [];
  // read() may ask libuv to start reading again (to refill the buffer): the
  // stop below comes after it, in the same tick, before anything is read.
  for (let chunk: unknown; (chunk = socket.read()) !== null;) {
    parts.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk as Buffer);
  }
  handle.reading = false;
  if (handle.readStop() !== 0) return null;
  return parts.length === 0 ? Buffer.alloc(0) : parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/**
 * A socket received from another process: what it carried comes first, then
 * whatever the socket reads from now on (it has been reading into its buffer
 * since it arrived, with no listener yet).
 */
export function adopted(socket: Socket, rest: Buffer): Socket {
  if (rest.length > 0) socket.unshift(rest);
  return socket;
}
