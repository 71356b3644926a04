/**
 * Fuzz target: the FastCGI record decoder (FastCGI 1.0 §3.3). Any bytes, fed
 * whole or in any chunking, give the same records (or the same error, after
 * the same records); only ERR_FCGI_* errors; no buffer bigger than the largest
 * record; the decoder refuses input after an error; records re-encoded decode
 * to themselves (R7).
 */
import { Buffer } from 'node:buffer';
import { MAX_RECORD } from '../../../src/protocol/fastcgi/constants.js';
import { RecordDecoder, encodeBeginRequest, encodeEndRequest, encodeRecord, encodeStream } from '../../../src/protocol/fastcgi/records.js';
import { encodeParams } from '../../../src/protocol/fastcgi/params.js';
import { check, chunkings, largestAllocation, outcome, show, type Outcome } from './oracle.js';

const CODES = ['ERR_FCGI_BAD_VERSION', 'ERR_FCGI_BAD_RECORD'] as const;

interface Decoded { records: string[]; pending: number }

function decode(chunks: readonly Buffer[]): { result: Outcome<Decoded>; records: string[]; decoder: RecordDecoder } {
  const d = new RecordDecoder();
  const records: string[] = [];
  const result = outcome(CODES, () => {
    for (const c of chunks) {
      d.push(c, (type, id, content) => { records.push(`${type}/${id}/${content.toString('hex')}`); });
      check(d.pending <= MAX_RECORD, `the decoder holds ${d.pending} bytes, more than a record (${MAX_RECORD})`);
    }
    return { records, pending: d.pending };
  });
  return { result, records, decoder: d };
}

/** One input: see the file comment. */
export function fuzz(data: Buffer): void {
  let whole!: ReturnType<typeof decode>;
  const largest = largestAllocation(() => { whole = decode([data]); });
  check(largest <= MAX_RECORD, `a buffer of ${largest} bytes was allocated, more than a record (${MAX_RECORD})`);
  const expected = show({ r: whole.result.ok ? 'ok' : whole.result.code, records: whole.records });
  for (const chunks of chunkings(data)) {
    const got = decode(chunks);
    const seen = show({ r: got.result.ok ? 'ok' : got.result.code, records: got.records });
    check(seen === expected, `fed in ${chunks.length} chunks the decoder gave ${seen.slice(0, 300)}, fed whole ${expected.slice(0, 300)}`);
  }
  if (!whole.result.ok) {
    const again = outcome(CODES, () => whole.decoder.push(Buffer.from([1, 1, 0, 1, 0, 0, 0, 0]), () => {}));
    check(!again.ok && again.code === 'ERR_FCGI_BAD_RECORD', 'after an error the decoder accepted more input');
    return;
  }
  // Round trip: each record re-encoded (with its own padding) decodes to itself.
  const again: Buffer[] = whole.records.map((r) => {
    const [type, id, hex] = r.split('/') as [string, string, string];
    return encodeRecord(Number(type), Number(id), Buffer.from(hex, 'hex'));
  });
  const round = decode([Buffer.concat(again)]);
  check(round.result.ok && show(round.records) === show(whole.records), 're-encoded records did not decode to themselves');
}

/** Starting inputs: what a web server sends. */
export const seeds: Buffer[] = [
  Buffer.concat([
    encodeBeginRequest(1, 1, 1),
    encodeParams(1, [['REQUEST_METHOD', 'POST'], ['CONTENT_LENGTH', '5'], ['HTTP_HOST', 'x']]),
    encodeStream(5, 1, Buffer.from('hello'), true),
  ]),
  encodeRecord(9, 0, Buffer.from([14, 0, ...Buffer.from('FCGI_MAX_CONNS')])),
  Buffer.concat([encodeBeginRequest(2, 1, 0), encodeRecord(2, 2), encodeEndRequest(2, 0, 0)]),
  Buffer.from([1, 5, 0, 1, 0, 3, 5, 0, 97, 98, 99, 0, 0, 0, 0, 0]),
];

/** Byte strings worth splicing in. */
export const dictionary: Buffer[] = [
  Buffer.from([1, 1, 0, 1, 0, 8, 0, 0]),
  Buffer.from([1, 4, 0, 1, 0, 0, 0, 0]),
  Buffer.from([1, 5, 0, 1, 0xff, 0xff, 0xff, 0]),
  Buffer.from([0xff, 0xff]),
];
