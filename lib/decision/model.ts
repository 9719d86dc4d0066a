import type { Network } from '../config/schema.js';

export { NETWORKS, type Network } from '../config/schema.js';

/** A compute host's agent in one Consul cluster, as the leader's health data says. */
export type MemberState = 'alive' | 'failed' | 'left' | 'unknown';
export type PowerState = 'on' | 'off' | 'unknown';
export type ServiceState = 'up' | 'down' | 'unknown';
export type ObserverHealth = 'healthy' | 'isolated' | 'unknown';

/** A state and since when it has held (ms since the epoch): the policy needs both. */
export interface Held<T> {
  readonly state: T;
  readonly since: number;
}

export const PHASES = ['detected', 'confirming', 'repairing', 'fencing', 'forcing-down', 'evacuating', 'fenced', 'recovered', 'failed', 'held'] as const;
export type Phase = (typeof PHASES)[number];
/** Phases in which the fence-and-evacuate workflow has started and must run to its end. */
export const FENCE_PHASES: readonly Phase[] = ['fencing', 'forcing-down', 'evacuating'];
export const CLOSED_PHASES: readonly Phase[] = ['recovered', 'failed'];

export const REPAIRS = ['restart-storage-network', 'restart-nova-compute', 'power-on'] as const;
export type Repair = (typeof REPAIRS)[number];
/** Things tried once per incident and then waited on: the repairs, and draining by live migration. */
export type Attempt = Repair | 'drain';

/** What the policy reads of a host's open incident. */
export interface IncidentSummary {
  readonly id: string;
  readonly phase: Phase;
  readonly phaseSince: number;
  /** When each repair (or the drain) was first tried in this incident. */
  readonly attempts: Partial<Record<Attempt, number>>;
  /** Set once nova-ha has sent "chassis power off": from then on only an operator may power the host on. */
  readonly fenceStarted: boolean;
  /** Held incidents: whether only an operator may move them on. */
  readonly hold?: { readonly reason: string; readonly needsOperator: boolean };
  /** An alert was sent for this incident (so its recovery is worth an email too). */
  readonly alerted: boolean;
}

/**
 * The self-fence watchdog a compute publishes: its nova-ha-watchdog check in the mgmt cluster,
 * passing with the timeout while the node keeps it fed (lib/node/watchdog-feeder.ts).
 */
export interface WatchdogObservation {
  readonly state: 'armed' | 'not-armed' | 'unknown';
  readonly timeoutMs?: number;
  /** What the check says, for reasons and status. */
  readonly detail?: string;
}

/** fence_kdump messages from a host's own address while it was failed on every network (the controllers' listeners record them). */
export interface KdumpObservation {
  readonly from: string;
  readonly first: number;
  readonly last: number;
  readonly count: number;
}

export interface HostObservation {
  readonly host: string;
  readonly networks: Readonly<Record<Network, Held<MemberState>>>;
  readonly power: Held<PowerState>;
  readonly novaCompute: {
    /** The node-local check: systemd unit and process. */
    readonly node: Held<ServiceState>;
    /** Nova's service list: state up/down as the API reports it, and when the service last reported (if Nova says). */
    readonly api: Held<ServiceState> & { readonly reportedAt?: number };
  };
  readonly maintenance: { readonly state: 'on' | 'off' | 'unknown'; readonly reason?: string };
  /** The open incident; null when there is none; 'unknown' when it could not be read. */
  readonly incident: IncidentSummary | null | 'unknown';
  /** Its watchdog (absent: nobody looked, as when the feature is off). */
  readonly watchdog?: WatchdogObservation;
  /** Its latest fence_kdump messages (absent or null: none). */
  readonly kdump?: KdumpObservation | null;
}

export interface ClusterContext {
  readonly now: number;
  readonly observer: {
    readonly node: string;
    readonly networks: Readonly<Record<Network, ObserverHealth>>;
    /** When the observing controller's Consul agent started (the quiet period counts from it). */
    readonly startedAt: number;
  };
  /** All compute hosts nova-ha knows, for the storm limit's percentage. */
  readonly hosts: number;
  /** Hosts failed right now on each network (left ones are not failures). */
  readonly failed: Readonly<Record<Network, number>>;
  /** Hosts whose nova-compute Nova's API reports down right now. */
  readonly novaApiDown: number;
  readonly nova: { readonly api: ServiceState; readonly schedulers: ServiceState };
  readonly paused: { readonly reason: string; readonly since: number } | null | 'unknown';
}

/** The document simulate reads and the handlers build: one cluster context and many hosts. */
export interface Snapshot {
  readonly context: ClusterContext;
  readonly hosts: readonly HostObservation[];
}

/** A node's checks in one cluster, as its leader reports them (state/clusters.ts reads them). */
export type CheckStatus = 'passing' | 'warning' | 'critical';

export interface NodeHealth {
  readonly role: string | undefined;
  readonly serfHealth: CheckStatus | undefined;
  readonly novaCompute: CheckStatus | undefined;
  readonly maintenance: boolean;
  /** Its nova-ha-watchdog check: the status, and the timeout its output publishes (state/clusters.ts parses it). */
  readonly watchdog?: { readonly status: CheckStatus | undefined; readonly timeoutMs?: number; readonly output: string };
}

export type ClusterView =
  | { readonly ok: true; readonly network: Network; readonly nodes: ReadonlyMap<string, NodeHealth> }
  | { readonly ok: false; readonly network: Network; readonly error: string };
