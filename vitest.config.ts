import { defineConfig } from 'vitest/config';

/** The tests that decode requests: run a second time with the vars memo off, where every request is decoded from scratch. */
const MEMO_OFF = [
  'test/protocol/**/*.test.ts',
  'test/fuzz/*.property.test.ts',
  'test/fuzz/fuzz-targets.test.ts',
  'test/server/fastcgi.test.ts',
  'test/server/uwsgi.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Real web servers and child processes: keep parallelism modest on 2 cores.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'tsgi', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'vars-memo-off', include: MEMO_OFF, env: { TSGI_VARS_MEMO: '0' } } },
    ],
  },
});
