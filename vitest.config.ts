import { defineConfig } from 'vitest/config';

// Two suites; every test file belongs to exactly one (scripts/check-suites.mjs
// fails `npm test` otherwise).
//   unit         `npm test`: unit, protocol and in-process tests; under a minute.
//   integration  `npm run test:integration`: real nginx/Apache/fcgiwrap/systemd,
//                packing and installing the package, real tsgi processes (CLI,
//                master and workers, privileges) and the fuzz smoke.
const INTEGRATION = [
  'test/integration/**/*.test.ts',
  'test/package/**/*.test.ts',
  'test/server/privileged-files.test.ts',
  'test/server/privileges.test.ts',
  'test/bridges/cli.test.ts',
  'test/server/robustness.test.ts',
  'test/examples.test.ts',
  'test/cli.test.ts',
  'test/cli-options.test.ts',
  'test/fuzz/fuzz-targets.test.ts',
];

/**
 * The unit tests that decode requests, run a second time with the vars memo
 * off (TSGI_VARS_MEMO=0: every request decoded from scratch), so that both
 * ways give the same results. Part of `npm test`; not a suite of its own
 * (scripts/check-suites.mjs counts only unit and integration).
 */
const MEMO_OFF = [
  'test/protocol/**/*.test.ts',
  'test/fuzz/*.property.test.ts',
  'test/server/fastcgi.test.ts',
  'test/server/uwsgi.test.ts',
];

// TSGI_TEST_SLOWNESS (test/timing.ts) scales vitest's timeouts as it scales every test's waits.
const slowness = Number(process.env.TSGI_TEST_SLOWNESS) > 0 ? Number(process.env.TSGI_TEST_SLOWNESS) : 1;

export default defineConfig({
  test: {
    testTimeout: 30_000 * slowness,
    hookTimeout: 60_000 * slowness,
    // Real web servers and child processes: keep parallelism modest on 2 cores.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: INTEGRATION } },
      { extends: true, test: { name: 'integration', include: INTEGRATION } },
      { extends: true, test: { name: 'unit-memo-off', include: MEMO_OFF, env: { TSGI_VARS_MEMO: '0' } } },
    ],
  },
});
