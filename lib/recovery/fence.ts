/**
 * Fence, force down, evacuate, mark fenced (design.md section 5), resumable: each step is
 * recorded before and after it runs, and a resumed worker skips the steps recorded done. Only a
 * power-off a fence level confirms (docs/fencing.md: or, opt-in, a watchdog's safe time or a crash
 * dump in progress) unlocks the rest; otherwise the incident is held. Before each step that trusts
 * the fence the power is read again, through the same levels that fenced the host.
 */
import { evacuateInstances, evacuationSettings, type EvacuationNova, type EvacuationReport, type MoveKind } from './evacuate.js';
import type { FenceRun } from './effects.js';
import { evacuateAgainCommand, lastOutcome, withPhase, withStep, type Incident, type InstanceOutcome, type StepOutcome } from '../state/incident.js';
import { describeDump, describeSelfFence, type FenceEvidence } from '../decision/fence-evidence.js';
import type { PowerState, VerifiedOff } from '../systems/power/ipmi.js';
import type { Aggregate, ComputeService, Server } from '../systems/nova/index.js';
import type { HaRead } from '../decision/ha-policy.js';
import type { Notification } from '../systems/notify/index.js';
import type { Runtime } from './runtime.js';
import { admitAll, admitByRoom, heldNeeds, heldReason, type Admission, type Room } from './capacity.js';
import type { LendOutcome } from './spares.js';
import type { Amounts } from '../decision/capacity.js';

/** What fencing needs of Nova beyond the evacuation engine. */
export interface FenceNova extends EvacuationNova {
  getComputeService(host: string): Promise<ComputeService>;
  /** One call: forced down (Nova lets its instances be evacuated at once) and disabled with the reason (nothing new lands there). */
  forceDownAndDisable(serviceId: string, reason: string): Promise<ComputeService>;
  /** Only for an incident whose force-down an older nova-ha recorded without disabling. */
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
  /**
   * The power as the devices that fence the host say it now (its fence levels). Before each step
   * that trusts the fence (force down, evacuate, disable) it must still say off: a resumed
   * worker, or a human at the BMC, may meet a host that is on again. Absent only where the
   * operator vouches for the fence.
   */
  readonly readPower?: (host: string) => Promise<PowerState>;
  /** kdump awareness: wait for the host's dump to end, then power off (fence-levels.ts); without it, power off at once. */
  readonly powerOffAfterDump?: (host: string, context: PowerOffContext, deferredAt: number) => Promise<VerifiedOff>;
  /** kdump awareness: whether the host still sends fence_kdump messages (its dump goes on); without it, never. */
  readonly dumping?: (host: string) => Promise<boolean>;
  readonly progress?: (done: number, total: number) => void;
  /** Evacuate again even if an earlier run finished the step (an operator retrying failed instances). */
  readonly rerunEvacuation?: boolean;
  /** The capacity step before the evacuation ([capacity] check = true); absent: every instance is evacuated unestimated. */
  readonly capacity?: CapacityStep;
  /** This run is the evaluation's retry number `attempt` of the instances left behind: its result is its own email. */
  readonly retryAttempt?: number;
}

export interface CapacityStep {
  /**
   * The room for the host's instances now (capacity.ts readRoom); spares count only if lent to the
   * incident. `aggregates`: a read of them made already, for the availability zone; absent, they are read.
   */
  readonly readRoom: (host: string, incidentId: string, aggregates?: HaRead<readonly Aggregate[]>) => Promise<Room>;
  /** Short of room: lend spare hosts for what the held instances need ([capacity] spare_hosts; spares.ts), then the room is read again. */
  readonly lendSpares?: (run: FenceRun, shortfall: Amounts) => Promise<LendOutcome>;
  /** Why the estimate is not made this time (the operator's --ignore-capacity): every instance is evacuated. */
  readonly ignored?: string;
}

class StepFailed extends Error {}
/** The fence cannot be trusted any more: hold for an operator, evacuate nothing more. */
class FenceLost extends Error {}

/** A fence that goes on (an operator's fence or evacuate of a held incident) is no longer held. */
function withoutHold(incident: Incident): Incident {
  if (!incident.hold) return incident;
  const { hold: _hold, ...rest } = incident;
  return rest;
}

