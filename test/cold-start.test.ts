// CGI start-up (docs/design.md, "Cold start"): loading tsgi's bundle must not
// load the Node built-ins that only the servers need; each costs a CGI
// request time at every start. Timing is `npm run bench:cgi`'s job; this
// checks the cause.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const LOAD = new URL('../lib/load.cjs', import.meta.url).pathname;

describe('cold start', () => {
  it('CGI3 loading the bundle loads none of net, http, child_process, stream, worker_threads', () => {
    // The list is taken before process.stdout is touched: a piped stdout loads net itself.
    const script = `const before = new Set(process.moduleLoadList); require(${JSON.stringify(LOAD)});
      const added = JSON.stringify(process.moduleLoadList.filter((m) => !before.has(m)));
      process.stdout.write(added);`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const loaded: string[] = JSON.parse(r.stdout);
    for (const name of ['net', 'http', 'child_process', 'stream', 'worker_threads', 'dgram']) {
      expect(loaded, name).not.toContain(`NativeModule ${name}`);
    }
  });
});
