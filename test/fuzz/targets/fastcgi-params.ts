/**
 * Fuzz target: the FastCGI params decoder (FastCGI 1.0 §3.4, F2). The input
 * is a params stream; fed in one record or cut into records anywhere it gives
 * the same variables or the same error (R2); only its own errors; no buffer
 * bigger than the params limit; decoded variables re-encode and decode to
 * themselves; the variables object keeps Object.prototype (R7).
 */
import { Buffer } from 'node:buffer';
import { ParamsDecoder, encodePairs, encodeParams, paramsMemo, type ParamsLimits } from '../../../src/protocol/fastcgi/params.js';
import type { VarsMemo } from '../../../src/protocol/vars-memo.js';
import { check, chunkings, largestAllocation, outcome, show, type Outcome } from './oracle.js';

const CODES = ['ERR_FCGI_BAD_PARAMS', 'ERR_LIMIT_PARAMS'] as const;
const LIMITS: ParamsLimits = { maxBytes: 3000, maxCount: 40 };
/** Kept from input to input, as a server keeps it from request to request: each input is built against the one before. */
const MEMO = paramsMemo();

function decode(records: readonly Buffer[], memo: VarsMemo = MEMO): Outcome<Record<string, string>> {
  return outcome(CODES, () => {
    const d = new ParamsDecoder(LIMITS, memo);
    for (const r of records) d.push(r);
    d.end();
    check(d.count <= LIMITS.maxCount, `${d.count} pairs decoded, limit ${LIMITS.maxCount}`);
    return d.vars;
  });
}

/** One input: see the file comment. */
export function fuzz(data: Buffer): void {
  let whole!: Outcome<Record<string, string>>;
  const largest = largestAllocation(() => { whole = decode([data]); });
  check(largest <= LIMITS.maxBytes, `a buffer of ${largest} bytes was allocated, params limit ${LIMITS.maxBytes}`);
  const expected = show(whole);
  // From scratch (a memo that remembers nothing): what the memo must give.
  const scratch = show(decode([data], paramsMemo()));
  check(scratch === expected, `against the request before, the decoder gave ${expected.slice(0, 300)}, from scratch ${scratch.slice(0, 300)}`);
  // A first record as long as the remembered request, as the memo compares a first record of that size from both ends.
  const size = MEMO.last?.size ?? 0;
  const cut = size > 0 && size < data.length ? [[data.subarray(0, size), data.subarray(size)]] : [];
  for (const records of [...chunkings(data), ...cut]) {
    let got!: Outcome<Record<string, string>>;
    const big = largestAllocation(() => { got = decode(records); });
    check(big <= LIMITS.maxBytes, `in ${records.length} records a buffer of ${big} bytes was allocated, params limit ${LIMITS.maxBytes}`);
    const seen = show(got);
    check(seen === expected, `in ${records.length} records the decoder gave ${seen.slice(0, 300)}, in one ${expected.slice(0, 300)}`);
  }
  if (!whole.ok) return;
  const vars = whole.value;
  check(Object.getPrototypeOf(vars) === Object.prototype, 'the variables object lost Object.prototype');
  for (const [k, v] of Object.entries(vars)) {
    check(typeof v === 'string' && k.length > 0, `variable ${JSON.stringify(k)} is not a non-empty name with a string value`);
  }
  const round = decode([encodePairs(Object.entries(vars))]);
  check(show(round) === expected, `re-encoded variables decoded to ${show(round).slice(0, 300)}`);
}

/** Starting inputs: nginx's fastcgi_params, long values, 4-byte lengths. */
export const seeds: Buffer[] = [
  encodePairs([['SCRIPT_NAME', ''], ['REQUEST_METHOD', 'GET'], ['QUERY_STRING', 'a=1'], ['HTTP_HOST', 'example'], ['HTTP_COOKIE', 'a=1'], ['HTTP_COOKIE', 'b=2']]),
  encodePairs([['X', 'y'.repeat(200)], ['HTTP_ACCEPT', 'a'], ['HTTP_ACCEPT', 'b']]),
  encodePairs([['N'.repeat(130), '\xe9\xff\x00']]),
  encodeParams(1, [['A', 'B']]).subarray(8, 14),
];

/** Byte strings worth splicing in. */
export const dictionary: Buffer[] = [
  Buffer.from('HTTP_'), Buffer.from('HTTP_COOKIE'), Buffer.from('__proto__'), Buffer.from('constructor'),
  Buffer.from([0x80, 0, 0, 0x10]), Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from([0x7f]), Buffer.from([0x80, 0, 0, 0]),
];
