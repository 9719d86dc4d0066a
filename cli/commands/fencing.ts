import type { Command } from 'commander';
import { fenceAndEvacuate } from '../../lib/recovery/fence.js';
import { capacityStep, controllerEffects, fencePower } from '../../lib/recovery/controller-effects.js';
import type { Incident } from '../../lib/state/incident.js';
import { retryLine } from './status.js';
import { NovaClient } from '../../lib/systems/nova/index.js';
import { asOperator, operatorEvacuate } from '../../lib/operator/as-operator.js';
import { unfence } from '../../lib/operator/unfence.js';
import { CliError } from '../errors.js';
import { progressPrinter } from '../progress.js';
import type { Runtime } from '../../lib/recovery/runtime.js';
import { cliRuntime } from './status.js';

function summary(incident: Incident): string {
  const instances = incident.instances ?? [];
  const lines = [`incident ${incident.id}: ${incident.phase}${incident.hold ? ` (${incident.hold.reason})` : ''}`];
  for (const o of instances) lines.push(`  ${o.name || o.id}  ${o.outcome}${o.to ? ` -> ${o.to}` : ''}${o.detail ? `  (${o.detail})` : ''}`);
  for (const h of incident.held ?? []) lines.push(`  ${h.name || h.id}  held  (${h.reason})`);
  const estimate = incident.timeline.findLast((e) => e.step === 'capacity');
  if (estimate) lines.push(`capacity: ${estimate.outcome === 'skipped' ? 'not estimated: ' : ''}${estimate.detail ?? ''}`);
  const retry = retryLine(incident);
  if (retry) lines.push(retry);
  return lines.join('\n');
}

/** Runs a fence or an evacuation with progress on the terminal, then prints its outcome; exit 1 unless fenced with no instance failed. */
async function withProgress(runtime: Runtime, work: (runtime: Runtime, nova: NovaClient, progress: (done: number, total: number) => void) => Promise<Incident>): Promise<void> {
  const out = progressPrinter();
  const incident = await work(runtime, NovaClient.fromConfig(runtime.config, { logger: runtime.logger }), (done, total) => out.progress(done, total, 'instances evacuated'));
  out.end();
  console.log(summary(incident));
  await runtime.notifier.flush(10_000);
  if (incident.phase !== 'fenced' || (incident.instances ?? []).some((o) => o.outcome === 'failed') || (incident.held ?? []).length > 0) process.exitCode = 1;
}

export function register(program: Command): void {
  program
    .command('fence <host>')
    .description('power HOST off (verified with its BMC), force it down in Nova, evacuate its instances and disable it; it stays fenced until unfence')
    .action(async (host: string) => {
      await withProgress(cliRuntime(program, 'cli-fence'), (runtime, nova, progress) => {
        const power = fencePower(runtime);
        if (!power) throw new CliError('[fencing] method is none, or ipmi with no BMC configured ([ipmi]): nova-ha cannot power hosts off; fence it yourself, then run nova-ha evacuate --confirm-fenced', 1);
        const capacity = capacityStep(runtime, nova);
        return asOperator(runtime, host, 'fence', (run) => fenceAndEvacuate({ runtime, nova, progress, ...power, ...(capacity ? { capacity } : {}) }, run));
      });
    });

  program
    .command('evacuate <host>')
    .description('evacuate the instances of HOST; refuses unless nova-ha fenced it or you state that you did (--confirm-fenced)')
    .option('--confirm-fenced', 'I powered HOST off or isolated it myself: its instances cannot be running there')
    .option('--ignore-capacity', 'call Nova for every instance, even those the estimate of the room ([capacity] check) would hold')
    .action(async (host: string, options: { confirmFenced?: boolean; ignoreCapacity?: boolean }) => {
      await withProgress(cliRuntime(program, 'cli-evacuate'), (runtime, nova, progress) => {
        const capacity = capacityStep(runtime, nova, options.ignoreCapacity ? 'the operator asked for every instance (--ignore-capacity)' : undefined);
        return operatorEvacuate(runtime, { runtime, nova, progress, ...fencePower(runtime), ...(capacity ? { capacity } : {}) }, host, options.confirmFenced === true);
      });
    });

  program
    .command('unfence <host>')
    .description('return a fenced HOST to service once it is healthy and Nova has cleaned up its evacuated instances')
    .option('--timeout <seconds>', 'how long to wait for the host and for Nova', '900')
    .action(async (host: string, options: { timeout: string }) => {
      const runtime = cliRuntime(program, 'cli-unfence');
      const out = progressPrinter();
      const nova = NovaClient.fromConfig(runtime.config, { logger: runtime.logger });
      const closed = await unfence(runtime, controllerEffects(runtime), nova, host, { timeoutMs: Number(options.timeout) * 1000, say: out.say, progress: out.progress });
      out.end();
      const note = closed?.timeline.findLast((e) => e.step === 'unfence nova')?.detail ?? '';
      console.log(`${host} is unfenced${closed ? `; incident ${closed.id} closed` : ' (it had no open incident)'}${note ? `: ${note}` : ''}`);
      await runtime.notifier.flush(10_000);
    });
}
