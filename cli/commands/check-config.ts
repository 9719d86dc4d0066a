import type { Command } from 'commander';
import { configPath, errorsOf, formatProblem } from '../../lib/config/load.js';
import { renderReference, renderSample } from '../../lib/config/sample.js';
import { configProblems } from '../../lib/operator/config-check.js';

export function register(program: Command): void {
  program
    .command('check-config')
    .description('validate the config file: one line per problem; exit 0 when valid')
    .action(() => {
      const file = configPath(program.opts<{ config?: string }>().config);
      const problems = configProblems(file);
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
