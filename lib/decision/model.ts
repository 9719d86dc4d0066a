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
/** The repairs a compute node runs itself, on a controller's signed request (power-on goes to its BMC). */
export const NODE_REPAIRS = ['restart-storage-network', 'restart-nova-compute'] as const;
export type NodeRepair = (typeof NODE_REPAIRS)[number];

/**
 * What a node reports about a repair it was asked for: refused (and why), failed (its exit code),
 * ran (nothing checked after it), works or still-broken (its own check after the settle time:
 * the storage servers reached, nova-compute still running). Only the health state recovering is
 * success; a report can only make the controller stop waiting for a repair that cannot help.
 */
export const REPAIR_RESULTS = ['refused', 'failed', 'ran', 'works', 'still-broken'] as const;
export type RepairResult = (typeof REPAIR_RESULTS)[number];
/** The results after which waiting out the repair timeout is pointless. */
export const HOPELESS_RESULTS: readonly RepairResult[] = ['refused', 'failed', 'still-broken'];

/** A node's report on a repair, as the controller verified and recorded it. */
export interface RepairReport {
  readonly result: RepairResult;
  /** The node's evidence, in its words ("stor0 up, 0 of 3 storage servers reachable after 5 s"). */
  readonly detail: string;
  /** When a controller verified and recorded it (its own clock, like the attempt's time). */
  readonly at: number;
}

/** What a host's state means: one row of the decision matrix (design.md section 4), or why none applies. */
export const CAUSES = [
  'healthy',
  'mgmt-network',
  'tenant-network',
  'storage-network',
  'node-unreachable',
  'power-lost',
  'shut-down',
  'power-unknown',
  'nova-api-only',
  'nova-compute-dead',
  'agents-left',
  'inconsistent',
  'operator',
  'unknown',
] as const;
export type Cause = (typeof CAUSES)[number];

/** What the policy reads of a host's open incident. */
export interface IncidentSummary {
  readonly id: string;
  /** What the incident was confirmed as (absent in hand-written simulate files: nothing escalates from it). */
  readonly cause?: Cause;
  readonly phase: Phase;
  readonly phaseSince: number;
  /** When each repair (or the drain) was first tried in this incident. */
  readonly attempts: Partial<Record<Attempt, number>>;
  /** The nodes' verified reports on the repairs they were asked for in this incident. */
  readonly reports?: Partial<Record<NodeRepair, RepairReport>>;
  /** How many signed requests for each node repair were sent in this incident (a resend counts). */
  readonly requestsSent?: Partial<Record<NodeRepair, number>>;
  /** Set once nova-ha has sent "chassis power off": from then on only an operator may power the host on. */
  readonly fenceStarted: boolean;
  /** Held incidents: whether only an operator may move them on. */
  readonly hold?: { readonly reason: string; readonly needsOperator: boolean };
  /** An alert was sent for this incident (so its recovery is worth an email too). */
  readonly alerted: boolean;
  /** When the host was first seen on again after it was fenced (the operators were told then). */
  readonly seenOnWhileFenced?: number;
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
  /** Compute hosts nova-ha watches (known, not in maintenance), for the storm limit's percentage. */
  readonly hosts: number;
  /**
   * Watched hosts failing right now on each network whose recovery has not finished (a fenced
   * host is done with; left ones are not failures).
   */
  readonly failed: Readonly<Record<Network, number>>;
  /** Watched, not fenced hosts whose nova-compute Nova's API reports down right now. */
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
  /** The node-local nova-compute check, with its output (decision/checks.ts reads it). */
  readonly novaCompute: { readonly status: CheckStatus; readonly output: string } | undefined;
  /** Every check nova-ha registers on the node, by check ID, with its output. */
  readonly checks: Readonly<Record<string, { readonly status: CheckStatus; readonly output: string }>>;
  readonly maintenance: boolean;
  /** Its nova-ha-watchdog check: the status, and the timeout its output publishes (state/clusters.ts parses it). */
  readonly watchdog?: { readonly status: CheckStatus | undefined; readonly timeoutMs?: number; readonly output: string };
}

export type ClusterView =
  | { readonly ok: true; readonly network: Network; readonly nodes: ReadonlyMap<string, NodeHealth> }
  | { readonly ok: false; readonly network: Network; readonly error: string };
