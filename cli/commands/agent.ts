import type { Command } from 'commander';
import { configPath, requireConfig } from '../../lib/config/load.js';
import { addressOf, connect, describeConsulError } from '../../lib/systems/consul/connect.js';
import { NETWORKS, type Network } from '../../lib/decision/model.js';
import { CliError } from '../errors.js';

export function register(program: Command): void {
  program
    .command('agent-reload')
    .description("reload this node's Consul agent for one network (after its config changed); used by install.sh")
    .requiredOption('--network <networks>', 'mgmt, storage or tenant; several separated by commas')
    .option('--needs-scripts <networks>', 'networks whose new config runs script checks: exit 3 if such an agent must be restarted first', '')
    .option('--check-only', 'only check (exit 3 when a restart is needed); do not reload')
    .action(async (options: { network: string; needsScripts: string; checkOnly?: boolean }) => {
      const networks = options.network.split(',').filter(Boolean);
      const wrong = networks.find((n) => !(NETWORKS as readonly string[]).includes(n));
      if (wrong !== undefined || networks.length === 0) throw new CliError(`--network must be among ${NETWORKS.join(', ')}, found "${wrong ?? options.network}"`);
      const config = requireConfig(configPath(program.opts<{ config?: string }>().config));
      const needsScripts = new Set(options.needsScripts.split(',').filter(Boolean));
      for (const network of networks as Network[]) {
        const address = addressOf(config, network);
        const client = connect(address, config.consul.timeout, config.consul.ca_file || undefined);
        const self = await waitForAgent(client, network, address.url.href);
        // Consul reads enable_local_script_checks only at start: a reload would fail on the new checks.
        if (needsScripts.has(network) && self.DebugConfig?.EnableLocalScriptChecks === false) {
          throw new CliError(`the ${network} agent at ${address.url.href} does not run script checks yet and enable_local_script_checks is not reloadable: restart that agent once`, 3);
        }
        if (options.checkOnly) continue;
        try {
          await client.agent.reload();
        } catch (error) {
          throw new CliError(`the ${network} agent at ${address.url.href} did not reload (${describeConsulError(error)}); check [consul] ${network}_address and that the agent runs`, 1);
        }
        console.log(`reloaded the ${network} agent at ${address.url.href}`);
      }
    });
}

interface AgentSelf {
  readonly DebugConfig?: { readonly EnableLocalScriptChecks?: boolean };
}

/** The agent's self description; waits up to 30 s for an agent that is (re)starting. */
async function waitForAgent(client: ReturnType<typeof connect>, network: string, where: string): Promise<AgentSelf> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return (await client.agent.self()) as AgentSelf;
    } catch (error) {
      if (Date.now() > deadline) throw new CliError(`the ${network} agent at ${where} does not answer (${describeConsulError(error)}); check [consul] ${network}_address and that the agent runs`, 1);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
