/**
 * Status and header validation, run inside startResponse so that a bad value
 * raises where the app made it (C11, C12, C13).
 */
import { ContractError } from './errors.js';
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
let validStatus = '';

/** Throws a ContractError unless `status` is `NNN Reason` (C11). */
export function checkStatus(status: unknown): asserts status is string {
  if (status === validStatus) return;
  if (typeof status !== 'string' || !STATUS.test(status)) {
    throw new ContractError('ERR_BAD_STATUS', 'C11',
      `status must be a string "NNN Reason" (three digits, one space, a reason without control characters), got ${describe(status)}`);
  }
  validStatus = status;
}

/**
 * Validates a header list (C12, C13). Returns the Content-Length the app
 * declared, or -1 when it gave none. {@link checkedPairs} then gives the
 * pairs as they were checked.
 */
export function checkHeaders(headers: unknown): number {
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
  // The same strings as the last list that passed: valid, with the same declared length and copies.
  const same = sameAsValid(headers, n);
  if (same === n) return validDeclared;
  const pairs = new Array<Header>(n);
  const declared = checkList(headers, n, pairs, same);
  // Only a list checked in full, pair by pair into a copy of exactly n, becomes what the next is compared with.
  validPairs = pairs;
  validDeclared = declared;
  return declared;
}

/** More header lines than any web server takes (nginx and Apache stop near 100 by default). */
const MAX_HEADERS = 65535;

/**
 * The pairs of the list checkHeaders last passed, as the gateway's own
 * copies of the strings it checked (shared while an app sends the same
 * strings again). A gateway sends these, never the app's pairs: an app that
 * changes a pair after startResponse (a value with CR LF in it, say) changes
 * nothing that goes out (C12). Shared, so never changed: copy the list
 * before adding to it, and never write into a pair. (Not frozen: freezing
 * cost about 40 ns a pair whenever a list differs from the last one.)
 */
export function checkedPairs(): readonly Header[] {
  return validPairs;
}

/** The last header list that passed checkHeaders, as checked pairs, and its declared length. */
let validPairs: readonly Header[] = [];
let validDeclared = -1;

/**
 * The app's item where sameAsValid stopped, as it read it, so that
 * checkList starts from that reading instead of asking the app again (H5:
 * each item read once). `stopped` is false when nothing was read;
 * `stopPair` says the item was a pair, whose two strings were read.
 */
let stopped = false;
let stopPair = false;
let stopItem: unknown;
let stopName: unknown;
let stopValue: unknown;

/**
 * How many leading pairs of `headers` hold the same strings as the last
 * list that passed: `n` when all do (an app sends the same few heads over
 * and over), -1 when the lengths differ. Where it stops, the item read is
 * kept (stopItem …).
 */
function sameAsValid(headers: unknown[], n: number): number {
  const valid = validPairs;
  stopped = false;
  if (n !== valid.length) return -1;
  for (let i = 0; i < n; i++) {
    const h: unknown = headers[i];
    const v = valid[i]!;
    if (!Array.isArray(h) || h.length !== 2) {
      stopped = true;
      stopPair = false;
      stopItem = h;
      return i;
    }
    const name: unknown = h[0];
    const value: unknown = h[1];
    if (name !== v[0] || value !== v[1]) {
      stopped = true;
      stopPair = true;
      stopItem = h;
      stopName = name;
      stopValue = value;
      return i;
    }
  }
  return n;
}

/**
 * C12, C13 for the `n` pairs of a list (see checkHeaders); `into` gets a
 * copy of each pair as read (H5). The first `from` pairs are the strings of
 * the last list that passed (sameAsValid found them equal): those are taken
 * from its copies, and the app's list is read from `from` on, the item at
 * `from` as sameAsValid read it.
 */
function checkList(headers: unknown[], n: number, into: Header[], from: number): number {
  let declared = -1;
  const valid = validPairs;
  for (let i = 0; i < n; i++) {
    let name: unknown;
    let value: unknown;
    if (i < from) {
      const v = valid[i]!;
      name = v[0];
      value = v[1];
    } else if (i === from && stopped) {
      if (!stopPair) throw new ContractError('ERR_BAD_HEADER', 'C12', `header #${i} must be a [name, value] pair, got ${describe(stopItem)}`);
      name = stopName;
      value = stopValue;
    } else {
      const h: unknown = headers[i];
      if (!Array.isArray(h) || h.length !== 2) {
        throw new ContractError('ERR_BAD_HEADER', 'C12', `header #${i} must be a [name, value] pair, got ${describe(h)}`);
      }
      // Each read once: what is checked is what is copied.
      name = h[0];
      value = h[1];
    }
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
    if (name.length === 14 && CONTENT_LENGTH.test(name)) {
      if (!DIGITS.test(value)) {
        throw new ContractError('ERR_BAD_CONTENT_LENGTH', 'C12', `Content-Length ${describe(value)} is not a non-negative integer`);
      }
      const cl = Number(value);
      if (declared >= 0 && declared !== cl) {
        throw new ContractError('ERR_BAD_CONTENT_LENGTH', 'C12', `two different Content-Length headers (${declared} and ${cl})`);
      }
      declared = cl;
    }
    into[i] = [name, value] as Header;
  }
  stopped = false;
  stopItem = stopName = stopValue = undefined;
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
