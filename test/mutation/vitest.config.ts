import { defineConfig } from 'vitest/config';

// The unit tests that load lib/ in-process: Stryker measures which test covers which mutant, so
// tests that run the CLI or a handler as a child process (they run unmutated code) are left out.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    exclude: ['test/unit/simulate.test.ts', 'test/unit/handlers.test.ts'],
    testTimeout: 20_000,
  },
});
