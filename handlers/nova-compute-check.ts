/**
 * Compute nodes' script check on the mgmt agent: is nova-compute running here? Passing: running;
 * critical: dead; warning: cannot tell (nova-ha reads it as unknown). The looking is
 * lib/systems/nova/compute-on-node.ts, shared with the remediation handler. The second line names
 * the repair key this node verifies requests with (a fingerprint), for nova-ha doctor to compare
 * with the controllers' key; the first line stays the status line lib/decision/checks.ts reads.
 */
import type { Config } from '../lib/config/load.js';
import { repairKeyLine } from '../lib/decision/checks.js';
import { repairKeyFingerprint } from '../lib/recovery/repair-request.js';
import { EXIT, printStatus, runHandler } from '../lib/shared/handler.js';
import { novaComputeOnNode } from '../lib/systems/nova/compute-on-node.js';

function repairKeys(config: Config): string {
  const { hmac_key: current, hmac_previous_key: previous } = config.remediation;
  if (current.isEmpty) return 'repair key none ([remediation] hmac_key is not set: repair requests are refused)';
  return repairKeyLine({ current: repairKeyFingerprint(current), ...(previous.isEmpty ? {} : { previous: repairKeyFingerprint(previous) }) });
}

void runHandler('nova-compute-check', 'check', [], async ({ config }) => {
  const { state, facts, problems, unconfigured } = await novaComputeOnNode(config.nova_compute);
  const keys = repairKeys(config);
  if (state === 'up') {
    printStatus(`OK: nova-compute: ${facts.join(', ')}\n${keys}`);
    return EXIT.ok;
  }
  if (unconfigured) {
    printStatus(`UNKNOWN: ${problems.join('; ')}\n${keys}`);
    return EXIT.warning;
  }
  const dead = state === 'down';
  printStatus(`${dead ? 'CRITICAL' : 'WARNING'}: nova-compute: ${problems.join('; ')}${facts.length ? ` (${facts.join(', ')})` : ''}\n${keys}`);
  return dead ? EXIT.critical : EXIT.warning;
});
