import type { Command } from 'commander';
import { requireConfig } from '../../lib/config/load.js';
import { describeFragment, fragment, type Role } from '../../lib/consul-fragments.js';
import type { Option } from '../../lib/config/options.js';
import { SCHEMA } from '../../lib/config/schema.js';
import { NETWORKS, type Network } from '../../lib/model.js';
import { configPath } from '../../lib/config/load.js';
import { CliError } from '../errors.js';

export function register(program: Command): void {
  registerHelpers(program);
  program
    .command('consul-fragment')
    .description('print the Consul agent config fragment (watches and checks) for one role and network; used by install.sh')
    .requiredOption('--role <role>', 'controller or compute')
    .requiredOption('--network <network>', 'mgmt, storage or tenant')
    .requiredOption('--lib <dir>', 'where the compiled handlers are installed')
    .option('--node <path>', 'node binary Consul runs the handlers with', process.execPath)
    .action((options: { role: string; network: string; lib: string; node: string }) => {
      if (options.role !== 'controller' && options.role !== 'compute') throw new CliError(`--role must be controller or compute, found "${options.role}"`);
      if (!(NETWORKS as readonly string[]).includes(options.network)) throw new CliError(`--network must be one of ${NETWORKS.join(', ')}, found "${options.network}"`);
      const file = configPath(program.opts<{ config?: string }>().config);
      const config = requireConfig(file);
      console.log(JSON.stringify(fragment(options.role as Role, options.network as Network, config, { node: options.node, lib: options.lib, config: file }), null, 2));
    });
}

export function registerHelpers(program: Command): void {
  program
    .command('consul-fragment-summary')
    .description('one line saying what the fragment for a role and network registers; used by install.sh')
    .requiredOption('--role <role>', 'controller or compute')
    .requiredOption('--network <network>', 'mgmt, storage or tenant')
    .action((options: { role: string; network: string }) => {
      const file = configPath(program.opts<{ config?: string }>().config);
      console.log(describeFragment(fragment(options.role as Role, options.network as Network, requireConfig(file), { node: 'node', lib: '/', config: file })));
    });

  program
    .command('config-value <section> <key>')
    .description('print one option\'s value from the config (never a secret); used by install.sh')
    .action((section: string, key: string) => {
      const config = requireConfig(configPath(program.opts<{ config?: string }>().config)) as unknown as Record<string, Record<string, unknown>>;
      const option = (SCHEMA as Record<string, Record<string, Option<unknown>> | undefined>)[section]?.[key];
      if (!option) throw new CliError(`[${section}] ${key} is not an option nova-ha knows`);
      if (option.secret) throw new CliError(`[${section}] ${key} is a secret and is never printed`);
      const value = config[section]?.[key];
      console.log(Array.isArray(value) ? value.join(' ') : value instanceof URL ? value.href : value === undefined ? '' : String(value));
    });
}
