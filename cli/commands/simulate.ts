import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { configPath, errorsOf, formatProblem, loadConfigFile, parseConfig, type Config } from '../../lib/config/load.js';
import { decide, settingsFromConfig, stormOf } from '../../lib/decision/policy.js';
import { parseSnapshot } from '../../lib/decision/snapshot.js';
import { CliError } from '../errors.js';
import { table } from '../table.js';

export function register(program: Command): void {
  program
    .command('simulate')
    .description('print the decision and its reason for every host in JSON files of observations (nothing is done to any host)')
    .requiredOption('--observations <files...>', 'observations JSON files (see examples/)')
    .option('--json', 'machine-readable output')
    .action((options: { observations: string[]; json?: boolean }) => {
      const settings = settingsFromConfig(policyConfig(program.opts<{ config?: string }>().config));
      const results = options.observations.map((file) => {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (error) {
          throw new CliError(`${file}: cannot read the observations file (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
        }
        const snapshot = parseSnapshot(text, file);
        const description = (JSON.parse(text) as { description?: unknown }).description;
        return {
          file,
          ...(typeof description === 'string' ? { description } : {}),
          storm: stormOf(snapshot.context, settings.stormLimit) ?? null,
          decisions: snapshot.hosts.map((host) => ({ host: host.host, ...decide(host, snapshot.context, settings) })),
        };
      });
      if (options.json) {
        console.log(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
        return;
      }
      console.log(results.map((r) => [
        `${r.file}${r.description ? `: ${r.description}` : ''}`,
        ...(r.storm ? [`  cluster: ${r.storm}`] : []),
        table(r.decisions.map((d) => [d.host, d.action, d.cause, d.reason]), ['HOST', 'ACTION', 'CAUSE', 'REASON']).replace(/^/gm, '  '),
      ].join('\n')).join('\n\n'));
    });
}

/** The policy settings come from --config (or NOVA_HA_CONFIG); without either, the defaults. */
function policyConfig(explicit: string | undefined): Config {
  if (explicit === undefined && process.env['NOVA_HA_CONFIG'] === undefined) return parseConfig('').config!;
  const file = configPath(explicit);
  const { config, problems } = loadConfigFile(file);
  const errors = errorsOf(problems);
  if (!config || errors.length > 0) throw new CliError(`${file}: ${errors.map(formatProblem).join('; ')} (run: nova-ha check-config --config ${file})`);
  return config;
}
