/**
 * What nova-ha keeps in the management cluster's KV store, under [consul] kv_prefix:
 *
 *   hosts/<host>          DecidedHostRecord: last known states and since when (the policy needs "how long"), and what was decided on them
 *   incidents/<host>      the host's open incident (state/incident.ts)
 *   history/<host>/<id>   closed incidents
 *   locks/<host>          the one actor working on the host (a session lock)
 *   maintenance/<host>    MaintenanceFlag
 *   pause                 PauseFlag: cluster-wide switch
 *   storm                 StormFlag: the last storm, its start and end (each emailed once)
 *   state/power/poll          PowerPoll: when the power poller last read every BMC, and who
 *   state/power/hosts/<host>  PowerHostState: the host's chassis power, written when it changes
 *   state/nova/poll           NovaPoll: when the Nova poller last read the service list, and whether the API and a scheduler answered
 *   state/nova/hosts/<host>   NovaServiceState: the host's nova-compute in Nova's API, written when it changes
 *   pollers/<name>        the lock of the controller that runs a poller
 *   notify/<key>          notification dedupe markers
 *   repair-reports/<host> the compute's signed report on the last repair it was asked for: written
 *                         by the compute itself (its token may write this one key), read by the worker
 *   kdump/<host>          KdumpRecord: fence_kdump messages from the host's own address while it was failed everywhere
 *   spares/<spare>        SpareClaim: the one incident a spare host is lent to, created with check-and-set (state/spares.ts)
 *
 * No value grows with the number of hosts (Consul refuses values over 512 KiB): a poller's view
 * is a key per host plus a small summary, read with one prefix read (state/views.ts).
 */
import type { Held, KdumpObservation, MemberState, Network, PowerState, ServiceState } from '../decision/model.js';
import type { Decision } from '../decision/policy.js';
import { reportedAt, type ComputeService } from '../systems/nova/types.js';

export const KEYS = {
  host: (host: string) => `hosts/${host}`,
  hosts: 'hosts',
  incident: (host: string) => `incidents/${host}`,
  incidents: 'incidents',
  history: (host: string, id: string) => `history/${host}/${id}`,
  historyOf: (host: string) => `history/${host}`,
  historyAll: 'history',
  lock: (host: string) => `locks/${host}`,
  locks: 'locks',
  maintenance: (host: string) => `maintenance/${host}`,
  maintenanceAll: 'maintenance',
  pause: 'pause',
  storm: 'storm',
  /** Both pollers' views, under one prefix: one read gets them all. */
  views: 'state',
  powerPoll: 'state/power/poll',
  powerHosts: 'state/power/hosts',
  powerHost: (host: string) => `state/power/hosts/${host}`,
  novaPoll: 'state/nova/poll',
  novaHosts: 'state/nova/hosts',
  novaHost: (host: string) => `state/nova/hosts/${host}`,
  notify: (key: string) => `notify/${key}`,
  notifyAll: 'notify',
  poller: (name: string) => `pollers/${name}`,
  repairReport: (host: string) => `repair-reports/${host}`,
  kdump: (host: string) => `kdump/${host}`,
  kdumpAll: 'kdump',
  spare: (spare: string) => `spares/${spare}`,
  spares: 'spares',
  /** What Nova answered nova-ha doctor's dry requests on this controller, and when. */
  doctorDryAnswers: (node: string) => `doctor/dry-answers/${node}`,
  /** This controller's clock against Nova's, as its doctor check last measured it. */
  doctorClock: (node: string) => `doctor/clocks/${node}`,
  doctorClocks: 'doctor/clocks',
} as const;

export interface HostRecord {
  readonly networks: Readonly<Record<Network, Held<MemberState>>>;
  readonly novaNode: Held<ServiceState>;
  /** When and by whom it was last written. */
  readonly at: number;
  readonly by: string;
}

/** The decision stored with a host record: what an operator or a test reading KV sees. */
type RecordedDecision = Pick<Decision, 'action' | 'cause' | 'guard' | 'reason'>;