const FORCED_DOWN_AND_DISABLED = 'forced down and disabled';

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
    const started = Date.now();
    log.info('step-start', { step: name });
    try {
      const detail = await body();
      incident = await run.change((i) => withStep(i, { at: Date.now(), step: name, outcome: 'done', detail, by }));
      log.info('step-done', { step: name, detail, ms: Date.now() - started });
    } catch (error) {
      const detail = (error as Error).message;
      incident = await run.change((i) => withStep(i, { at: Date.now(), step: name, outcome: 'failed', detail, by }));
      log.error('step-failed', { step: name, error: detail, ms: Date.now() - started });
      throw new StepFailed(detail);
    }
  };

  // Which nova-compute service to force down is a read, with no effect: it is looked up while
  // the power-off runs, not after it.
  const lookup = lastOutcome(incident, 'force-down') === 'done' ? undefined : deps.nova.getComputeService(run.host);
  lookup?.catch(() => undefined);

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

  /** When a crash dump deferred the power-off, until the power-off after the dump is done. */
  const dumpDeferredAt = (): number | undefined => {
    if (lastOutcome(incident, 'power-off-after-dump') === 'done') return undefined;
    return incident.timeline.find((e) => e.step === 'power-off' && e.outcome === 'done' && e.detail?.startsWith(DUMP_DEFERRED))?.at;
  };

  /** The power-off a crash dump deferred: once the dump has ended, through the same levels as any power-off. */
  const powerOffAfterDump = (phase: Incident['phase'], deferredAt: number): Promise<void> =>
    step('power-off-after-dump', phase, async () => {
      const result = await (deps.powerOffAfterDump ?? ((host, c) => deps.powerOff(host, c)))(run.host, context, deferredAt);
      if (!result.verified) throw new Error(result.detail);
      return result.detail;
    });

  /**
   * The host must still be off before a step that trusts the fence: on again (someone at the
   * BMC, or a resumed incident) means powered off again and verified, and the operators told;
   * a device that cannot say means a hold for an operator, unless the host's watchdog has reset
   * it by now (the same evidence the fence's last level counts). A host whose power-off waits
   * for its crash dump is on by design while it dumps; once the dump has ended, that power-off
   * comes first.
   */
  const stillOff = async (before: string, phase: Incident['phase']): Promise<void> => {
    if (!deps.readPower) return;
    const deferredAt = dumpDeferredAt();
    if (deferredAt !== undefined) {
      // A record that cannot be read says nothing of the dump: the host is powered off now.
      if (await (deps.dumping?.(run.host) ?? Promise.resolve(false)).catch(() => false)) return;
      try {
        await powerOffAfterDump(phase, deferredAt);
      } catch (error) {
        if (!(error instanceof StepFailed)) throw error;
        throw new FenceLost(`the crash dump of ${run.host} ended before ${before}, and its power-off after the dump was not verified (${error.message})`);
      }
      return;
    }
    const state = await deps.readPower(run.host);
    if (state === 'off') return;
    if (state === 'unknown') {
      if (run.evidence?.selfFence) {
        log.info('power-unknown-self-fenced', { detail: `no fence level says whether ${run.host} is off before ${before}; its watchdog has reset it (${describeSelfFence(run.evidence.selfFence)})` });
        return;
      }
      throw new FenceLost(`its fence levels could not say whether ${run.host} is still off before ${before}`);
    }
    const at = Date.now();
    incident = await run.change((i) => withStep(i, { at, step: 'power-off-again', outcome: 'started', detail: `its fence levels report ${run.host} on again before ${before}`, by }));
    log.warn('fenced-host-on', { step: 'power-off-again', detail: `on again before ${before}` });
    // A device says on: only a device's word that it is off counts now, not the watchdog's safe time.
    const again = await deps.powerOff(run.host, { record: context.record, stillOwner: context.stillOwner });
    incident = await run.change((i) => withStep(i, { at: Date.now(), step: 'power-off-again', outcome: again.verified ? 'done' : 'failed', detail: again.detail, by }));
    runtime.notifier.notify({ ...notification(incident, 'fenced-host-on', 'powered on during its fence', again.verified ? 'powered off again' : 'held for an operator', `${run.host} was fenced by incident ${incident.id}, but its fence levels reported it on again before ${before}; nova-ha did not power it on. ${again.verified ? 'nova-ha powered it off again (verified) and goes on.' : `Powering it off again could not be verified (${again.detail}), so nothing more is done.`} Someone with BMC access may be working on it: it stays forced down and disabled in Nova until an operator runs: nova-ha unfence ${run.host}`), occurrence: `${incident.id}/${at}` });
    if (!again.verified) throw new FenceLost(`${run.host} was on again before ${before} and powering it off again was not verified (${again.detail})`);
  };

  let admission: Admission | undefined;
  try {
    let service: ComputeService | undefined;
    let disabledWithForceDown = incident.timeline.some((e) => e.step === 'force-down' && e.outcome === 'done' && e.detail?.endsWith(FORCED_DOWN_AND_DISABLED));
    // Disabled in the same call as the force-down: the host is fenced from here on, and an
    // evacuation that fails halfway leaves it out of the scheduler's choices as well.
    await stillOff('force-down', 'forcing-down');
    await step('force-down', 'forcing-down', async () => {
      service = await (lookup ?? Promise.reject(new Error('not looked up'))).catch(() => deps.nova.getComputeService(run.host));
      await deps.nova.forceDownAndDisable(service.id, disabledReason(incident));
      disabledWithForceDown = true;
      return `nova-compute service ${service.id} ${FORCED_DOWN_AND_DISABLED}`;
    });
    // Instances that fail after the engine's retries are reported, not retried forever: the step
    // ends, and an operator can run nova-ha evacuate again for what is left.
    await stillOff('evacuation', 'evacuating');
    await step('evacuate', 'evacuating', async () => {
      const report = await move(deps, run, 'evacuation', incident, (made) => (admission = made));
      const counts = countOutcomes(report.outcomes);
      return `${counts.evacuated} evacuated, ${counts.skipped} skipped, ${counts.failed} failed, of ${report.outcomes.length}${describeReport(report)}`;
    });
    await stillOff('marking it fenced', 'evacuating');
    await step('disable', incident.phase === 'fenced' ? 'fenced' : 'evacuating', async () => {
      if (disabledWithForceDown) return 'disabled with the force-down';
      service ??= await deps.nova.getComputeService(run.host);
      await deps.nova.disableService(service.id, disabledReason(incident));
      return `nova-compute service ${service.id} disabled and kept forced down`;
    });
    const deferredAt = dumpDeferredAt();
    if (deferredAt !== undefined) {
      try {
        await powerOffAfterDump('evacuating', deferredAt);
      } catch (error) {
        if (!(error instanceof StepFailed)) throw error;
        incident = await run.change((i) => ({ ...withPhase(i, 'held', Date.now(), by, 'power-off after the crash dump not verified'), hold: { reason: `its instances were evacuated while it wrote a crash dump, but the power-off after the dump was not verified: ${error.message}; it stays forced down and disabled`, needsOperator: true } }));
        runtime.notifier.notify(notification(incident, 'fence-failed', 'power-off after crash dump failed', 'held for an operator; instances evacuated', `${run.host} wrote a crash dump, so its instances were evacuated, but its power-off afterwards could not be verified (${error.message}). Power it off by hand.`));
        return incident;
      }
    }
  } catch (error) {
    if (error instanceof FenceLost) {
      incident = await run.change((i) => ({ ...withPhase(i, 'held', Date.now(), by, 'fence no longer verified'), hold: { reason: `${error.message}; nothing more was evacuated`, needsOperator: true } }));
      runtime.notifier.notify(notification(incident, 'fence-failed', 'fence lost', 'held for an operator; nothing more evacuated', `${error.message}. Its instances may run there again, so nova-ha evacuates nothing more until an operator has looked (see: nova-ha incident ${incident.id}).`));
      return incident;
    }
    if (!(error instanceof StepFailed)) throw error;
    // The host is fenced but a Nova step failed: the incident stays in its phase and is resumed
    // by the next evaluation (the policy resumes fence phases), without powering anything on.
    runtime.notifier.notify(notification(incident, 'evacuation-interrupted', 'fenced, evacuation interrupted', 'will retry', `${run.host} ${dumpDeferredAt() === undefined ? 'is powered off (verified)' : 'writes a crash dump (its power-off waits for the dump to end)'}, but ${error.message}. nova-ha retries at the next evaluation.`));
    return incident;
  }

  incident = await run.change((i) => withPhase(i, 'fenced', Date.now(), by, 'fenced, forced down, evacuated, disabled'));
  const instances = incident.instances ?? [];
  const counts = countOutcomes(instances);
  const failed = instances.filter((o) => o.outcome === 'failed');
  const held = incident.held ?? [];
  const heldNote = held.length ? `, ${held.length} held for room` : '';
  const what = `fenced; ${counts.evacuated} of ${instances.length + held.length} instances evacuated${counts.failed ? `, ${counts.failed} failed` : ''}${heldNote}`;
  const poweredOff = [...incident.timeline].reverse().find((e) => (e.step === 'power-off' || e.step === 'power-off-again' || e.step === 'power-off-after-dump') && e.outcome === 'done')?.detail ?? '';
  const unestimated = admission?.unknown !== undefined && deps.capacity?.ignored === undefined ? ` The room was not estimated (${admission.unknown}): every instance was evacuated as without the capacity check.` : '';
  const reason = `${incident.reason}. Power-off: ${poweredOff}; the nova-compute service is forced down and disabled${failed.length ? `; these instances need an operator: ${failed.map((o) => `${o.name || o.id} (${o.detail})`).join('; ')}. Once the cause is fixed, evacuate them again with: ${evacuateAgainCommand(run.host)}` : held.length ? '' : ', and every instance was evacuated'}${held.length ? `; held for room: ${held.map((h) => `${h.name || h.id} (${h.reason})`).join('; ')}` : ''}.${unestimated} It stays fenced until an operator runs: nova-ha unfence ${run.host}`;
  if (deps.retryAttempt !== undefined) {
    const left = failed.length + held.length;
    runtime.notifier.notify({ ...notification(incident, 'capacity-retry-result', `retry ${deps.retryAttempt} when room appeared`, left ? `${left} instances still left behind` : 'every instance evacuated', reason), occurrence: `${incident.id}/retry-${deps.retryAttempt}`, ...(left ? { retry: evacuateAgainCommand(run.host) } : {}) });
    return incident;
  }
  // Held for room is its own email, apart from Nova's answer to what was evacuated.
  if (admission && admission.held.length > 0) {
    runtime.notifier.notify({ ...notification(incident, 'capacity-held', 'no room for every instance', `${admission.held.length} instances held until room appears`, heldReason(run.host, admission, evacuateAgainCommand(run.host))), retry: evacuateAgainCommand(run.host) });
  }
  runtime.notifier.notify({ ...notification(incident, failed.length ? 'evacuation-failed' : 'fenced', incident.cause === 'power-lost' ? 'power lost, did not come back' : 'failed', what, reason), ...(failed.length ? { retry: evacuateAgainCommand(run.host) } : {}) });
  return incident;
}

