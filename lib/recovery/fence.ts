/**
 * Fence, force down, evacuate, mark fenced (design.md section 5), resumable: each step is
 * recorded before and after it runs, and a resumed worker skips the steps recorded done. Only a
 * power-off the BMC itself confirms unlocks the rest; otherwise the incident is held.
 */
import { evacuateInstances, evacuationSettings, type EvacuationNova, type MoveKind } from './evacuate.js';
import type { FenceRun } from './effects.js';
import { lastOutcome, withPhase, withStep, type Incident, type InstanceOutcome, type StepOutcome } from '../state/incident.js';
import { describeDump, type FenceEvidence } from '../decision/fence-evidence.js';
import type { VerifiedOff } from '../systems/power/ipmi.js';
import type { ComputeService } from '../systems/nova/index.js';
import type { Notification } from '../systems/notify/index.js';
import type { Runtime } from './runtime.js';

/** What fencing needs of Nova beyond the evacuation engine. */
export interface FenceNova extends EvacuationNova {
  getComputeService(host: string): Promise<ComputeService>;
  forceDown(serviceId: string, forcedDown: boolean): Promise<ComputeService>;
  disableService(serviceId: string, reason: string): Promise<ComputeService>;
}

/** What a power-off gets besides the host: a way to record each fence level's attempt, and what the decision knew. */
export interface PowerOffContext {
  readonly record: (step: string, outcome: StepOutcome, detail: string) => Promise<void>;
  readonly evidence?: FenceEvidence;
  readonly stillOwner: () => boolean;
}

/** The power-off step's detail when a crash dump defers it: the power-off then comes after the evacuation. */
export const DUMP_DEFERRED = 'deferred until the crash dump ends';

export interface FenceDeps {
  readonly runtime: Runtime;
  readonly nova: FenceNova;
  /** Power off and wait for the BMC (or a fence level) to report off. */
  readonly powerOff: (host: string, context: PowerOffContext) => Promise<VerifiedOff>;
  /** kdump awareness: wait for the host's dump to end, then power off (fence-levels.ts); without it, power off at once. */
  readonly powerOffAfterDump?: (host: string, context: PowerOffContext, deferredAt: number) => Promise<VerifiedOff>;
  readonly progress?: (done: number, total: number) => void;
  /** Evacuate again even if an earlier run finished the step (an operator retrying failed instances). */
  readonly rerunEvacuation?: boolean;
}

class StepFailed extends Error {}

/** A fence that goes on (an operator's fence or evacuate of a held incident) is no longer held. */
function withoutHold(incident: Incident): Incident {
  if (!incident.hold) return incident;
  const { hold: _hold, ...rest } = incident;
  return rest;
}

export const disabledReason = (incident: Pick<Incident, 'id'>): string => `nova-ha: fenced by incident ${incident.id}; run "nova-ha unfence" to return it to service`;

