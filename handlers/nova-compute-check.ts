/**
 * Compute nodes' script check on the mgmt agent: is nova-compute running here? Passing: running;
 * critical: dead; warning: cannot tell (nova-ha reads it as unknown). The looking is
 * lib/systems/nova/compute-on-node.ts, shared with the remediation handler.
 */
import { EXIT, printStatus, runHandler } from '../lib/shared/handler.js';
import { novaComputeOnNode } from '../lib/systems/nova/compute-on-node.js';

void runHandler('nova-compute-check', 'check', [], async ({ config }) => {
  const { state, facts, problems, unconfigured } = await novaComputeOnNode(config.nova_compute);
  if (state === 'up') {
    printStatus(`OK: nova-compute: ${facts.join(', ')}`);
    return EXIT.ok;
  }
  if (unconfigured) {
    printStatus(`UNKNOWN: ${problems.join('; ')}`);
    return EXIT.warning;
  }
  const dead = state === 'down';
  printStatus(`${dead ? 'CRITICAL' : 'WARNING'}: nova-compute: ${problems.join('; ')}${facts.length ? ` (${facts.join(', ')})` : ''}`);
  return dead ? EXIT.critical : EXIT.warning;
});
