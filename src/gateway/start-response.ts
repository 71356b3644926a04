/**
 * PEP 3333 "The start_response() Callable" and "The write() Callable": the
 * status and headers an app sets, and the data it pushes before or beside its
 * body (C11–C13, C15, C16). What happens to them on the wire is the engine's
 * state machine (engine.ts), which extends this class.
 */
import { ContractError } from '../contract/errors.js';
import { checkHeaders, checkStatus, describe } from '../contract/head.js';
import type { Header, Write } from '../contract/types.js';

/** The headers before startResponse: none, shared (frozen; no header list here is ever written to). */
const NO_HEADERS: readonly Header[] = Object.freeze([]);

/** The start_response half of one request's response; the engine supplies the other half. */
export abstract class ResponseHead {
  #status: string | undefined;
  #headers: readonly Header[] = NO_HEADERS;
  #declared = -1; // the Content-Length the app gave, or -1
  #wrote = false; // write() was called

  /** PEP 3333 start_response (C11–C13, C15). */
  readonly startResponse = (status: string, headers: Header[], excInfo?: unknown): Write => {
    if (excInfo !== undefined && excInfo !== null) {
      // C15: too late to change anything once the head is out: re-raise the app's error.
      if (this.headSent()) throw excInfo;
    } else if (this.#status !== undefined) {
      throw new ContractError('ERR_HEADERS_ALREADY_SET', 'C15',
        'Headers already set: startResponse() was called a second time without excInfo');
    }
    checkStatus(status);
    const checked = checkHeaders(headers);
    this.#status = status;
    // C12: the pairs as checked, not the app's, which it may still change; shared, never written to.
    this.#headers = checked.pairs;
    this.#declared = checked.declared;
    return this.write;
  };

  /** PEP 3333 write() (C16, C19). */
  readonly write = (data: Uint8Array): void => {
    if (this.#status === undefined) {
      throw new ContractError('ERR_WRITE_BEFORE_START', 'C16', 'write() was called before startResponse()');
    }
    if (!(data instanceof Uint8Array)) {
      throw new ContractError('ERR_NOT_BYTES', 'C19', `write() takes a Uint8Array, got ${describe(data)}; encode text first (Buffer.from(text))`);
    }
    this.#wrote = true;
    this.written(data);
  };

  /** True once the head went to the web server (C15 then re-raises excInfo). */
  protected abstract headSent(): boolean;

  /** Data the app passed to write(), checked; the engine sends it (C14, C16). */
  protected abstract written(data: Uint8Array): void;

  /** The status line to send; a body without one is an error (C16). */
  protected needStatus(): string {
    if (this.#status === undefined) {
      throw new ContractError('ERR_NO_START_RESPONSE', 'C16', 'the app produced a body chunk (or returned) without calling startResponse()');
    }
    return this.#status;
  }

  /** The status the app set, if it did. */
  protected get status(): string | undefined {
    return this.#status;
  }

  /** The headers to send: the pairs as checked (C12), shared; C20's Content-Length goes into a copy (finish.ts). */
  protected get headers(): readonly Header[] {
    return this.#headers;
  }

  /**
   * X1: the head of an offloaded response replaces the app's (same status;
   * its headers without Content-Length, plus the offload header).
   */
  protected replaceHeaders(headers: readonly Header[]): void {
    this.#headers = headers;
    this.#declared = -1;
  }

  /** The Content-Length the app declared, or -1 (C20). */
  protected get declared(): number {
    return this.#declared;
  }

  /** Whether the app called write() (then C20 adds no Content-Length). */
  protected get wrote(): boolean {
    return this.#wrote;
  }
}
