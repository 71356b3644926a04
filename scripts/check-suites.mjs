// Every test file is in exactly one of the two vitest projects (vitest.config.ts):
// `unit` (npm test) or `integration` (npm run test:integration). A file in
// neither would never run; a file in both would run twice and slow the gate.
// Asks vitest itself which files each project takes, so a glob that matches
// differently from what it looks like is caught too.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const vitest = join(root, 'node_modules/vitest/vitest.mjs');

/** Every *.test.ts under test/, as a path relative to the root. */
function testFiles(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...testFiles(p));
    else if (e.name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const listed = execFileSync(process.execPath, [vitest, 'list', '--filesOnly'], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
const projects = new Map();
for (const line of listed.split('\n')) {
  const m = /^\[(\w+)\] (\S+)$/.exec(line.trim());
  // unit-memo-off runs some unit files again with the vars memo off: not a suite of its own.
  if (!m || m[1] === 'unit-memo-off') continue;
  if (!projects.has(m[2])) projects.set(m[2], []);
  projects.get(m[2]).push(m[1]);
}
const problems = [];
for (const file of testFiles(join(root, 'test')).sort()) {
  const in_ = projects.get(file) ?? [];
  if (in_.length === 0) problems.push(`${file}: in neither suite (add it to vitest.config.ts)`);
  else if (in_.length > 1) problems.push(`${file}: in both suites (${in_.join(', ')})`);
}
if (problems.length) {
  console.error(`check:suites: every test file must be in exactly one suite:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
