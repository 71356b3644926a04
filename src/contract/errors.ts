/**
 * The one error module. Every error tsgi raises carries a stable `code`; codes
 * never change meaning once published, so callers may branch on them.
 */

/** Stable error codes. */
export type ErrorCode =
  | 'ERR_BAD_STATUS'
  | 'ERR_BAD_HEADER'
  | 'ERR_HOP_BY_HOP_HEADER'
  | 'ERR_HEADERS_ALREADY_SET'
  | 'ERR_WRITE_BEFORE_START'
  | 'ERR_NO_START_RESPONSE'
  | 'ERR_NOT_BYTES'
  | 'ERR_BAD_BODY'
  | 'ERR_NOT_LATIN1'
  | 'ERR_BAD_CONTENT_LENGTH'
  | 'ERR_LIMIT_BODY'
  | 'ERR_BAD_APP_CLASS'
  | 'ERR_APP_LOAD'
  | 'ERR_BAD_OPTION'
  | 'ERR_FILE_WRAPPER'
  | 'ERR_FCGI_BAD_VERSION'
  | 'ERR_FCGI_BAD_RECORD'
  | 'ERR_FCGI_BAD_PARAMS'
  | 'ERR_LIMIT_PARAMS'
  | 'ERR_UWSGI_BAD_MODIFIER'
  | 'ERR_UWSGI_BAD_PACKET'
  | 'ERR_UWSGI_HTTP_CLIENT'
  | 'ERR_SCGI_BAD_HEADER'
  | 'ERR_LISTEN'
  | 'ERR_BAD_ENVIRON'
  | 'ERR_STREAM_MISUSE'
  | 'ERR_CONTENT_TYPE'
  | 'ERR_BODY_AFTER_CLOSE'
  | 'ERR_BODY_NOT_CLOSED'
  | 'ERR_BAD_REQUEST_BODY'
  | 'ERR_REQUEST_TIMEOUT'
  | 'ERR_CONFIG'
  | 'ERR_WORKER';

/** Base class of every error tsgi throws. */
export class GatewayError extends Error {
  /** Stable, machine-readable code (`ERR_…`). */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'GatewayError';
    this.code = code;
  }
}

/**
 * An application broke the PEP 3333 contract. `rule` is the rule id in docs/conformance.md
 * (`C11`, `C12` …) so that the message points at the rule that was broken.
 */
export class ContractError extends GatewayError {
  /** The docs/conformance.md rule id that was violated. */
  readonly rule: string;
  constructor(code: ErrorCode, rule: string, message: string) {
    super(code, `${message} [${rule}]`);
    this.name = 'ContractError';
    this.rule = rule;
  }
}