export async function fenceAndEvacuate(deps: FenceDeps, run: FenceRun): Promise<Incident> {
  const { runtime } = deps;
  const by = runtime.node;
  let incident = await run.change((i) => i);
  const log = runtime.logger.child({ host: run.host, incident: incident.id });

  /** Runs a step unless the incident already records it done; records it started, then done or failed. */
  const step = async (name: string, phase: Incident['phase'], body: () => Promise<string>, before: (i: Incident) => Incident = (i) => i): Promise<void> => {
    if (lastOutcome(incident, name) === 'done' && !(name === 'evacuate' && deps.rerunEvacuation)) return;
    if (!run.stillOwner()) throw new StepFailed(`lost the host lock before ${name}`);
    incident = await run.change((i) => withStep(before(withoutHold(withPhase(i, phase, Date.now(), by))), { at: Date.now(), step: name, outcome: 'started', by }));
    log.info('step-start', { step: name });
    try {
      const detail = await body();
      incident = await run.change((i) => withStep(i, { at: Date.now(), step: name, outcome: 'done', detail, by }));
      log.info('step-done', { step: name, detail });
    } catch (error) {
      const detail = (error as Error).message;
      incident = await run.change((i) => withStep(i, { at: Date.now(), step: name, outcome: 'failed', detail, by }));
      log.error('step-failed', { step: name, error: detail });
      throw new StepFailed(detail);
    }
  };

  const context: PowerOffContext = {
    record: async (name, outcome, detail) => {
      incident = await run.change((i) => withStep(i, { at: Date.now(), step: name, outcome, detail, by }));
      log.info(`${name}-${outcome}`, { step: name, detail });
    },
    stillOwner: run.stillOwner,
    ...(run.evidence ? { evidence: run.evidence } : {}),
  };
  try {
    // "fenceStarted" is written before the power-off is sent: from then on nothing but an operator powers the host on.
    await step('power-off', 'fencing', async () => {
      // A host writing a crash dump runs no instance: evacuate now, power off once the dump ends.
      if (run.evidence?.kdump) return `${DUMP_DEFERRED} (${describeDump(run.evidence.kdump)}); its instances are evacuated meanwhile`;
      const result = await deps.powerOff(run.host, context);
      if (!result.verified) throw new Error(result.detail);
      return result.detail;
    }, (i) => ({ ...i, fenceStarted: true }));
  } catch (error) {
    incident = await run.change((i) => ({ ...withPhase(i, 'held', Date.now(), by, 'fence not verified'), hold: { reason: `fence not verified: ${(error as Error).message}; nothing was evacuated`, needsOperator: true } }));
    runtime.notifier.notify(notification(incident, 'fence-failed', 'fence failed', 'held for an operator; nothing evacuated', `The power-off of ${run.host} could not be verified (${(error as Error).message}). Its instances may still run there, so none were evacuated.`));
    return incident;
  }

  try {
    let service: ComputeService | undefined;
    await step('force-down', 'forcing-down', async () => {
      service = await deps.nova.getComputeService(run.host);
      await deps.nova.forceDown(service.id, true);
      return `nova-compute service ${service.id} forced down`;
    });
    // Instances that fail after the engine's retries are reported, not retried forever: the step
    // ends, and an operator can run nova-ha evacuate again for what is left.
    await step('evacuate', 'evacuating', async () => {
      const outcomes = await move(deps, run, 'evacuation', incident);
      const counts = countOutcomes(outcomes);
      return `${counts.evacuated} evacuated, ${counts.skipped} skipped, ${counts.failed} failed, of ${outcomes.length}`;
    });
    await step('disable', incident.phase === 'fenced' ? 'fenced' : 'evacuating', async () => {
      service ??= await deps.nova.getComputeService(run.host);
      await deps.nova.disableService(service.id, disabledReason(incident));
      return `nova-compute service ${service.id} disabled and kept forced down`;
    });
    const deferred = incident.timeline.find((e) => e.step === 'power-off' && e.outcome === 'done' && e.detail?.startsWith(DUMP_DEFERRED));
    if (deferred) {
      try {
        await step('power-off-after-dump', 'evacuating', async () => {
          const result = await (deps.powerOffAfterDump ?? ((host, c) => deps.powerOff(host, c)))(run.host, context, deferred.at);
          if (!result.verified) throw new Error(result.detail);
          return result.detail;
        });
      } catch (error) {
        if (!(error instanceof StepFailed)) throw error;
        incident = await run.change((i) => ({ ...withPhase(i, 'held', Date.now(), by, 'power-off after the crash dump not verified'), hold: { reason: `its instances were evacuated while it wrote a crash dump, but the power-off after the dump was not verified: ${error.message}; it stays forced down and disabled`, needsOperator: true } }));
        runtime.notifier.notify(notification(incident, 'fence-failed', 'power-off after crash dump failed', 'held for an operator; instances evacuated', `${run.host} wrote a crash dump, so its instances were evacuated, but its power-off afterwards could not be verified (${error.message}). Power it off by hand.`));
        return incident;
      }
    }
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    // The host is fenced but a Nova step failed: the incident stays in its phase and is resumed
    // by the next evaluation (the policy resumes fence phases), without powering anything on.
    runtime.notifier.notify(notification(incident, 'evacuation-interrupted', 'fenced, evacuation interrupted', 'will retry', `${run.host} is powered off (verified), but ${error.message}. nova-ha retries at the next evaluation.`));
    return incident;
  }

  incident = await run.change((i) => withPhase(i, 'fenced', Date.now(), by, 'fenced, forced down, evacuated, disabled'));
  const instances = incident.instances ?? [];
  const counts = countOutcomes(instances);
  const failed = instances.filter((o) => o.outcome === 'failed');
  const what = `fenced; ${counts.evacuated} of ${instances.length} instances evacuated${counts.failed ? `, ${counts.failed} failed` : ''}`;
  const poweredOff = [...incident.timeline].reverse().find((e) => (e.step === 'power-off' || e.step === 'power-off-after-dump') && e.outcome === 'done')?.detail ?? '';
  const reason = `${incident.reason}. Power-off: ${poweredOff}; the nova-compute service is forced down and disabled${failed.length ? `; these instances need an operator: ${failed.map((o) => `${o.name || o.id} (${o.detail})`).join('; ')}` : ', and every instance was evacuated'}. It stays fenced until an operator runs: nova-ha unfence ${run.host}`;
  runtime.notifier.notify(notification(incident, failed.length ? 'evacuation-failed' : 'fenced', incident.cause === 'power-lost' ? 'power lost, did not come back' : 'failed', what, reason));
  return incident;
}

/** Evacuates (or live-migrates) with every outcome written to the incident as it happens. */
export async function move(deps: Pick<FenceDeps, 'runtime' | 'nova' | 'progress'>, run: FenceRun, kind: MoveKind, incident: Incident): Promise<InstanceOutcome[]> {
  return evacuateInstances({
    kind,
    nova: deps.nova,
    host: run.host,
    since: incident.openedAt,
    settings: evacuationSettings(deps.runtime.config),
    log: deps.runtime.logger.child({ host: run.host, incident: incident.id }),
    recorded: incident.instances ?? [],
    record: async (outcome) => {
      await run.change((i) => ({ ...i, instances: [...(i.instances ?? []).filter((o) => o.id !== outcome.id), outcome] }));
    },
    stillOwner: run.stillOwner,
    ...(deps.progress ? { progress: deps.progress } : {}),
  });
}

export function countOutcomes(outcomes: readonly InstanceOutcome[]): Record<'evacuated' | 'skipped' | 'failed' | 'migrated', number> {
  return {
    evacuated: outcomes.filter((o) => o.outcome === 'evacuated').length,
    migrated: outcomes.filter((o) => o.outcome === 'live-migrated').length,
    skipped: outcomes.filter((o) => o.outcome === 'skipped').length,
    failed: outcomes.filter((o) => o.outcome === 'failed').length,
  };
}

function notification(incident: Incident, event: string, summary: string, action: string, reason: string): Notification {
  return { host: incident.host, event, summary, action, reason, incidentId: incident.id, timeline: incident.timeline, instances: incident.instances ?? [] };
}
