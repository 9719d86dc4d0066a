import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * Runs the Nova lab tests against a lab you run yourself, without the lab project's global
 * setup (which brings up, and at the end takes down, the shared test lab):
 *
 *   NOVA_LAB_PREFIX=nhn npx vitest run -c test/lab/own-lab.vitest.config.ts
 */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/lab/nova-*.test.ts'],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 900_000,
  },
});
