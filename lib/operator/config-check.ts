/**
 * check-config's findings for a file: the schema's, then what root trusts of it (the same
 * refusals as install.sh's, lib/config/trust.ts), then what only this machine can tell (the fence
 * agents installed and which leak a password, the watchdog device). nova-ha check-config prints
 * them; nova-ha doctor counts them.
 */
import { loadConfigFile, type ConfigProblem } from '../config/load.js';
import { trustProblems } from '../config/trust.js';
import { agentProblems } from '../systems/power/fence-agent.js';
import { watchdogProblems } from '../systems/watchdog/device.js';

export function configProblems(file: string): ConfigProblem[] {
  const loaded = loadConfigFile(file);
  return [...loaded.problems, ...(loaded.config ? [...trustProblems(loaded.config, file), ...agentProblems(loaded.config), ...watchdogProblems(loaded.config)] : [])];
}
