import type { Command } from 'commander';
import { fenceAndEvacuate } from '../../lib/fence.js';
import { handsFor } from '../../lib/hands-for.js';
import type { Incident } from '../../lib/incident.js';
import { bmcFor, powerOffVerified } from '../../lib/ipmi.js';
import { NovaClient } from '../../lib/nova/index.js';
import { asOperator, operatorEvacuate } from '../../lib/operator.js';
import { unfence } from '../../lib/unfence.js';
import { CliError } from '../errors.js';
import { progressPrinter } from '../progress.js';
import { cliRuntime } from './status.js';

function summary(incident: Incident): string {
  const instances = incident.instances ?? [];
  const lines = [`incident ${incident.id}: ${incident.phase}${incident.hold ? ` (${incident.hold.reason})` : ''}`];
  for (const o of instances) lines.push(`  ${o.name || o.id}  ${o.outcome}${o.to ? ` -> ${o.to}` : ''}${o.detail ? `  (${o.detail})` : ''}`);
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('fence <host>')
    .description('power HOST off (verified with its BMC), force it down in Nova, evacuate its instances and disable it; it stays fenced until unfence')
    .action(async (host: string) => {
      const runtime = cliRuntime(program, 'cli-fence');
      if (runtime.config.fencing.method !== 'ipmi') throw new CliError('[fencing] method is not ipmi: nova-ha cannot power hosts off; fence it yourself, then run nova-ha evacuate --confirm-fenced', 1);
      const out = progressPrinter();
      const nova = NovaClient.fromConfig(runtime.config, { logger: runtime.logger });
      const incident = await asOperator(runtime, host, 'fence', (run) => fenceAndEvacuate({ runtime, nova, powerOff: (h) => powerOffVerified(bmcFor(runtime.config, h), runtime.config.fencing.fence_timeout), progress: (d, t) => out.progress(d, t, 'instances evacuated') }, run));
      out.end();
      console.log(summary(incident));
      await runtime.notifier.flush(10_000);
      if (incident.phase !== 'fenced') process.exitCode = 1;
    });

  program
    .command('evacuate <host>')
    .description('evacuate the instances of HOST; refuses unless nova-ha fenced it or you state that you did (--confirm-fenced)')
    .option('--confirm-fenced', 'I powered HOST off or isolated it myself: its instances cannot be running there')
    .action(async (host: string, options: { confirmFenced?: boolean }) => {
      const runtime = cliRuntime(program, 'cli-evacuate');
      const out = progressPrinter();
      const nova = NovaClient.fromConfig(runtime.config, { logger: runtime.logger });
      const incident = await operatorEvacuate(runtime, { runtime, nova, progress: (d, t) => out.progress(d, t, 'instances evacuated') }, host, options.confirmFenced === true);
      out.end();
      console.log(summary(incident));
      await runtime.notifier.flush(10_000);
      if (incident.phase !== 'fenced') process.exitCode = 1;
    });

  program
    .command('unfence <host>')
    .description('return a fenced HOST to service once it is healthy and Nova has cleaned up its evacuated instances')
    .option('--timeout <seconds>', 'how long to wait for the host and for Nova', '900')
    .action(async (host: string, options: { timeout: string }) => {
      const runtime = cliRuntime(program, 'cli-unfence');
      const out = progressPrinter();
      const nova = NovaClient.fromConfig(runtime.config, { logger: runtime.logger });
      const closed = await unfence(runtime, handsFor(runtime), nova, host, { timeoutMs: Number(options.timeout) * 1000, say: out.say, progress: out.progress });
      out.end();
      console.log(closed ? `${host} is back in service; incident ${closed.id} closed` : `${host} is back in service (it had no open incident)`);
      await runtime.notifier.flush(10_000);
    });
}
