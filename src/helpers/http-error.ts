/**
 * An error that carries the HTTP status it should be answered with (a body
 * too large → 413, bad JSON → 400 …). The helpers throw it; a framework turns
 * it into a response (see examples/mini-framework.ts).
 */
import { GatewayError, type ErrorCode } from '../contract/errors.js';

/** An error with the HTTP status to answer it with. */
export class HttpError extends GatewayError {
  /** The HTTP status code (4xx or 5xx). */
  readonly status: number;
  constructor(status: number, code: ErrorCode, message: string) {
    super(code, message);
    this.name = 'HttpError';
    this.status = status;
  }
}
