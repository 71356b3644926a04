/**
 * The validator's wrappers of wsgi.input and wsgi.errors (V3): the app may
 * not close them, passes at most one argument to read/readline/readlines,
 * and writes text to wsgi.errors; the gateway's streams return bytes (C9).
 */
import { ContractError } from '../contract/errors.js';
import { describe } from '../contract/head.js';
import type { WsgiErrors, WsgiInput } from '../contract/types.js';

function misuse(message: string): ContractError {
  return new ContractError('ERR_STREAM_MISUSE', 'V3', `validate: ${message}`);
}

function gatewayBytes(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new ContractError('ERR_NOT_BYTES', 'C9', `validate: wsgi.input.${what} returned ${describe(v)}, not bytes`);
  return v;
}

function sizeArg(args: unknown[], what: string): number | null | undefined {
  if (args.length > 1) throw misuse(`wsgi.input.${what}() takes at most one argument, got ${args.length}`);
  const size = args[0];
  if (size !== undefined && size !== null && !(typeof size === 'number' && Number.isInteger(size))) {
    throw misuse(`wsgi.input.${what}(size): size must be an integer, null or absent, got ${describe(size)}`);
  }
  return size;
}

/** wsgi.input as the validator hands it to the app. */
export class CheckedInput {
  readonly #inner: WsgiInput;
  constructor(inner: WsgiInput) {
    this.#inner = inner;
  }

  read(...args: unknown[]): Uint8Array {
    return gatewayBytes(this.#inner.read(sizeArg(args, 'read')), 'read()');
  }

  readline(...args: unknown[]): Uint8Array {
    return gatewayBytes(this.#inner.readline(sizeArg(args, 'readline')), 'readline()');
  }

  readlines(...args: unknown[]): Uint8Array[] {
    const lines: unknown = this.#inner.readlines(sizeArg(args, 'readlines'));
    if (!Array.isArray(lines)) throw new ContractError('ERR_NOT_BYTES', 'C9', `validate: wsgi.input.readlines() returned ${describe(lines)}, not an array`);
    for (const l of lines) gatewayBytes(l, 'readlines()');
    return lines as Uint8Array[];
  }

  close(): never {
    throw misuse('the app must not call wsgi.input.close(): the gateway owns the stream');
  }

  *[Symbol.iterator](): Iterator<Uint8Array> {
    for (const line of this.#inner) yield gatewayBytes(line, 'iteration');
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for await (const line of this.#inner) yield gatewayBytes(line, 'async iteration');
  }
}

/** wsgi.errors as the validator hands it to the app. */
export class CheckedErrors {
  readonly #inner: WsgiErrors;
  constructor(inner: WsgiErrors) {
    this.#inner = inner;
  }

  write(...args: unknown[]): void {
    if (args.length !== 1 || typeof args[0] !== 'string') {
      throw misuse(`wsgi.errors.write(text) takes one string, got ${args.length === 1 ? describe(args[0]) : `${args.length} arguments`}`);
    }
    this.#inner.write(args[0]);
  }

  writelines(...args: unknown[]): void {
    const seq = args[0];
    if (args.length !== 1 || seq === null || typeof seq !== 'object' || typeof (seq as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw misuse('wsgi.errors.writelines(lines) takes one iterable of strings');
    }
    const lines: string[] = [];
    for (const l of seq as Iterable<unknown>) {
      if (typeof l !== 'string') throw misuse(`wsgi.errors.writelines(): every line must be a string, got ${describe(l)}`);
      lines.push(l);
    }
    this.#inner.writelines(lines);
  }

  flush(...args: unknown[]): void {
    if (args.length !== 0) throw misuse(`wsgi.errors.flush() takes no arguments, got ${args.length}`);
    this.#inner.flush();
  }

  close(): never {
    throw misuse('the app must not call wsgi.errors.close(): the gateway owns the stream');
  }
}
