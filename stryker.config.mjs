// Mutation testing of the decision, recovery and safety code (scripts/mutation.sh): each mutant
// is a small breakage of the code; a mutant no unit test notices is a gap in the tests.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'test/mutation/vitest.config.ts' },
  checkers: [],
  coverageAnalysis: 'perTest',
  mutate: [
    'lib/decision/**/*.ts',
    'lib/recovery/**/*.ts',
    'lib/state/incident.ts',
    'lib/state/incident-store.ts',
    'lib/state/world.ts',
    'lib/state/clusters.ts',
    'lib/operator/as-operator.ts',
    'lib/operator/unfence.ts',
    'lib/systems/consul/lock.ts',
  ],
  ignorePatterns: ['lab/run', 'dist', '.cache', 'bench'],
  // The unit tests wait on timers more than they compute (a fence's first look at Nova, a
  // worker's poll): six runners keep two cores busy, two left them mostly idle.
  concurrency: 6,
  timeoutMS: 5000,
  thresholds: { high: 90, low: 80, break: null },
  reporters: ['clear-text', 'progress-append-only', 'json'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // Reruns test only the mutants whose code or tests changed since the last run.
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
