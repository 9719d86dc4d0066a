/**
 * The lab test files in two groups that CI runs side by side, each on a lab of its own (two
 * vitest processes, prefixes nht and nhu): on two cores most of a lab test is waiting (for
 * Consul to see a failure, a confirmation window, a repair timeout, Nova's rebuilds), so two labs
 * nearly halve the suite's wall time. Balanced by the files' measured durations; a unit test
 * fails when a lab test file is in no group, or in both.
 */
export const LAB_GROUPS = {
  'lab-a': [
    'test/lab/recovery-fence.test.ts',
    'test/lab/recovery-paths.test.ts',
    'test/lab/nova-client.test.ts',
    'test/lab/agents.test.ts',
    'test/lab/links.test.ts',
    'test/lab/power.test.ts',
    'test/lab/guard.test.ts',
    'test/lab/down.test.ts',
    'test/lab/repair-reports.test.ts',
    'test/lab/privilege.test.ts',
    'test/lab/fence-agents.test.ts',
    'test/lab/kdump.test.ts',
    'test/lab/self-fence.test.ts',
  ],
  'lab-b': [
    'test/lab/recovery-consul.test.ts',
    'test/lab/evacuation.test.ts',
    'test/lab/acl.test.ts',
    'test/lab/demo.test.ts',
    'test/lab/operator.test.ts',
    'test/lab/nova-compute.test.ts',
    'test/lab/remediation.test.ts',
    'test/lab/watch-input.test.ts',
    'test/lab/safety.test.ts',
    'test/lab/secrets.test.ts',
  ],
} as const satisfies Record<string, readonly string[]>;

/** The prefix of each group's shared lab. */
export const GROUP_PREFIX: Record<keyof typeof LAB_GROUPS, string> = { 'lab-a': 'nht', 'lab-b': 'nhu' };
