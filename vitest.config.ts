import { defineConfig } from 'vitest/config';
import { LAB_GROUPS } from './test/lab/groups.js';

// Unit tests need nothing but Node; integration tests start a real Consul agent on loopback (no
// root); lab tests drive real Consul, Nova and BMCs in network namespaces (root only) and run one
// file at a time on one shared lab: every file in project 'lab', or one group of them per
// project 'lab-a' / 'lab-b', which scripts/test.sh runs side by side, each on its own lab.
const lab = (name: string, include: readonly string[]) => ({
  test: { name, include: [...include], fileParallelism: false, testTimeout: 600_000, hookTimeout: 900_000, globalSetup: ['test/lab/global-setup.ts'] },
});
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 } },
      { test: { name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000 } },
      lab('lab', ['test/lab/**/*.test.ts']),
      ...Object.entries(LAB_GROUPS).map(([name, files]) => lab(name, files)),
    ],
  },
});
