import type { Command } from 'commander';
import { configPath, requireConfig } from '../../lib/config/load.js';
import { addressOf, connect, describeConsulError } from '../../lib/consul/connect.js';
import { NETWORKS, type Network } from '../../lib/model.js';
import { CliError } from '../errors.js';

export function register(program: Command): void {
  program
    .command('agent-reload')
    .description("reload this node's Consul agent for one network (after its config changed); used by install.sh")
    .requiredOption('--network <network>', 'mgmt, storage or tenant')
    .action(async (options: { network: string }) => {
      if (!(NETWORKS as readonly string[]).includes(options.network)) throw new CliError(`--network must be one of ${NETWORKS.join(', ')}, found "${options.network}"`);
      const config = requireConfig(configPath(program.opts<{ config?: string }>().config));
      const network = options.network as Network;
      const address = addressOf(config, network);
      const client = connect(address, config.consul.timeout, config.consul.ca_file || undefined);
      try {
        await client.agent.reload();
      } catch (error) {
        throw new CliError(`the ${network} agent at ${address.url.href} did not reload (${describeConsulError(error)}); check [consul] ${network}_address and that the agent runs`, 1);
      }
      console.log(`reloaded the ${network} agent at ${address.url.href}`);
    });
}
