import type { Command } from 'commander';
import { requireConfig } from '../../lib/config/load.js';
import { fragment, redactTokens, type Role } from '../../lib/systems/consul/fragments.js';
import { NETWORKS, type Network } from '../../lib/decision/model.js';
import { configPath } from '../../lib/config/load.js';
import { CliError } from '../errors.js';

export function register(program: Command): void {
  program
    .command('consul-fragment')
    .description('print the Consul agent config fragment (watches and checks) nova-ha registers for one role and network')
    .requiredOption('--role <role>', 'controller or compute')
    .requiredOption('--network <network>', 'mgmt, storage or tenant')
    .requiredOption('--lib <dir>', 'where the compiled handlers are installed')
    .option('--node <path>', 'node binary Consul runs the handlers with', process.execPath)
    .action((options: { role: string; network: string; lib: string; node: string }) => {
      if (options.role !== 'controller' && options.role !== 'compute') throw new CliError(`--role must be controller or compute, found "${options.role}"`);
      if (!(NETWORKS as readonly string[]).includes(options.network)) throw new CliError(`--network must be one of ${NETWORKS.join(', ')}, found "${options.network}"`);
      const file = configPath(program.opts<{ config?: string }>().config);
      const config = requireConfig(file);
      const network = options.network as Network;
      // A preview for a terminal: the tokens install.sh writes into the agent's config are not shown.
      console.log(JSON.stringify(redactTokens(fragment(options.role as Role, network, config, { node: options.node, lib: options.lib, config: file }), network), null, 2));
    });
}

