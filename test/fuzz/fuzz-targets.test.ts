// The short, bounded fuzzing pass of `npm test`: every coverage-guided target
// of test/fuzz/targets/ runs a fixed number of inputs from a fixed seed, in
// its own process, and must report no finding (R7). `npm run fuzz` is the
// long, timed form.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const RUNS = 4000;
const findings = mkdtempSync(join(tmpdir(), 'tsgi-fuzz-'));
afterAll(() => rmSync(findings, { recursive: true, force: true }));

interface Result { target: string; execs: number; findings: Array<{ message: string }>; covered: number }

describe('fuzz targets, bounded pass', () => {
  it(`R2 R7 every decoder target runs ${RUNS} coverage-guided inputs without a finding`, async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      'test/fuzz/run.mjs', '--runs', String(RUNS), '--seed', '7', '--no-corpus', '--findings', findings, '--json',
    ], { maxBuffer: 1 << 20 }).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr }));
    const results = JSON.parse(stdout) as Result[];
    expect(results.map((r) => r.target)).toEqual(['fastcgi-records', 'fastcgi-params', 'uwsgi', 'scgi', 'cgi-environ']);
    for (const r of results) {
      expect({ target: r.target, findings: r.findings.map((f) => f.message) }).toEqual({ target: r.target, findings: [] });
      expect(r.execs).toBe(RUNS);
      expect(r.covered).toBeGreaterThan(0);
    }
  }, 120_000);

  it('R7 an input that makes a target loop is stopped and saved (the runner\'s watchdog)', async () => {
    const target = join(findings, 'loops.mjs');
    // Loops on any input that starts with 0x42 — the mutations reach it within a few inputs.
    writeFileSync(target, 'export function fuzz(d) { if (d[0] === 0x42) for (;;) {} }\nexport const seeds = [Buffer.from([0x41])];\n');
    const r = await promisify(execFile)(process.execPath, [
      'test/fuzz/run.mjs', '--target-file', target, '--runs', '100000', '--hang', '2', '--no-corpus', '--findings', findings, '--json',
    ]).then(() => null, (err: { code?: number; stdout?: string }) => err);
    expect(r?.code).toBe(1);
    const [result] = JSON.parse(r?.stdout ?? '[]') as Array<{ findings: Array<{ message: string; file: string }> }>;
    expect(result?.findings[0]?.message).toMatch(/ran for more than 2 s/);
    expect(readFileSync(result!.findings[0]!.file)[0]).toBe(0x42);
  }, 60_000);
});
