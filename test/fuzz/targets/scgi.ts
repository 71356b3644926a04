/**
 * Fuzz target: the SCGI header decoder (G1). Any bytes, fed whole or in any
 * chunking, give the same variables and the same rest (or the same error);
 * only its own errors; no buffer bigger than the header limit allows; a
 * decoded header satisfies G1 (CONTENT_LENGTH a decimal, SCGI 1) and its
 * variables re-encode and decode to themselves (R7).
 */
import { Buffer } from 'node:buffer';
import { ScgiDecoder, encodeHeader, varsMemo } from '../../../src/protocol/scgi.js';
import { check, chunkings, largestAllocation, outcome, show, type Outcome } from './oracle.js';

const CODES = ['ERR_SCGI_BAD_HEADER', 'ERR_LIMIT_PARAMS'] as const;
const LIMITS = { maxBytes: 4096, maxCount: 40 };

type Result = { vars: Record<string, string>; rest: string } | null;

function decode(chunks: readonly Buffer[]): Outcome<Result> {
  return outcome(CODES, () => {
    const d = new ScgiDecoder(LIMITS);
    for (let i = 0; i < chunks.length; i++) {
      const got = d.push(chunks[i]!);
      if (got !== null) {
        // What follows the netstring is the body: the rest of this chunk, then the chunks after it.
        return { vars: got.vars, rest: Buffer.concat([got.rest, ...chunks.slice(i + 1)]).toString('hex') };
      }
    }
    return null;
  });
}

/** One input: see the file comment. */
export function fuzz(data: Buffer): void {
  let whole!: Outcome<Result>;
  const largest = largestAllocation(() => {
    whole = outcome(CODES, () => {
      const got = new ScgiDecoder(LIMITS).push(data);
      return got && { vars: got.vars, rest: got.rest.toString('hex') };
    });
  });
  check(largest <= LIMITS.maxBytes + 1, `a buffer of ${largest} bytes was allocated, more than the limit allows (${LIMITS.maxBytes} and the comma)`);
  const expected = show(whole);
  // From scratch (a memo that remembers nothing): what decoding against the header before must give.
  const scratch = show(outcome(CODES, () => {
    const got = new ScgiDecoder(LIMITS, varsMemo()).push(data);
    return got && { vars: got.vars, rest: got.rest.toString('hex') };
  }));
  check(scratch === expected, `against the header before, the decoder gave ${expected.slice(0, 300)}, from scratch ${scratch.slice(0, 300)}`);
  for (const chunks of chunkings(data)) {
    const seen = show(decode(chunks));
    check(seen === expected, `fed in ${chunks.length} chunks the decoder gave ${seen.slice(0, 300)}, fed whole ${expected.slice(0, 300)}`);
  }
  if (!whole.ok || whole.value === null) return;
  const { vars } = whole.value;
  check(Object.getPrototypeOf(vars) === Object.prototype, 'the variables object lost Object.prototype');
  check(/^(0|[1-9]\d*)$/.test(vars.CONTENT_LENGTH ?? ''), `G1: CONTENT_LENGTH ${JSON.stringify(vars.CONTENT_LENGTH)} was let through`);
  check(vars.SCGI === '1', `G1: SCGI ${JSON.stringify(vars.SCGI)} was let through`);
  const { CONTENT_LENGTH, SCGI: _, ...others } = vars;
  const again = encodeHeader(Object.entries(others), Number(CONTENT_LENGTH));
  if (again.length > LIMITS.maxBytes) return; // joined repeats can outgrow the limit
  const round = decode([again]);
  // encodeHeader puts SCGI second, wherever it was: the same variables, compared in one order.
  const sorted = (v: Record<string, string>): string => show(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  check(round.ok && round.value !== null && sorted(round.value.vars) === sorted(vars), `re-encoded variables decoded to ${show(round).slice(0, 300)}`);
}

/** Starting inputs: what nginx's scgi_params and Apache produce, a body after the header. */
export const seeds: Buffer[] = [
  Buffer.concat([encodeHeader([['REQUEST_METHOD', 'POST'], ['HTTP_COOKIE', 'a'], ['HTTP_COOKIE', 'b'], ['REQUEST_URI', '/\xe9']], 4), Buffer.from('body')]),
  encodeHeader([['PATH_INFO', '/'], ['HTTP_ACCEPT', 'x'], ['QUERY_STRING', '']]),
  Buffer.from('GET / HTTP/1.1\r\n\r\n'),
];

/** Byte strings worth splicing in. */
export const dictionary: Buffer[] = [
  Buffer.from('CONTENT_LENGTH\0'), Buffer.from('SCGI\x001\0'), Buffer.from('HTTP_'), Buffer.from('__proto__'), Buffer.from([0, 0]), Buffer.from(':'), Buffer.from(','),
  Buffer.from('0'), Buffer.from('99999'),
];
