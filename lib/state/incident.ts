/**
 * Incidents: one open incident per host, durable in Consul KV, with a timestamped record of
 * every step (written before and after it runs) and who ran it. Only the host's lock holder
 * writes its incident; check-and-set guards against anything else.
 */
import type { Attempt, NodeRepair, Phase, RepairReport } from '../decision/model.js';
import type { Cause } from '../decision/policy.js';
import type { RoomSignature } from '../decision/capacity.js';

export type StepOutcome = 'started' | 'done' | 'failed' | 'skipped' | 'info';

export interface TimelineEntry {
  readonly at: number;
  readonly step: string;
  readonly outcome: StepOutcome;
  readonly detail?: string;
  /** The controller that ran the step. */
  readonly by: string;
}

export interface InstanceOutcome {
  readonly id: string;
  readonly name: string;
  readonly outcome: 'pending' | 'evacuating' | 'evacuated' | 'skipped' | 'failed' | 'live-migrated';
  readonly from: string;
  readonly to?: string;
  readonly detail?: string;
  /** Nova's own words for why the instance failed (the server's fault), when Nova gave any. */
  readonly fault?: string;
  /** When nova-ha called Nova for this instance (an instance is called for at most once per incident). */
  readonly calledAt?: number;
  /** Where its HA priority came from, when a source set one or could not be read ("priority 80 from image cirros-ha"). */
  readonly priority?: string;
}

/** An instance the capacity step did not evacuate: the usable hosts had no room for it. */
export interface HeldInstance {
  readonly id: string;
  readonly name: string;
  /** What is missing, in operator words. */
  readonly reason: string;
}

/** The command that evacuates again what is still on a fenced host (the instances that failed, say). */
export const evacuateAgainCommand = (host: string): string => `nova-ha evacuate ${host}`;

export interface Incident {
  readonly id: string;
  readonly host: string;
  readonly cause: Cause;
  readonly phase: Phase;
  readonly phaseSince: number;
  readonly openedAt: number;
  readonly closedAt?: number;
  readonly attempts: Partial<Record<Attempt, number>>;
  /** The nonce of every repair request sent to the node in this incident: a report must answer one of them. */
  readonly repairRequests?: Partial<Record<NodeRepair, readonly string[]>>;
  /** The node's first verified report on each repair it was asked for. */
  readonly repairReports?: Partial<Record<NodeRepair, RepairReport>>;
  readonly fenceStarted: boolean;
  readonly alerted: boolean;
  readonly hold?: { readonly reason: string; readonly needsOperator: boolean };
  /** When the host was first seen on again after it was fenced (the operators were told then). */
  readonly seenOnWhileFenced?: number;
  readonly reason: string;
  /** The last decision recorded in the timeline (its shape, not its wording, which carries times). */
  readonly decision?: { readonly action: string; readonly cause: string; readonly guard?: string; readonly repair?: string };
  readonly timeline: readonly TimelineEntry[];
  readonly instances?: readonly InstanceOutcome[];
  /** Instances held for room by the last capacity step (not called for: they may be, once room appears). */
  readonly held?: readonly HeldInstance[];
  /** The usable hosts' room, rounded, when the instances left behind were last tried: a retry waits for it to grow. */
  readonly room?: RoomSignature;
  /** The evaluation's retries of the instances left behind (held for room, No valid host, ERROR). */
  readonly retries?: { readonly attempts: number; readonly lastAt: number };
  /**
   * When a worker last read the room for a retry and found it unknown or not grown: the next
   * read waits a backoff, so a host left behind does not cost a worker and a Placement read of
   * every usable host at every evaluation while the room stays as it is.
   */
  readonly roomCheckedAt?: number;
}

export function newIncidentId(host: string, at: number): string {
  return `${host}-${new Date(at).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
}

export function openIncident(host: string, cause: Cause, reason: string, at: number, by: string): Incident {
  return {
    id: newIncidentId(host, at),
    host,
    cause,
    phase: 'detected',
    phaseSince: at,
    openedAt: at,
    attempts: {},
    fenceStarted: false,
    alerted: false,
    reason,
    timeline: [{ at, step: 'detected', outcome: 'info', detail: reason, by }],
  };
}

export function withStep(incident: Incident, entry: TimelineEntry): Incident {
  return { ...incident, timeline: [...incident.timeline, entry] };
}

export function withPhase(incident: Incident, phase: Phase, at: number, by: string, detail?: string): Incident {
  if (incident.phase === phase) return incident;
  return { ...withStep(incident, { at, step: `phase ${phase}`, outcome: 'info', by, ...(detail ? { detail } : {}) }), phase, phaseSince: at };
}

/** The last outcome recorded for a step, to resume without repeating what finished. */
export function lastOutcome(incident: Incident, step: string): StepOutcome | undefined {
  for (let i = incident.timeline.length - 1; i >= 0; i--) if (incident.timeline[i]!.step === step) return incident.timeline[i]!.outcome;
  return undefined;
}
