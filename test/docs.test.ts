// The user-facing docs hold together: the README stays an introduction, every
// relative link in the README, CONTRIBUTING, CHANGELOG and docs/ reaches a
// file, and the nginx recipe the README shows is the one the integration
// suite runs (test/package/deploy.test.ts takes it from docs/adapters.md).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseArgv } from '../src/cli/options.js';
import type { Command } from '../src/cli/options.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const pages = ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const read = (page: string): string => readFileSync(join(ROOT, page), 'utf8');

/** The fenced block that follows `<!-- recipe: NAME -->` in `text`. */
const recipe = (text: string, name: string): string | undefined =>
  new RegExp(`<!-- recipe: ${name} -->\\n\`\`\`\\w*\\n([^]*?)\\n\`\`\`\\n`).exec(text)?.[1];

/** Every file under `dir` (recursively) whose name ends in .ts, .js or .mjs. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|js|mjs)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

describe('the docs', () => {
  it('every rule in docs/conformance.md is named by a test title, and no rule is listed twice', () => {
    const ids = [...read('docs/conformance.md').matchAll(/^- \*\*([A-Z]+\d+)\*\*/gm)].map((m) => m[1]!);
    expect(ids.length).toBeGreaterThan(100);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    const titles: string[] = [];
    for (const file of sources(join(ROOT, 'test'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\b(?:it|describe|test)(?:\.\w+)*\(\s*(['"`])((?:(?!\1).)*)\1/g)) titles.push(m[2]!);
    }
    const named = (id: string): boolean => titles.some((t) => new RegExp(`(^|[^A-Za-z0-9])${id}([^0-9]|$)`).test(t));
    expect(ids.filter((id) => !named(id))).toEqual([]);
  });

  it('the README is at most 300 lines', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(300);
  });

  it('every relative link reaches a file, and none points outside the repository', () => {
    const broken: string[] = [];
    for (const page of pages) {
      for (const m of read(page).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!.split('#')[0]!;
        if (target === '' || /^[a-z]+:/.test(target)) continue;
        const file = join(ROOT, dirname(page), target);
        if (!file.startsWith(ROOT) || !existsSync(file)) broken.push(`${page}: ${m[1]}`);
      }
      if (read(page).includes('../shared/')) broken.push(`${page}: ../shared/`);
    }
    expect(broken).toEqual([]);
  });

  it('the README\'s nginx recipe is the one docs/adapters.md gives and the deploy test runs', () => {
    const readme = read('README.md');
    const adapters = read('docs/adapters.md');
    for (const name of ['fastcgi-socket', 'nginx-fastcgi']) {
      const block = recipe(adapters, name);
      expect(block, name).toBeDefined();
      expect(readme).toContain(`\n${block}\n`);
    }
  });

  it('O8 docs/production.md shows each operating option in a command line the CLI accepts', () => {
    // Every `tsgi …` line of its sh examples (continuation lines joined) parses as the CLI parses it.
    const lines: string[] = [];
    for (const block of read('docs/production.md').matchAll(/```sh\n([^]*?)```/g)) {
      for (const line of block[1]!.replace(/\\\n\s*/g, ' ').split('\n')) {
        const m = /^(?:npx )?tsgi (\w+) (.*?)( &)?$/.exec(line.trim());
        if (m !== null) lines.push(`${m[1]} ${m[2]}`);
      }
    }
    const servers = new Set(['http', 'fastcgi', 'uwsgi', 'scgi']);
    const used = new Set<string>();
    for (const line of lines) {
      const [command, ...args] = line.split(/\s+/);
      if (servers.has(command!)) {
        expect(() => parseArgv(command as Command, args), line).not.toThrow();
        for (const a of args) if (a.startsWith('--')) used.add(a === '--workers' && /:/.test(args[args.indexOf(a) + 1] ?? '') ? '--workers MIN:MAX' : a);
      } else used.add(`tsgi ${command}`);
    }
    for (const want of ['--metrics', 'tsgi status', 'tsgi reload', 'tsgi stop', 'tsgi scale', '--slow-log', '--max-memory', '--workers MIN:MAX', '--queue-timeout']) {
      expect([...used], want).toContain(want);
    }
  });
});
