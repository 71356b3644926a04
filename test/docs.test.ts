// The user-facing docs hold together: the README stays an introduction, every
// relative link in the README, CONTRIBUTING, CHANGELOG and docs/ reaches a
// file, and the nginx recipe the README shows is the one the integration
// suite runs (test/package/deploy.test.ts takes it from docs/adapters.md).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const pages = ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const read = (page: string): string => readFileSync(join(ROOT, page), 'utf8');

/** The fenced block that follows `<!-- recipe: NAME -->` in `text`. */
const recipe = (text: string, name: string): string | undefined =>
  new RegExp(`<!-- recipe: ${name} -->\\n\`\`\`\\w*\\n([^]*?)\\n\`\`\`\\n`).exec(text)?.[1];

describe('the docs', () => {
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
});
