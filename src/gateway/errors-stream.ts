/**
 * `wsgi.errors` (C10): a text stream that never throws, whatever it is given.
 */
import { Buffer } from 'node:buffer';
import type { WsgiErrors } from '../contract/types.js';
import { writeAllSync } from './fd.js';

/**
 * Where an ErrorStream's text goes: a function, or an object's `errorText`
 * method (a server's request object, which then needs no closure of its own).
 */
export type ErrorsTarget = ((text: string) => void) | { errorText(text: string): void };

/** The `wsgi.errors` implementation over a function or object that receives text. */
export class ErrorStream implements WsgiErrors {
  #out: ErrorsTarget;
  constructor(out: ErrorsTarget) {
    this.#out = out;
  }
  write(s: string): void {
    try {
      const text = typeof s === 'string' ? s : String(s);
      const out = this.#out;
      if (typeof out === 'function') out(text);
      else out.errorText(text);
    } catch {
      /* C10: wsgi.errors never throws; a failing log sink loses the line */
    }
  }
  writelines(seq: Iterable<string>): void {
    try {
      for (const s of seq) this.write(s);
    } catch {
      /* C10 */
    }
  }
  flush(): void {
    /* writes are passed on immediately */
  }

  /** A stream that writes UTF-8 text to a descriptor (stderr), synchronously. */
  static toFd(fd: number): ErrorStream {
    return new ErrorStream((text) => writeAllSync(fd, Buffer.from(text, 'utf8')));
  }
}
