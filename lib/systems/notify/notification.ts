/**
 * What nova-ha tells the operators: one notification per event on a host, carrying enough of the
 * incident (its timeline, its instances) that the email alone tells the whole story.
 */
import type { Config } from '../../config/load.js';

/** Events the recovery workflow reports on its own, besides the policy's alerts. */
export type WorkflowEvent =
  | 'fenced'
  | 'fence-failed'
  | 'evacuation-failed'
  | 'evacuation-interrupted'
  | 'capacity-held'
  | 'capacity-retry'
  | 'capacity-retry-result'
  | 'drained'
  | 'unfenced'
  | 'storm'
  | 'storm-ended'
  | 'check-not-run'
  | 'observer-isolated';

/** Open on purpose: a new event needs no change here, while the known ones still autocomplete. */
export type NotifyEvent = WorkflowEvent | (string & {});

/** One step of an incident as recorded in its timeline. */
export interface TimelineEntry {
  /** When the step ended (ms since the epoch). */
  readonly at: number;
  readonly step: string;
  readonly outcome: string;
  readonly detail?: string;
  /** The controller that ran the step. */
  readonly by?: string;
}

/** What happened to one instance of the host (evacuation or live migration). */
export interface InstanceOutcome {
  readonly id: string;
  readonly name: string;
  readonly outcome: string;
  readonly from: string;
  /** Where it runs now; absent when it did not move. */
  readonly to?: string;
  /** Why it was skipped or failed (Nova's fault message included), or how it was confirmed. */
  readonly detail?: string;
  /** Where its HA priority came from, when a source set one ("priority 80 from image cirros-ha"). */
  readonly priority?: string;
}

export interface Notification {
  readonly host: string;
  readonly event: NotifyEvent;
  /** What happened, short: it goes into the subject ("management network down"). */
  readonly summary: string;
  /** What nova-ha did, or will not do: into the subject too ("operators alerted, not evacuated"). */
  readonly action: string;
  /** Why, in sentences an operator can act on (typically the policy decision's reason). */
  readonly reason: string;
  /** Absent only for events that belong to no host's incident (a storm, an isolated controller). */
  readonly incidentId?: string;
  /**
   * Which occurrence of the event this is, for de-duplication: the same event of the same
   * incident is sent once per window, but a later incident (or storm) is news again. Defaults to
   * the incident.
   */
  readonly occurrence?: string;
  readonly timeline: readonly TimelineEntry[];
  readonly instances?: readonly InstanceOutcome[];
  /** The exact command an operator runs to try again what failed (e.g. "nova-ha evacuate cmp1"). */
  readonly retry?: string;
  /** The cluster-wide pause switch is on: the message says so at the top. */
  readonly paused?: boolean;
  /** When it happened (ms since the epoch); the notifier fills in the time of notify() if absent. */
  readonly at?: number;
}

export type NotificationSettings = Config['notifications'];
