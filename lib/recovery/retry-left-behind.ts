/**
 * Retry when room returns (issue 17 item 3): a fenced host whose instances were left behind
 * (held for room, No valid host, ended in ERROR) gets them evacuated again by the periodic
 * evaluation's worker, once the usable hosts' room has grown since the last attempt, the backoff
 * since that attempt has passed, and attempts are left. Each attempt runs the fence workflow's
 * evacuation again: the same lock, the power read again first (fenced stays fenced), the same
 * capacity step, and the engine's at-most-once records (an instance that left the host is never
 * called for again).
 */
import { roomGrowth, roomSignature } from '../decision/capacity.js';
import type { Decision } from '../decision/policy.js';
import { lastOutcome, withStep, type Incident } from '../state/incident.js';
import type { FenceRun } from './effects.js';
import { fenceAndEvacuate, type CapacityStep, type FenceDeps } from './fence.js';

export interface RetrySettings {
  /** [capacity] retry_attempts */
  readonly attempts: number;
  /** [capacity] retry_backoff (ms), doubled after each attempt. */
  readonly backoffMs: number;
}

/** The longest wait between two attempts, as a multiple of the backoff. */
export const BACKOFF_CAP = 16;

export function retrySettings(config: { capacity: { retry_attempts: number; retry_backoff: number } }): RetrySettings {
  return { attempts: config.capacity.retry_attempts, backoffMs: config.capacity.retry_backoff };
}

/** How many instances the fenced host left behind: held for room, and failed (No valid host, ERROR). */
export function leftBehind(incident: Incident): number {
  return (incident.held ?? []).length + (incident.instances ?? []).filter((o) => o.outcome === 'failed').length;
}

/** When the last attempt was: the last retry, else the end of the evacuation step. */
function lastAttemptAt(incident: Incident): number {
  if (incident.retries) return incident.retries.lastAt;
  return incident.timeline.findLast((e) => e.step === 'evacuate' && e.outcome !== 'started')?.at ?? incident.phaseSince;
}

/**
 * Whether an attempt may start at `now` if the room has grown: the host fenced (its evacuation
 * finished), something left behind, attempts left, and the backoff over since the last attempt
 * and since the last read of a room that had not grown.
 */
export function retryDue(incident: Incident, settings: RetrySettings, now: number): boolean {
  if (incident.phase !== 'fenced' || incident.closedAt !== undefined || lastOutcome(incident, 'evacuate') !== 'done') return false;
  const attempts = incident.retries?.attempts ?? 0;
  if (attempts >= settings.attempts || leftBehind(incident) === 0) return false;
  if (now < (incident.roomCheckedAt ?? 0) + settings.backoffMs) return false;
  return now >= lastAttemptAt(incident) + Math.min(settings.backoffMs * 2 ** attempts, settings.backoffMs * BACKOFF_CAP);
}

/** For the evaluation: whether a fenced host's worker might retry now (the worker reads the room and decides). */
export function mayRetry(decision: Decision, incident: Incident | undefined, settings: RetrySettings, now: number): boolean {
  return decision.action === 'none' && decision.guard === 'fenced' && incident !== undefined && retryDue(incident, settings, now);
}

/**
 * One attempt, if due and the room grew: recorded (step retry, the attempt counted, the new
 * room kept), one email when it starts and one with its result. Undefined when nothing was done:
 * not due, the room unknown (no action on unknown) or not grown.
 */
export async function retryLeftBehind(deps: FenceDeps & { readonly capacity: CapacityStep }, run: FenceRun, settings: RetrySettings): Promise<Incident | undefined> {
  const { runtime } = deps;
  const by = runtime.node;
  const before = await run.change((i) => i);
  const log = runtime.logger.child({ host: run.host, incident: before.id, step: 'retry' });
  if (!retryDue(before, settings, Date.now())) return undefined;
  const room = await deps.capacity.readRoom(run.host, before.id);
  const checked = async (): Promise<undefined> => void (await run.change((i) => ({ ...i, roomCheckedAt: Date.now() })));
  if (!room.known) {
    log.warn('retry-room-unknown', { reason: room.reason, fix: 'nothing is retried on an unknown room; it is read again after the retry backoff' });
    return checked();
  }
  const signature = roomSignature(room.hosts);
  const growth = roomGrowth(before.room, signature);
  if (growth === undefined) return checked();
  if (!run.stillOwner()) return undefined;
  const attempt = (before.retries?.attempts ?? 0) + 1;
  const left = leftBehind(before);
  const detail = `attempt ${attempt} of ${settings.attempts}: room may have appeared: ${growth}; evacuating again the ${left} instance${left === 1 ? '' : 's'} left behind`;
  const started = await run.change((i) => withStep({ ...i, retries: { attempts: attempt, lastAt: Date.now() }, room: signature }, { at: Date.now(), step: 'retry', outcome: 'started', detail, by }));
  log.info('retry-start', { detail });
  runtime.notifier.notify({
    host: run.host,
    event: 'capacity-retry',
    summary: 'room may have appeared',
    action: `evacuating again the ${left} instances left behind`,
    reason: `${run.host} is fenced and ${left} of its instances were left behind (held for room, or Nova found no valid host). Room may have appeared: ${growth}. nova-ha evacuates them again (attempt ${attempt} of ${settings.attempts}); the result follows in its own email.`,
    incidentId: started.id,
    occurrence: `${started.id}/retry-${attempt}-start`,
    timeline: started.timeline,
    instances: started.instances ?? [],
  });
  const finished = await fenceAndEvacuate({ ...deps, rerunEvacuation: true, retryAttempt: attempt }, run);
  const stillLeft = leftBehind(finished);
  const evacuated = (finished.instances ?? []).filter((o) => o.outcome === 'evacuated').length - (before.instances ?? []).filter((o) => o.outcome === 'evacuated').length;
  const result = `attempt ${attempt}: ${evacuated} more evacuated, ${stillLeft} still left behind`;
  log.info('retry-done', { detail: result });
  return run.change((i) => withStep(i, { at: Date.now(), step: 'retry', outcome: finished.phase !== 'fenced' || stillLeft > 0 ? 'failed' : 'done', detail: result, by }));
}
