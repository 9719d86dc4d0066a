import { defineConfig } from 'vitest/config';

// Three projects: unit tests need nothing but Node; integration tests start a real Consul agent
// on loopback (no root); lab tests drive real Consul, Nova and BMCs in network namespaces (root
// only) and run one file at a time, because they share one lab.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 } },
      { test: { name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000 } },
      {
        test: {
          name: 'lab',
          include: ['test/lab/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 900_000,
          globalSetup: ['test/lab/global-setup.ts'],
        },
      },
    ],
  },
});
