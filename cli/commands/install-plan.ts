import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { configPath, requireConfig } from '../../lib/config/load.js';
import { describeFragment, fragment, type Role } from '../../lib/systems/consul/fragments.js';
import { units } from '../../lib/systems/systemd/units.js';
import { NETWORKS } from '../../lib/decision/model.js';
import { CliError } from '../errors.js';

/** Single-quoted for the shell: install.sh evaluates these assignments. */
const quote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`;

export function register(program: Command): void {
  program
    .command('install-plan')
    .description('write the Consul fragments for a role into a directory and print what install.sh needs as shell assignments; used by install.sh')
    .requiredOption('--role <role>', 'controller or compute')
    .requiredOption('--lib <dir>', 'where the compiled handlers are installed')
    .requiredOption('--out <dir>', 'directory for the rendered fragments (mgmt.json, storage.json, tenant.json)')
    .option('--node <path>', 'node binary Consul runs the handlers with', process.execPath)
    .option('--user <name>', 'the Consul agents\' user, which nova-ha\'s services run as (default: [remediation] run_as)')
    .action((options: { role: string; lib: string; out: string; node: string; user?: string }) => {
      if (options.role !== 'controller' && options.role !== 'compute') throw new CliError(`--role must be controller or compute, found "${options.role}"`);
      const file = configPath(program.opts<{ config?: string }>().config);
      const config = requireConfig(file);
      if (config.DEFAULT.role !== options.role) throw new CliError(`${file} says role = ${config.DEFAULT.role ?? 'nothing'} but --role is ${options.role}`, 1);
      mkdirSync(options.out, { recursive: true });
      const values: Record<string, string> = {
        state_dir: config.DEFAULT.state_dir,
        log_file: config.DEFAULT.log_file,
        run_as: config.remediation.run_as,
        fencing: config.fencing.method,
        cmd_storage: config.remediation.restart_storage_network.join(' '),
        cmd_nova: config.remediation.restart_nova_compute.join(' '),
        scripts: '',
        units: '',
      };
      for (const network of NETWORKS) {
        const f = fragment(options.role as Role, network, config, { node: options.node, lib: options.lib, config: file });
        writeFileSync(join(options.out, `${network}.json`), `${JSON.stringify(f, null, 2)}\n`);
        values[`summary_${network}`] = describeFragment(f);
        if (f['enable_local_script_checks'] === true) values['scripts'] = [values['scripts'], network].filter(Boolean).join(',');
      }
      // The long-running parts (the watchdog feeder, the fence_kdump listener), as systemd services.
      const planned = units(options.role as Role, config, { node: options.node, lib: options.lib, config: file, user: options.user ?? config.remediation.run_as });
      mkdirSync(join(options.out, 'units'), { recursive: true });
      for (const unit of planned) writeFileSync(join(options.out, 'units', `${unit.name}.service`), unit.text);
      values['units'] = planned.map((u) => u.name).join(',');
      console.log(Object.entries(values).map(([k, v]) => `plan_${k}=${quote(v)}`).join('\n'));
    });
}
