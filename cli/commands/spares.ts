import type { Command } from 'commander';
import { listSpares, returnSpare, type SpareRow } from '../../lib/operator/spares.js';
import { NovaClient } from '../../lib/systems/nova/index.js';
import { CliError } from '../errors.js';
import { table } from '../table.js';
import { cliRuntime } from './status.js';

const operator = (): string => process.env['SUDO_USER'] ?? process.env['USER'] ?? 'operator';

function lentCell(row: SpareRow): string {
  if (!row.claim) return 'free';
  const state = row.claim.enabledAt === undefined ? 'being lent' : row.claim.returnRequested ? 'to give back' : 'lent';
  return `${state}: incident ${row.claim.incident} (${row.claim.host})`;
}

export function register(program: Command): void {
  const spares = program
    .command('spares')
    .description('list the spare hosts ([capacity] spare_hosts): free or lent to which incident, and the instances on each')
    .action(async () => {
      const runtime = cliRuntime(program, 'cli-spares');
      const rows = await listSpares(runtime, NovaClient.fromConfig(runtime.config, { logger: runtime.logger }));
      if (rows.length === 0) {
        console.log('no spare hosts: set [capacity] spare_hosts to keep some');
        return;
      }
      console.log(table(rows.map((r) => [r.spare + (r.configured ? '' : ' (not in spare_hosts)'), r.service, String(r.instances ?? 'unknown'), lentCell(r)]), ['SPARE', 'NOVA', 'INSTANCES', 'LENT']));
    });

  spares
    .command('return <host>')
    .description('give a lent spare HOST back once no instance is left on it: out of the aggregates nova-ha added it to, disabled, claim deleted')
    .action(async (host: string) => {
      const runtime = cliRuntime(program, 'cli-spares-return');
      const result = await returnSpare(runtime, NovaClient.fromConfig(runtime.config, { logger: runtime.logger }), host, `${runtime.node} (${operator()})`);
      if (!result.returned) throw new CliError(result.detail, 1);
      console.log(result.detail);
    });
}