/** The engine's figures for the step's record: calls to Nova, how fast the calls went out, how many looks. */
function describeReport(report: EvacuationReport): string {
  const { calls } = report;
  const spread = report.callSpreadMs !== undefined ? ` over ${(report.callSpreadMs / 1000).toFixed(1)} s` : '';
  return calls.move === 0 ? '' : `; ${calls.move} calls${spread}, ${report.looks} looks, ${calls.list + calls.get + calls.migrations} reads`;
}

/** Evacuates (or live-migrates) with the outcomes written to the incident as they happen, each batch in one write. */
export async function move(deps: Pick<FenceDeps, 'runtime' | 'nova' | 'progress' | 'capacity'>, run: FenceRun, kind: MoveKind, incident: Incident, admitted?: (admission: Admission) => void): Promise<EvacuationReport> {
  const capacity = kind === 'evacuation' ? deps.capacity : undefined;
  const by = deps.runtime.node;
  let estimated = false;
  /** The capacity step: which of the instances about to be called for fit the room; the others are held, recorded in the incident. */
  const admit = async (servers: readonly Server[], aggregates: HaRead<readonly Aggregate[]>): Promise<readonly Server[]> => {
    estimated = true;
    const estimate = async (read?: HaRead<readonly Aggregate[]>): Promise<Admission> => (capacity!.ignored !== undefined ? admitAll(servers, capacity!.ignored) : admitByRoom(servers, await capacity!.readRoom(run.host, incident.id, read)));
    // The evacuation's own read of the aggregates (for the HA policy) gives the zone: no second read.
    let admission = await estimate(aggregates);
    if (admission.held.length > 0 && admission.unknown === undefined && capacity!.lendSpares) {
      const lent = await capacity!.lendSpares(run, heldNeeds(servers, admission));
      // Read afresh: lending may have added the spares to the failed host's aggregates, and so to its zone.
      if (lent.lent.length > 0) admission = await estimate();
    }
    await run.change((i) => {
      const { held: _held, ...rest } = i;
      const next = { ...rest, ...(admission.held.length > 0 ? { held: admission.held } : {}), ...(admission.signature ? { room: admission.signature } : {}) };
      return withStep(next, { at: Date.now(), step: 'capacity', outcome: admission.unknown === undefined ? 'done' : 'skipped', detail: admission.summary, by });
    });
    deps.runtime.logger.info('capacity-estimate', { host: run.host, incident: incident.id, step: 'capacity', detail: admission.summary, held: admission.held.length });
    admitted?.(admission);
    return admission.call;
  };
  const report = await evacuateInstances({
    kind,
    nova: deps.nova,
    host: run.host,
    since: incident.openedAt,
    settings: evacuationSettings(deps.runtime.config),
    log: deps.runtime.logger.child({ host: run.host, incident: incident.id }),
    recorded: incident.instances ?? [],
    record: async (batch) => {
      const ids = new Set(batch.map((o) => o.id));
      await run.change((i) => ({ ...i, instances: [...(i.instances ?? []).filter((o) => !ids.has(o.id)), ...batch] }));
    },
    stillOwner: run.stillOwner,
    ...(deps.progress ? { progress: deps.progress } : {}),
    ...(capacity ? { admit } : {}),
  });
  // Nothing was left to call for (the held ones gone from the host meanwhile): none is held any more.
  if (capacity && !estimated && (incident.held ?? []).length > 0) {
    await run.change((i) => {
      const { held: _held, ...rest } = i;
      return rest;
    });
  }
  return report;
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
