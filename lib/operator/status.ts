/**
 * The operator's picture of the cloud, read once from every cluster's leader and nova-ha's KV
 * records: what `nova-ha status` prints and its --json shape (docs/status-json.md).
 */
import { NETWORKS, type MemberState, type Network, type PowerState, type ServiceState, type Snapshot } from '../decision/model.js';
import { buildSnapshot, type World } from '../decision/observation.js';
import { readWorld } from '../state/world.js';
import { decide, stormOf, type Action, type Cause } from '../decision/policy.js';
import type { Runtime } from '../recovery/runtime.js';

export interface HostStatus {
  readonly host: string;
  readonly networks: Readonly<Record<Network, MemberState>>;
  readonly power: PowerState;
  readonly novaCompute: { readonly node: ServiceState; readonly api: ServiceState };
  readonly maintenance: { readonly on: boolean; readonly reason?: string } | 'unknown';
  readonly incident: { readonly id: string; readonly phase: string; readonly cause: string; readonly needsOperator: boolean } | null | 'unknown';
  readonly decision: { readonly action: Action; readonly cause: Cause; readonly reason: string };
}

export interface ClusterStatus {
  readonly generatedAt: string;
  /** The controller (Consul node) that read it. */
  readonly observer: string;
  readonly clusters: Readonly<Record<Network, { readonly ok: boolean; readonly error?: string }>>;
  readonly paused: { readonly reason: string; readonly since: string } | null | 'unknown';
  readonly storm: string | null;
  readonly nova: { readonly api: ServiceState; readonly schedulers: ServiceState };
  readonly hosts: readonly HostStatus[];
  /** Parts that could not be read, in one line each. */
  readonly errors: readonly string[];
}

export async function readStatus(runtime: Runtime): Promise<ClusterStatus> {
  const world = await readWorld(runtime.clusters, runtime.kv, runtime.node);
  const now = Date.now();
  return statusOf(world, buildSnapshot(world, { node: runtime.node, startedAt: 0 }, now, runtime.freshness).snapshot, runtime);
}

/** The picture from what an evaluation already read (the controller check writes metrics from it). */
export function statusOf(world: World, snapshot: Snapshot, runtime: Pick<Runtime, 'node' | 'settings'>): ClusterStatus {
  const now = snapshot.context.now;
  const ctx = snapshot.context;
  return {
    generatedAt: new Date(now).toISOString(),
    observer: runtime.node,
    clusters: Object.fromEntries(NETWORKS.map((n) => { const v = world.views[n]; return [n, v.ok ? { ok: true } : { ok: false, error: v.error }]; })) as ClusterStatus['clusters'],
    paused: ctx.paused === 'unknown' || ctx.paused === null ? ctx.paused : { reason: ctx.paused.reason, since: new Date(ctx.paused.since).toISOString() },
    storm: stormOf(ctx, runtime.settings.stormLimit) ?? null,
    nova: ctx.nova,
    hosts: snapshot.hosts.map((h) => {
      const decision = decide(h, { ...ctx, observer: { ...ctx.observer, startedAt: 0 } }, runtime.settings);
      const incidentFull = world.incidents === 'unknown' ? 'unknown' : world.incidents.get(h.host);
      return {
        host: h.host,
        networks: Object.fromEntries(NETWORKS.map((n) => [n, h.networks[n].state])) as HostStatus['networks'],
        power: h.power.state,
        novaCompute: { node: h.novaCompute.node.state, api: h.novaCompute.api.state },
        maintenance: h.maintenance.state === 'unknown' ? 'unknown' : { on: h.maintenance.state === 'on', ...(h.maintenance.reason ? { reason: h.maintenance.reason } : {}) },
        incident: incidentFull === 'unknown' ? 'unknown' : incidentFull ? { id: incidentFull.id, phase: incidentFull.phase, cause: incidentFull.cause, needsOperator: incidentFull.hold?.needsOperator ?? false } : null,
        decision: { action: decision.action, cause: decision.cause, reason: decision.reason },
      };
    }),
    errors: world.errors,
  };
}
