/**
 * Fuzz target: the uwsgi packet decoder (U1, U2, U5-U7). Any bytes, fed
 * whole or in any chunking, give the same packet and the same rest (or the
 * same error); only its own errors; no buffer bigger than a packet; decoded
 * variables re-encode and decode to themselves (R7).
 */
import { Buffer } from 'node:buffer';
import { UWSGI_HEADER_LEN, UWSGI_MAX_VARS, UwsgiDecoder, encodePacket, varsMemo, type UwsgiPacket } from '../../../src/protocol/uwsgi.js';
import { check, chunkings, largestAllocation, outcome, show, type Outcome } from './oracle.js';

const CODES = ['ERR_UWSGI_BAD_MODIFIER', 'ERR_UWSGI_HTTP_CLIENT', 'ERR_UWSGI_BAD_PACKET', 'ERR_LIMIT_PARAMS'] as const;
const LIMITS = { maxCount: 40 };
const MAX_PACKET = UWSGI_HEADER_LEN + UWSGI_MAX_VARS;

type Result = { packet: UwsgiPacket; rest: string } | null;

function decode(chunks: readonly Buffer[]): Outcome<Result> {
  return outcome(CODES, () => {
    const d = new UwsgiDecoder(LIMITS);
    for (let i = 0; i < chunks.length; i++) {
      const got = d.push(chunks[i]!);
      if (got !== null) {
        // What follows the packet is the body: the rest of this chunk, then the chunks after it.
        const rest = Buffer.concat([got.rest, ...chunks.slice(i + 1)]).toString('hex');
        return { packet: got.packet, rest };
      }
    }
    return null;
  });
}

/** One input: see the file comment. */
export function fuzz(data: Buffer): void {
  let whole!: Outcome<Result>;
  const largest = largestAllocation(() => {
    const d = new UwsgiDecoder(LIMITS);
    whole = outcome(CODES, () => {
      const got = d.push(data);
      return got && { packet: got.packet, rest: got.rest.toString('hex') };
    });
  });
  check(largest <= MAX_PACKET, `a buffer of ${largest} bytes was allocated, more than a packet (${MAX_PACKET})`);
  const expected = show(whole);
  // From scratch (a memo that remembers nothing): what decoding against the packet before must give.
  const scratch = show(outcome(CODES, () => {
    const got = new UwsgiDecoder(LIMITS, varsMemo()).push(data);
    return got && { packet: got.packet, rest: got.rest.toString('hex') };
  }));
  check(scratch === expected, `against the packet before, the decoder gave ${expected.slice(0, 300)}, from scratch ${scratch.slice(0, 300)}`);
  for (const chunks of chunkings(data)) {
    const seen = show(decode(chunks));
    check(seen === expected, `fed in ${chunks.length} chunks the decoder gave ${seen.slice(0, 300)}, fed whole ${expected.slice(0, 300)}`);
  }
  if (!whole.ok || whole.value === null) return;
  const { packet } = whole.value;
  check(Object.getPrototypeOf(packet.vars) === Object.prototype, 'the variables object lost Object.prototype');
  for (const k of Object.keys(packet.vars)) check(!k.startsWith('UWSGI_'), `U6: ${k} was passed on`);
  const size = Object.entries(packet.vars).reduce((n, [k, v]) => n + 4 + k.length + v.length, 0);
  if (size > UWSGI_MAX_VARS) return; // joined repeats can outgrow one packet
  const round = decode([encodePacket(Object.entries(packet.vars), packet.modifier2)]);
  check(round.ok && round.value !== null && show(round.value.packet) === show(packet), `re-encoded variables decoded to ${show(round).slice(0, 300)}`);
}

/** Starting inputs: what nginx's uwsgi_params produce, a body after the packet. */
export const seeds: Buffer[] = [
  Buffer.concat([encodePacket([['REQUEST_METHOD', 'POST'], ['CONTENT_LENGTH', '4'], ['HTTP_COOKIE', 'a'], ['HTTP_COOKIE', 'b'], ['UWSGI_FILE', 'x']]), Buffer.from('body')]),
  encodePacket([['PATH_INFO', '/\xe9'], ['HTTP_ACCEPT', 'x'], ['HTTP_ACCEPT', 'y']], 7),
  Buffer.from('GET / HTTP/1.1\r\n\r\n'),
];

/** Byte strings worth splicing in. */
export const dictionary: Buffer[] = [
  Buffer.from('HTTP_'), Buffer.from('UWSGI_'), Buffer.from('__proto__'), Buffer.from([0, 0]), Buffer.from([0xff, 0xff]), Buffer.from([0, 0xff, 0xff, 0]),
];
