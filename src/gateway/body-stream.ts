/**
 * `environ['tsgi.input']` (X3): the request body as an async iterable of its
 * chunks.
 *
 * Two sources. A body the server spooled whole (the default) is handed out in
 * blocks from `wsgi.input`, so an app written against `tsgi.input` runs the
 * same whichever way the server is configured. A streamed body
 * (`streamBodies`) is a LiveBody: the adapter pushes chunks as they come off
 * the socket and the app pulls them; between the two sits at most one
 * high-water mark of bytes, past which the adapter is told to stop reading
 * (back-pressure to the web server), and the limits still hold: a body past
 * maxBodyBytes ends the iteration with ERR_LIMIT_BODY, a client that goes
 * away with ERR_BAD_REQUEST_BODY.
 */
import type { Buffer } from 'node:buffer';
import { ContractError, GatewayError } from '../contract/errors.js';
import { LIVE_INPUT } from '../contract/live-input.js';
import { paceBuffers } from './gc-pacer.js';
import type { WsgiInput } from '../contract/types.js';

/** Block size `tsgi.input` reads a spooled body in. */
const BLOCK = 65536;
/** Bytes a live body buffers before the adapter is asked to pause (X3). */
export const LIVE_HIGH_WATER = 256 * 1024;

/** `tsgi.input` of a request without a body: shared, it holds no state. */
export const NO_CHUNKS: AsyncIterable<Uint8Array> = Object.freeze({
  [Symbol.asyncIterator]: (): AsyncIterator<Uint8Array> => ({ next: () => Promise.resolve({ done: true, value: undefined }) }),
});

/** `tsgi.input` over a spooled `wsgi.input`: blocks of up to 64 KiB until the body's end. */
export function spooledChunks(input: WsgiInput): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const b = input.read(BLOCK);
        if (b.length === 0) return;
        yield b;
      }
    },
  };
}

/** What a LiveBody asks of the adapter that feeds it. */
export interface LiveFeed {
  /** Stop reading the source: the app has a high-water mark of bytes unread. */
  pause(): void;
  /** Read on: the app caught up. */
  resume(): void;
}

/**
 * A body that streams to the app as it arrives (X3). The adapter calls
 * push / end / fail; the app iterates once.
 */
export class LiveBody implements AsyncIterable<Buffer> {
  readonly [LIVE_INPUT] = true;
  #queue: Buffer[] = [];
  #buffered = 0;
  #peak = 0;
  #received = 0;
  #ended = false;
  #error: Error | null = null;
  #paused = false;
  #iterated = false;
  #wake: (() => void) | null = null;
  readonly #feed: LiveFeed;
  readonly #maxBytes: number;
  readonly #highWater: number;

  constructor(feed: LiveFeed, maxBytes: number, highWater = LIVE_HIGH_WATER) {
    this.#feed = feed;
    this.#maxBytes = maxBytes;
    this.#highWater = highWater;
  }

  /** Bytes received and not yet taken by the app: never much past the high-water mark while the source honours pause(). */
  get buffered(): number { return this.#buffered; }
  /** The most bytes ever buffered at once (what back-pressure bounds). */
  get peakBuffered(): number { return this.#peak; }
  /** Bytes received so far. */
  get received(): number { return this.#received; }
  /** True once the whole body is in (or it failed). */
  get settled(): boolean { return this.#ended || this.#error !== null; }

  /** Adds a chunk off the wire (kept, not copied: the adapter hands over its buffer). Past maxBytes the body fails (S1). */
  push(chunk: Buffer): void {
    if (this.settled || chunk.length === 0) return;
    this.#received += chunk.length;
    if (this.#received > this.#maxBytes) {
      this.fail(new GatewayError('ERR_LIMIT_BODY', `request body exceeds the limit of ${this.#maxBytes} bytes`));
      return;
    }
    this.#queue.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered > this.#peak) this.#peak = this.#buffered;
    if (!this.#paused && this.#buffered >= this.#highWater) {
      this.#paused = true;
      this.#feed.pause();
    }
    this.#notify();
  }

  /** The body is complete. */
  end(): void {
    if (this.settled) return;
    this.#ended = true;
    this.#notify();
  }

  /** The body cannot complete: the app's next read throws `err`. Bytes already queued are dropped. */
  fail(err: Error): void {
    if (this.settled) return;
    this.#error = err;
    this.#queue = [];
    this.#buffered = 0;
    if (this.#paused) {
      // Nothing is kept any more: the source reads on (and drops what is left of the body).
      this.#paused = false;
      this.#feed.resume();
    }
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    if (this.#iterated) throw new ContractError('ERR_STREAM_MISUSE', 'X3', "environ['tsgi.input'] can be iterated once");
    this.#iterated = true;
    for (;;) {
      if (this.#error !== null) throw this.#error;
      const chunk = this.#queue.shift();
      if (chunk !== undefined) {
        this.#buffered -= chunk.length;
        if (this.#paused && this.#buffered < this.#highWater / 2) {
          this.#paused = false;
          this.#feed.resume();
        }
        // R4: the socket read is garbage once the app has it; V8 is told at the pace the body flows.
        paceBuffers(chunk.length);
        yield chunk;
        continue;
      }
      if (this.#ended) return;
      if (this.#paused) {
        this.#paused = false;
        this.#feed.resume();
      }
      await new Promise<void>((resolve) => { this.#wake = resolve; });
    }
  }
}

/**
 * `wsgi.input` while the body streams through `tsgi.input`: the app was
 * started before its body was in, so a synchronous read could only block the
 * process or return a short body. Every synchronous read says so instead;
 * its async iteration is the live body's.
 */
export function streamingInput(live: LiveBody): WsgiInput {
  const refuse = (): never => {
    throw new ContractError('ERR_STREAM_MISUSE', 'X3',
      "the request body is streamed (streamBodies / --stream-bodies): read it with `for await (const chunk of environ['tsgi.input'])`, not wsgi.input");
  };
  return {
    read: refuse,
    readline: refuse,
    readlines: refuse,
    [Symbol.iterator]: refuse,
    [Symbol.asyncIterator]: () => live[Symbol.asyncIterator](),
  };
}