/**
 * A host record as the evaluation or the host's worker writes it: the states and what the policy
 * decided on them. Both write it, so a reader cannot tell which wrote last from its shape.
 */
export interface DecidedHostRecord extends HostRecord {
  readonly decision: RecordedDecision;
}

export function decidedRecord(record: HostRecord, decision: Decision): DecidedHostRecord {
  return { ...record, decision: { action: decision.action, cause: decision.cause, ...(decision.guard ? { guard: decision.guard } : {}), reason: decision.reason } };
}

export interface MaintenanceFlag {
  readonly reason: string;
  readonly since: number;
  readonly by: string;
}

/** The last storm: written by the controller that saw it begin, and again by the one that saw it end. */
export interface StormFlag {
  readonly since: number;
  readonly by: string;
  /** What the storm was when it began ("storm: 3 hosts failed on the storage network (limit 1 of 4)"). */
  readonly detail: string;
  readonly endedAt?: number;
  readonly endedBy?: string;
}

export interface PauseFlag {
  readonly reason: string;
  readonly since: number;
  readonly by: string;
}

export type PowerHostState = Held<PowerState> & { readonly error?: string };

/** The power poller's summary: a view whose poll is older than three intervals is not trusted. */
export interface PowerPoll {
  readonly at: number;
  readonly by: string;
}

/** The power view as one evaluation reads it: the summary and every host's entry. */
export interface PowerDoc extends PowerPoll {
  readonly hosts: Readonly<Record<string, PowerHostState>>;
}

export interface NovaServiceState extends Held<ServiceState> {
  readonly id: string;
  readonly status: 'enabled' | 'disabled';
  readonly forcedDown: boolean;
  readonly disabledReason?: string | null;
  /**
   * The service's last report to Nova (its updated_at), in ms; absent when Nova gives none. It
   * changes on every report, so the poller refreshes it only for hosts with an open incident (the
   * policy reads it only to close one); elsewhere it is as of the entry's last change.
   */
  readonly reportedAt?: number;
}

/** A Nova service as the Nova poller's document keeps it; `since` is when its state began. */
export function novaServiceState(service: ComputeService, since: number): NovaServiceState {
  const reported = reportedAt(service);
  return { id: service.id, state: service.state, since, status: service.status, forcedDown: service.forcedDown, disabledReason: service.disabledReason, ...(reported !== undefined ? { reportedAt: reported } : {}) };
}

/** The Nova poller's summary, written after the hosts' entries of the same poll. */
export interface NovaPoll {
  readonly at: number;
  readonly by: string;
  /** Whether the API answered on the last poll (the summary is still written when it did not). */
  readonly api: ServiceState;
  readonly schedulers: ServiceState;
  readonly error?: string;
}

/** The Nova view as one evaluation reads it; no host entry counts while the API does not answer. */
export interface NovaDoc extends NovaPoll {
  readonly hosts: Readonly<Record<string, NovaServiceState>>;
}

/** One host's latest dump: written by the controllers' fence_kdump listeners (recovery/kdump-listener.ts). */
export interface KdumpRecord extends KdumpObservation {
  /** The controller whose listener wrote it last. */
  readonly by: string;
}

/** A spare host lent to one incident: created only if absent (cas=0), so no two incidents take the same spare. */
export interface SpareClaim {
  readonly spare: string;
  readonly incident: string;
  /** The failed host whose instances it takes. */
  readonly host: string;
  readonly at: number;
  readonly by: string;
  /** When nova-ha enabled it in Nova: absent while the lending is unfinished (a worker died in between). */
  readonly enabledAt?: number;
  /** The aggregates nova-ha added it to ([capacity] spare_aggregates): only these are left again on return. */
  readonly aggregates: readonly { readonly id: string; readonly name: string }[];
  /** The failed host was unfenced: the spare is to be given back once no instance is left on it. */
  readonly returnRequested?: { readonly at: number; readonly by: string };
}
