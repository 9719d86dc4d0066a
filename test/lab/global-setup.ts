/**
 * One lab for the whole lab test run (prefix nht, 4 computes, with Nova and nova-ha), handed to the tests by
 * provide/inject and taken down at the end. NOVA_HA_LAB_KEEP=1 (for development) reuses a
 * running nht lab and leaves it up afterwards; NOVA_HA_LAB_SHARED=off leaves it alone altogether.
 */
import type { TestProject } from 'vitest/node';
import { Lab } from '../../lab/lab.js';
import { NovaLab } from '../../lab/nova.js';
import { installNovaHa } from '../../lab/nova-ha.js';

/** NOVA_HA_TEST_LAB_PREFIX runs the suite on a lab of another name (beside a lab kept for development). */
export const TEST_LAB_PREFIX = process.env['NOVA_HA_TEST_LAB_PREFIX'] ?? 'nht';
const TEST_LAB_COMPUTES = 4;

declare module 'vitest' {
  export interface ProvidedContext {
    labPrefix: string;
  }
}

const log = (message: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 23)} lab: ${message}\n`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // For a run of tests that bring up their own lab (acl.test.ts): the shared lab is neither built
  // nor taken down, since others may be using it; tests that need it fail instead of touching it.
  if (process.env['NOVA_HA_LAB_SHARED'] === 'off') {
    log(`NOVA_HA_LAB_SHARED=off: lab ${TEST_LAB_PREFIX} is left alone; only tests with their own lab can run`);
    return () => Promise.resolve();
  }
  const keep = process.env['NOVA_HA_LAB_KEEP'] === '1';
  let reuse = false;
  if (await Lab.exists(TEST_LAB_PREFIX)) {
    if (keep) {
      const lab = await Lab.attach(TEST_LAB_PREFIX, log);
      if (lab.computes.length < TEST_LAB_COMPUTES) throw new Error(`lab ${TEST_LAB_PREFIX} has ${lab.computes.length} computes, the tests need ${TEST_LAB_COMPUTES}: npx tsx lab/cli.ts down --prefix ${TEST_LAB_PREFIX}`);
      log(`reusing the running lab ${TEST_LAB_PREFIX} (NOVA_HA_LAB_KEEP=1)`);
      await lab.waitForHealthy(120_000);
      reuse = true;
    } else {
      // Our own prefix, left over from a crashed run: nobody else's lab.
      log(`lab ${TEST_LAB_PREFIX} is left over from an earlier run: taking it down`);
      await Lab.down(TEST_LAB_PREFIX, log);
    }
  }
  if (!reuse) await Lab.up({ prefix: TEST_LAB_PREFIX, computes: TEST_LAB_COMPUTES, log });
  // The whole cloud: Nova with its nova-computes inside the compute namespaces, then nova-ha
  // installed into every node with install.sh, as an operator would.
  const nova = new NovaLab({ prefix: TEST_LAB_PREFIX, computes: TEST_LAB_COMPUTES });
  if (!nova.isUp()) {
    const t = Date.now();
    await nova.up();
    await nova.seed();
    log(`Nova up and seeded in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  }
  const t = Date.now();
  await installNovaHa({ prefix: TEST_LAB_PREFIX, computes: TEST_LAB_COMPUTES }, { fencing: 'ipmi' });
  log(`nova-ha installed on every node in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  project.provide('labPrefix', TEST_LAB_PREFIX);
  return async () => {
    if (keep) log(`leaving lab ${TEST_LAB_PREFIX} up (NOVA_HA_LAB_KEEP=1); take it down with npx tsx lab/cli.ts down --prefix ${TEST_LAB_PREFIX}`);
    else await Lab.down(TEST_LAB_PREFIX, log);
  };
}
