import { defineConfig } from 'vitest/config';

// Unit tests need nothing but Node; integration tests start a real Consul agent on loopback (no
// root); lab tests drive real Consul, Nova and BMCs in network namespaces (root only). The lab
// tests run one file at a time on one shared lab (two labs side by side on two cores were
// CPU-bound and slower); the demo brings up a lab of its own, so it is a project of its own,
// run before the shared lab is built.
const DEMO = 'test/lab/demo.test.ts';
// Its own small lab of Consul agents only, no Nova: light enough to run beside the demo.
const ACL = 'test/lab/acl.test.ts';
const lab = { fileParallelism: false, testTimeout: 600_000, hookTimeout: 900_000 };
export default defineConfig({
  test: {
    projects: [
      // Four files at a time on any machine: the unit tests mostly wait on timers (a worker's poll,
      // a fence's first look at Nova), so on two cores one file at a time (the default there) took
      // 358 s and four at a time 108 s, for the same 55 CPU-s.
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000, maxWorkers: 4 } },
      { test: { name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000 } },
      { test: { name: 'demo', include: [DEMO], ...lab } },
      { test: { name: 'acl', include: [ACL], ...lab } },
      { test: { name: 'lab', include: ['test/lab/**/*.test.ts'], exclude: [DEMO, ACL], ...lab, globalSetup: ['test/lab/global-setup.ts'] } },
    ],
  },
});
