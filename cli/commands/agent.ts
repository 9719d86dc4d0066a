import type { Command } from 'commander';
import { configPath, requireConfig } from '../../lib/config/load.js';
import { addressOf, connect, describeConsulError } from '../../lib/consul/connect.js';
import { NETWORKS, type Network } from '../../lib/model.js';
import { CliError } from '../errors.js';

export function register(program: Command): void {
  program
    .command('agent-reload')
    .description("reload this node's Consul agent for one network (after its config changed); used by install.sh")
    .requiredOption('--network <networks>', 'mgmt, storage or tenant; several separated by commas')
    .action(async (options: { network: string }) => {
      const networks = options.network.split(',').filter(Boolean);
      const wrong = networks.find((n) => !(NETWORKS as readonly string[]).includes(n));
      if (wrong !== undefined || networks.length === 0) throw new CliError(`--network must be among ${NETWORKS.join(', ')}, found "${wrong ?? options.network}"`);
      const config = requireConfig(configPath(program.opts<{ config?: string }>().config));
      for (const network of networks as Network[]) {
        const address = addressOf(config, network);
        const client = connect(address, config.consul.timeout, config.consul.ca_file || undefined);
        try {
          await client.agent.reload();
        } catch (error) {
          throw new CliError(`the ${network} agent at ${address.url.href} did not reload (${describeConsulError(error)}); check [consul] ${network}_address and that the agent runs`, 1);
        }
        console.log(`reloaded the ${network} agent at ${address.url.href}`);
      }
    });
}
