import { defineConfig } from 'vitest/config';

// One test file at a time: the native tests and the emulated device are timing-sensitive and
// the machines this runs on have 2 cores.
export default defineConfig({
  test: {
    include: ['xsched-bridge/test/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    globalSetup: ['xsched-bridge/test/global-setup.ts'],
    setupFiles: ['xsched-bridge/test/setup.ts'],
  },
});
