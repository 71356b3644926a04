/**
 * Status and header validation, run inside startResponse so that a bad value
 * raises where the app made it (C11, C12, C13).
 */
import { ContractError } from './errors.js';
import { LastSeen } from './last-seen.js';
import type { Header } from './types.js';

// C11: three digits, one space, a non-empty reason of latin-1 without control characters.
const STATUS = /^[0-9]{3} [\x20-\x7e\x80-\xff]+$/;
// C12: RFC 9110 §5.6.2 token characters.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// C12: latin-1, no CR, LF, NUL or other control character (HTAB is allowed by RFC 9110 §5.5).
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
// C13 (PEP 3333 "Other HTTP Features") plus `Status`, which only a gateway may emit.
const FORBIDDEN = /^(?:connection|keep-alive|proxy-authenticate|proxy-authorization|te|trailers?|transfer-encoding|upgrade|status)$/i;
/** The lengths of the names FORBIDDEN matches: a name of any other length skips the test. */
const FORBIDDEN_LENGTH = new Uint8Array(32);
for (const n of ['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'trailers', 'transfer-encoding', 'upgrade', 'status']) FORBIDDEN_LENGTH[n.length] = 1;
const CONTENT_LENGTH = /^content-length$/i;
const DIGITS = /^[0-9]{1,15}$/;

/** True when `s` is an RFC 9110 §5.6.2 token (header names, methods, cookie names). */
export function isToken(s: string): boolean {
  return TOKEN.test(s);
}

/** The last status that passed (an app sends the same few again and again). */
const statuses = new LastSeen<string, true>();

/** Throws a ContractError unless `status` is `NNN Reason` (C11). */
export function checkStatus(status: unknown): asserts status is string {
  if (status === statuses.input) return;
  if (typeof status !== 'string' || !STATUS.test(status)) {
    throw new ContractError('ERR_BAD_STATUS', 'C11',
      `status must be a string "NNN Reason" (three digits, one space, a reason without control characters), got ${describe(status)}`);
  }
  statuses.remember(status, true);
}

/** A header list as checked: the gateway's own copy of the pairs, and the Content-Length declared. */
export interface CheckedHeaders {
  /**
   * The pairs as they were read and checked, never the app's: an app that
   * changes a pair after startResponse (a value with CR LF in it, say)
   * changes nothing that goes out (C12, H5). Shared with later requests that
   * send the same strings, so never written to: copy the list before adding
   * to it.
   */
  readonly pairs: readonly Header[];
  /** The Content-Length the app declared, or -1 when it gave none. */
  readonly declared: number;
}

/** The last header list that passed (input: its checked pairs). */
const lists = new LastSeen<readonly Header[], CheckedHeaders>();

/**
 * Validates a header list (C12, C13) and returns it as checked: the pairs
 * and the Content-Length declared (-1 when none). Each item and each string
 * of the app's list is read once (H5): what was checked is what is returned.
 */
export function checkHeaders(headers: unknown): CheckedHeaders {
  if (!Array.isArray(headers)) {
    throw new ContractError('ERR_BAD_HEADER', 'C12', `headers must be an array of [name, value] pairs, got ${describe(headers)}`);
  }
  // H5: the length is read once, and everything below works from that one
  // reading: a Proxy or a getter that answers differently on the next read
  // cannot make the copy longer, shorter or holed than what was checked.
  const n: unknown = headers.length;
  if (typeof n !== 'number' || n < 0 || n > MAX_HEADERS || n % 1 !== 0) {
    throw new ContractError('ERR_BAD_HEADER', 'C12', `headers must be an array of [name, value] pairs, its length is ${describe(n)}`);
  }
  const last = lists.result;
  // While the app's pairs are the same strings as the last list's, nothing is copied or checked.
  const valid = last !== undefined && last.pairs.length === n ? last.pairs : null;
  let pairs: Header[] | null = null;
  for (let i = 0; i < n; i++) {
    const h: unknown = headers[i];
    if (!Array.isArray(h) || h.length !== 2) {
      throw new ContractError('ERR_BAD_HEADER', 'C12', `header #${i} must be a [name, value] pair, got ${describe(h)}`);
    }
    // Each read once: what is checked is what is copied.
    const name: unknown = h[0];
    const value: unknown = h[1];
    if (pairs === null) {
      if (valid !== null && name === valid[i]![0] && value === valid[i]![1]) continue;
      // The pairs before this one are the last list's (checked); from here on, the app's, checked one by one.
      pairs = valid === null ? new Array<Header>(n) : valid.slice(0, i);
    }
    checkPair(name, value);
    pairs[i] = [name, value as string];
  }
  if (pairs === null && valid !== null) return last!;
  const checked: readonly Header[] = pairs ?? [];
  return lists.remember(checked, { pairs: checked, declared: declaredLength(checked) });
}

/** More header lines than any web server takes (nginx and Apache stop near 100 by default). */
const MAX_HEADERS = 65535;

/** C12, C13 for one pair as read from the app's list. */
function checkPair(name: unknown, value: unknown): asserts name is string {
  if (typeof name !== 'string' || !TOKEN.test(name)) {
    throw new ContractError('ERR_BAD_HEADER', 'C12', `header name ${describe(name)} is not an HTTP token`);
  }
  if (typeof value !== 'string' || BAD_VALUE.test(value)) {
    throw new ContractError('ERR_BAD_HEADER', 'C12',
      `header ${name}: value ${describe(value)} must be a latin-1 string without CR, LF, NUL or other control characters`);
  }
  if (FORBIDDEN_LENGTH[name.length] === 1 && FORBIDDEN.test(name)) {
    if (name.length === 6) {
      throw new ContractError('ERR_BAD_HEADER', 'C12', 'a "Status" header is not allowed; pass the status to startResponse');
    }
    throw new ContractError('ERR_HOP_BY_HOP_HEADER', 'C13', `hop-by-hop header "${name}" is not allowed in a PEP 3333 response; the gateway manages the connection`);
  }
  if (name.length === 14 && CONTENT_LENGTH.test(name) && !DIGITS.test(value)) {
    throw new ContractError('ERR_BAD_CONTENT_LENGTH', 'C12', `Content-Length ${describe(value)} is not a non-negative integer`);
  }
}

/** The Content-Length of checked pairs, or -1 when they declare none (C12: two different ones are an error). */
function declaredLength(pairs: readonly Header[]): number {
  let declared = -1;
  for (const [name, value] of pairs) {
    if (name.length !== 14 || !CONTENT_LENGTH.test(name)) continue;
    const cl = Number(value);
    if (declared >= 0 && declared !== cl) {
      throw new ContractError('ERR_BAD_CONTENT_LENGTH', 'C12', `two different Content-Length headers (${declared} and ${cl})`);
    }
    declared = cl;
  }
  return declared;
}

/** A short, safe description of a value for error messages. */
export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
  if (v === null) return 'null';
  if (v instanceof Uint8Array) return `${v.constructor.name}(${v.length})`;
  if (Array.isArray(v)) return `array(${v.length})`;
  if (typeof v === 'object') return `an object (${(v as object).constructor?.name ?? 'Object'})`;
  return `${typeof v} ${String(v)}`;
}
