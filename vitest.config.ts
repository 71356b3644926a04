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
    ],
  },
});
