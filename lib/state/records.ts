/**
 * What nova-ha keeps in the management cluster's KV store, under [consul] kv_prefix:
 *
 *   hosts/<host>          HostRecord: last known states and since when (the policy needs "how long")
 *   incidents/<host>      the host's open incident (state/incident.ts)
 *   history/<host>/<id>   closed incidents
 *   locks/<host>          the one actor working on the host (a session lock)
 *   maintenance/<host>    MaintenanceFlag
 *   pause                 PauseFlag: cluster-wide switch
 *   storm                 StormFlag: the last storm, its start and end (each emailed once)
 *   state/power           PowerDoc: every host's chassis power, from the power poller
 *   state/nova            NovaDoc: every host's nova-compute in Nova's API, from the Nova poller
 *   notify/<key>          notification dedupe markers
 *   repair-reports/<host> the compute's signed report on the last repair it was asked for: written
 *                         by the compute itself (its token may write this one key), read by the worker
 *   kdump/<host>          KdumpRecord: fence_kdump messages from the host's own address while it was failed everywhere
 */
import type { Held, KdumpObservation, MemberState, Network, PowerState, ServiceState } from '../decision/model.js';
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
  power: 'state/power',
  nova: 'state/nova',
  notify: (key: string) => `notify/${key}`,
  poller: (name: string) => `pollers/${name}`,
  repairReport: (host: string) => `repair-reports/${host}`,
  kdump: (host: string) => `kdump/${host}`,
  kdumpAll: 'kdump',
} as const;

export interface HostRecord {
  readonly networks: Readonly<Record<Network, Held<MemberState>>>;
  readonly novaNode: Held<ServiceState>;
  /** When and by whom it was last written. */
  readonly at: number;
  readonly by: string;
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

export interface PowerDoc {
  readonly at: number;
  readonly by: string;
  readonly hosts: Readonly<Record<string, Held<PowerState> & { readonly error?: string }>>;
}

export interface NovaServiceState extends Held<ServiceState> {
  readonly id: string;
  readonly status: 'enabled' | 'disabled';
  readonly forcedDown: boolean;
  readonly disabledReason?: string | null;
  /** The service's last report to Nova (its updated_at), in ms; absent when Nova gives none. */
  readonly reportedAt?: number;
}

/** A Nova service as the Nova poller's document keeps it; `since` is when its state began. */
export function novaServiceState(service: ComputeService, since: number): NovaServiceState {
  const reported = reportedAt(service);
  return { id: service.id, state: service.state, since, status: service.status, forcedDown: service.forcedDown, disabledReason: service.disabledReason, ...(reported !== undefined ? { reportedAt: reported } : {}) };
}

export interface NovaDoc {
  readonly at: number;
  readonly by: string;
  /** Whether the API answered on the last poll (the doc is still written when it did not). */
  readonly api: ServiceState;
  readonly schedulers: ServiceState;
  readonly hosts: Readonly<Record<string, NovaServiceState>>;
  readonly error?: string;
}

/** One host's latest dump: written by the controllers' fence_kdump listeners (recovery/kdump-listener.ts). */
export interface KdumpRecord extends KdumpObservation {
  /** The controller whose listener wrote it last. */
  readonly by: string;
}
