/**
 * `wsgi.errors` (C10): a text stream that never throws, whatever it is given.
 */
import { Buffer } from 'node:buffer';
import type { WsgiErrors } from '../contract/types.js';
import { writeAllSync } from './fd.js';

/** The `wsgi.errors` implementation over a function that receives text. */
export class ErrorStream implements WsgiErrors {
  #out: (text: string) => void;
  constructor(out: (text: string) => void) {
    this.#out = out;
  }
  write(s: string): void {
    try {
      this.#out(typeof s === 'string' ? s : String(s));
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
