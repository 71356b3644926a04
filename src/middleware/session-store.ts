/**
 * Session stores. The interface is what `session()` needs from any store
 * (Redis, a database …); MemoryStore is the default, for one process.
 */

/** A session's data: JSON-like values. */
export type SessionData = Record<string, unknown>;

/**
 * What `session()` needs from a store. Any method may return a Promise.
 * `expires` is a time in milliseconds since the epoch: after it, `get` must
 * not return the entry.
 */
export interface SessionStore {
  get(id: string): SessionData | undefined | Promise<SessionData | undefined>;
  set(id: string, data: SessionData, expires: number): void | Promise<void>;
  delete(id: string): void | Promise<void>;
}

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Most sessions kept; the least recently used goes first (default 10000). */
  maxEntries?: number;
  /** Clock for tests (ms since the epoch). */
  now?: () => number;
}

/**
 * Sessions in this process's memory, bounded: past `maxEntries` the least
 * recently used is dropped, and expired entries are never returned and are
 * swept as new ones arrive. Sessions do not survive a restart and are not
 * shared between processes (CGI: use another store).
 */
export class MemoryStore implements SessionStore {
  readonly #max: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { data: string; expires: number }>();

  constructor(options: MemoryStoreOptions = {}) {
    this.#max = options.maxEntries ?? 10_000;
    if (!Number.isInteger(this.#max) || this.#max < 1) throw new RangeError('MemoryStore: maxEntries must be a positive integer');
    this.#now = options.now ?? Date.now;
  }

  /** Entries held now (expired ones not yet swept included). */
  get size(): number {
    return this.#entries.size;
  }

  get(id: string): SessionData | undefined {
    const e = this.#entries.get(id);
    if (!e) return undefined;
    if (e.expires <= this.#now()) {
      this.#entries.delete(id);
      return undefined;
    }
    // Most recently used last (Map keeps insertion order).
    this.#entries.delete(id);
    this.#entries.set(id, e);
    // A copy: changes reach the store only through set().
    return JSON.parse(e.data) as SessionData;
  }

  set(id: string, data: SessionData, expires: number): void {
    this.#entries.delete(id);
    this.#entries.set(id, { data: JSON.stringify(data), expires });
    if (this.#entries.size > this.#max) this.#sweep();
  }

  delete(id: string): void {
    this.#entries.delete(id);
  }

  #sweep(): void {
    const now = this.#now();
    for (const [k, e] of this.#entries) if (e.expires <= now) this.#entries.delete(k);
    for (const k of this.#entries.keys()) {
      if (this.#entries.size <= this.#max) break;
      this.#entries.delete(k);
    }
  }
}
