/**
 * A FastCGI connection's requests by id. A web server that does not
 * multiplex (nginx, Apache) has one request at a time on a connection: that
 * one is kept in a field, and a Map is made only for a second concurrent one
 * (F6), so a request costs no hash-table insertion and removal.
 */
export class RequestTable<T extends { readonly id: number }> {
  #one: T | null = null;
  #more: Map<number, T> | null = null;

  get size(): number {
    return (this.#one === null ? 0 : 1) + (this.#more === null ? 0 : this.#more.size);
  }

  get(id: number): T | undefined {
    const one = this.#one;
    if (one !== null && one.id === id) return one;
    return this.#more?.get(id);
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /** Adds `req` (its id must not be in the table). */
  add(req: T): void {
    if (this.#one === null) this.#one = req;
    else (this.#more ??= new Map()).set(req.id, req);
  }

  /** Removes `req` if it is the table's request for its id. */
  remove(req: T): void {
    if (this.#one === req) this.#one = null;
    else if (this.#more !== null && this.#more.get(req.id) === req) this.#more.delete(req.id);
  }

  /** The requests, in a new array (safe to change the table while going through it). */
  list(): T[] {
    const all: T[] = this.#one === null ? [] : [this.#one];
    if (this.#more !== null) for (const r of this.#more.values()) all.push(r);
    return all;
  }

  clear(): void {
    this.#one = null;
    this.#more = null;
  }
}
