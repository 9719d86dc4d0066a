import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { configPath, errorsOf, formatProblem, requireConfig } from '../../lib/config/load.js';
import { sudoersDropIn } from '../../lib/config/sudoers.js';
import { rootPathProblems, secureConfigFile, trustProblems } from '../../lib/config/trust.js';
import { localAccounts } from '../../lib/shared/accounts.js';
import { describeFragment, fragment, type Role } from '../../lib/systems/consul/fragments.js';
import { units } from '../../lib/systems/systemd/units.js';
import { NETWORKS } from '../../lib/decision/model.js';
import { CliError } from '../errors.js';

/** Single-quoted for the shell: install.sh evaluates these assignments. */
const quote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`;

interface PlanOptions {
  role: string;
  lib: string;
  out: string;
  node: string;
  binDir?: string;
  sudoersFile?: string;
  systemdDir?: string;
  agentUser?: string;
  consul?: string;
}

/**
 * What install.sh will do, decided here (as root) from a config that only root can have written:
 * this is where the sudo rule comes from, so a config, program or directory that another user
 * could change stops the install before anything is written.
 */
function untrusted(file: string, options: PlanOptions): string[] {
  const config = requireConfig(file);
  const lines = errorsOf(trustProblems(config, file, undefined, options.agentUser)).map((p) => `${file}: ${formatProblem(p)}`);
  lines.push(...rootPathProblems('the installed handlers', options.lib));
  lines.push(...rootPathProblems('the node binary (root runs nova-ha\'s CLI with it)', options.node));
  if (options.consul) lines.push(...rootPathProblems('the consul binary (install.sh runs it as root)', options.consul));
  if (options.binDir) lines.push(...rootPathProblems('the nova-ha command', options.binDir));
  if (options.sudoersFile) {
    lines.push(...rootPathProblems('the sudoers drop-in', options.sudoersFile));
    const name = basename(options.sudoersFile);
    if (/[.~]/.test(name) && dirname(options.sudoersFile).endsWith('sudoers.d')) lines.push(`${options.sudoersFile}: sudo ignores files in sudoers.d whose name contains "." or "~"; pass --sudoers-file with a plain name such as /etc/sudoers.d/nova-ha`);
  }
  const planned = units(options.role as Role, config, { node: options.node, lib: options.lib, config: file, user: options.agentUser ?? config.remediation.run_as });
  if (options.systemdDir && planned.length > 0) lines.push(...rootPathProblems('nova-ha\'s systemd services (systemd runs them, their ExecStartPre as root)', options.systemdDir));
  return lines;
}

export function register(program: Command): void {
  program
    .command('secure-config', { hidden: true })
    .description('give a config that only root can have written root:<agents\' group> 0640; used by install.sh')
    .requiredOption('--agent-user <user>', 'the Consul agents\' user')
    .action((options: { agentUser: string }) => {
      const agent = localAccounts().user(options.agentUser);
      if (!agent) throw new CliError(`user ${options.agentUser} does not exist`, 1);
      const done = secureConfigFile(configPath(program.opts<{ config?: string }>().config), agent);
      if (done) console.log(done);
    });

  program
    .command('install-plan')
    .description('check that root can trust the config and the install paths, write the Consul fragments, the sudoers drop-in and nova-ha\'s systemd services for a role into a directory, and print what install.sh needs as shell assignments; used by install.sh')
    .requiredOption('--role <role>', 'controller or compute')
    .requiredOption('--lib <dir>', 'where the compiled handlers are installed')
    .requiredOption('--out <dir>', 'directory for the rendered files (mgmt.json, storage.json, tenant.json, sudoers, units/)')
    .option('--node <path>', 'node binary Consul runs the handlers with', process.execPath)
    .option('--bin-dir <dir>', 'where the nova-ha command is installed')
    .option('--sudoers-file <path>', 'the sudoers drop-in (compute role)')
    .option('--systemd-dir <dir>', 'where install.sh writes nova-ha\'s opt-in services')
    .option('--consul <path>', 'the consul binary install.sh runs')
    .option('--agent-user <user>', 'the Consul agents\' user, which nova-ha\'s services run as (default: [remediation] run_as)')
    .action((options: PlanOptions) => {
      if (options.role !== 'controller' && options.role !== 'compute') throw new CliError(`--role must be controller or compute, found "${options.role}"`);
      const file = configPath(program.opts<{ config?: string }>().config);
      const problems = untrusted(file, options);
      if (problems.length > 0) throw new CliError(problems.join('\n'), 1);
      const config = requireConfig(file);
      if (config.DEFAULT.role !== options.role) throw new CliError(`${file} says role = ${config.DEFAULT.role ?? 'nothing'} but --role is ${options.role}`, 1);
      mkdirSync(options.out, { recursive: true });
      const agentUser = options.agentUser ?? config.remediation.run_as;
      const commands = options.role === 'compute' ? [config.remediation.restart_storage_network, config.remediation.restart_nova_compute].filter((argv) => argv.length > 0) : [];
      if (commands.length > 0) writeFileSync(join(options.out, 'sudoers'), sudoersDropIn(agentUser, commands), { mode: 0o600 });
      const values: Record<string, string> = {
        state_dir: config.DEFAULT.state_dir,
        log_file: config.DEFAULT.log_file,
        run_as: config.remediation.run_as,
        fencing: config.fencing.method,
        sudoers: commands.length > 0 ? join(options.out, 'sudoers') : '',
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
      const planned = units(options.role as Role, config, { node: options.node, lib: options.lib, config: file, user: agentUser });
      mkdirSync(join(options.out, 'units'), { recursive: true });
      for (const unit of planned) writeFileSync(join(options.out, 'units', `${unit.name}.service`), unit.text);
      values['units'] = planned.map((u) => u.name).join(',');
      console.log(Object.entries(values).map(([k, v]) => `plan_${k}=${quote(v)}`).join('\n'));
    });
}
