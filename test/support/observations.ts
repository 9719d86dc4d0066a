/** Builders for policy inputs: a healthy host and a calm cluster, changed only where a test says. */
import type { ClusterContext, HostObservation, IncidentSummary, MemberState, Network, PowerState, ServiceState } from '../../lib/decision/model.js';
import type { PolicySettings } from '../../lib/decision/policy.js';

export const NOW = Date.parse('2026-11-25T10:00:00Z');
export const s = (seconds: number): number => seconds * 1000;
/** A time `seconds` before NOW. */
export const ago = (seconds: number): number => NOW - s(seconds);

export const SETTINGS: PolicySettings = {
  confirmationWindow: s(10),
  apiDownWait: s(60),
  repairTimeout: s(60),
  bootTimeout: s(300),
  startupQuietPeriod: s(120),
  stormLimit: { percent: 10 },
  fencing: 'ipmi',
  drainOnTenantFailure: false,
};

export interface HostShape {
  mgmt?: MemberState;
  storage?: MemberState;
  tenant?: MemberState;
  /** How long ago the network states above began (default: an hour). */
  netSince?: number;
  /** When one network's failure began, where the networks failed at different times. */
  since?: Partial<Record<Network, number>>;
  power?: PowerState;
  node?: ServiceState;
  api?: ServiceState;
  novaSince?: number;
  /** When the node's nova-compute check last changed state (default: with novaSince, or a day ago). */
  novaNodeSince?: number;
  /** When nova-compute last reported to Nova (absent: Nova gave no updated_at). */
  reportedAt?: number;
  /** When the management network came back (default: a day ago). */
  mgmtBackSince?: number;
  /** When each alive network came back (default: a day ago; mgmtBackSince for mgmt). */
  backSince?: Partial<Record<Network, number>>;
  maintenance?: 'on' | 'off' | 'unknown';
  incident?: Partial<IncidentSummary> | null | 'unknown';
}

export function host(shape: HostShape = {}, name = 'cmp1'): HostObservation {
  const since = shape.netSince ?? ago(3600);
  const held = (state: MemberState, network: Network, aliveSince = shape.backSince?.[network] ?? ago(86_400)) => ({ state, since: state === 'alive' ? aliveSince : (shape.since?.[network] ?? since) });
  const incident = shape.incident === undefined || shape.incident === null || shape.incident === 'unknown' ? (shape.incident ?? null) : { id: 'inc-1', phase: 'confirming' as const, phaseSince: ago(30), attempts: {}, fenceStarted: false, alerted: false, ...shape.incident };
  return {
    host: name,
    networks: { mgmt: held(shape.mgmt ?? 'alive', 'mgmt', shape.mgmtBackSince), storage: held(shape.storage ?? 'alive', 'storage'), tenant: held(shape.tenant ?? 'alive', 'tenant') },
    power: { state: shape.power ?? 'on', since: ago(86_400) },
    novaCompute: {
      node: { state: shape.node ?? 'up', since: shape.novaNodeSince ?? (shape.node && shape.node !== 'up' ? (shape.novaSince ?? ago(3600)) : ago(86_400)) },
      api: { state: shape.api ?? 'up', since: shape.api && shape.api !== 'up' ? (shape.novaSince ?? ago(3600)) : ago(86_400), ...(shape.reportedAt !== undefined ? { reportedAt: shape.reportedAt } : {}) },
    },
    maintenance: { state: shape.maintenance ?? 'off' },
    incident,
  };
}

export interface ClusterShape {
  observer?: Partial<Record<Network, 'healthy' | 'isolated' | 'unknown'>>;
  startedAgo?: number;
  hosts?: number;
  failed?: Partial<Record<Network, number>>;
  novaApiDown?: number;
  nova?: ServiceState;
  schedulers?: ServiceState;
  paused?: ClusterContext['paused'];
}

export function cluster(shape: ClusterShape = {}): ClusterContext {
  return {
    now: NOW,
    observer: { node: 'ctl1', networks: { mgmt: 'healthy', storage: 'healthy', tenant: 'healthy', ...shape.observer }, startedAt: ago(shape.startedAgo ?? 86_400) },
    hosts: shape.hosts ?? 20,
    failed: { mgmt: 0, storage: 0, tenant: 0, ...shape.failed },
    novaApiDown: shape.novaApiDown ?? 0,
    nova: { api: shape.nova ?? 'up', schedulers: shape.schedulers ?? 'up' },
    paused: shape.paused ?? null,
  };
}
