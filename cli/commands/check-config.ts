import type { Command } from 'commander';
import { configPath, errorsOf, formatProblem, loadConfigFile } from '../../lib/config/load.js';
import { renderReference, renderSample } from '../../lib/config/sample.js';
import { trustProblems } from '../../lib/config/trust.js';
import { agentProblems } from '../../lib/systems/power/fence-agent.js';
import { watchdogProblems } from '../../lib/systems/watchdog/device.js';

export function register(program: Command): void {
  program
    .command('check-config')
    .description('validate the config file: one line per problem; exit 0 when valid')
    .action(() => {
      const file = configPath(program.opts<{ config?: string }>().config);
      const loaded = loadConfigFile(file);
      // Root trusts this file and what it names: the same refusals as install.sh's (lib/config/trust.ts).
      // And what only this machine can tell: the fence agents installed (and which leak a password), the watchdog device.
      const problems = [...loaded.problems, ...(loaded.config ? [...trustProblems(loaded.config, file), ...agentProblems(loaded.config), ...watchdogProblems(loaded.config)] : [])];
      for (const problem of problems) console.log(`${file}: ${formatProblem(problem)}`);
      const errors = errorsOf(problems).length;
      if (errors > 0) {
        console.log(`${file}: ${errors} problem${errors === 1 ? '' : 's'}; nova-ha will not start with this file`);
        process.exitCode = 1;
      } else {
        const warnings = problems.length;
        console.log(`${file}: valid${warnings ? ` (${warnings} warning${warnings === 1 ? '' : 's'})` : ''}`);
      }
    });

  program
    .command('config-reference')
    .description('print the config reference (Markdown) generated from the schema')
    .action(() => {
      process.stdout.write(renderReference());
    });

  program
    .command('config-sample')
    .description('print the commented sample config (every option, its default and meaning)')
    .action(() => {
      process.stdout.write(renderSample());
    });
}
