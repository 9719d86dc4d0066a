/**
 * Observations: what the three clusters' leaders, nova-ha's KV records and the pollers say,
 * turned into the policy's input. Pure: the reading (state/world.ts) is separate, so the
 * construction is unit-tested without a Consul.
 */
import type { Incident } from '../state/incident.js';
import type { HostRecord, KdumpRecord, MaintenanceFlag, NovaDoc, PauseFlag, PowerDoc } from '../state/records.js';
import { novaComputeOnNode } from './checks.js';
import { NETWORKS, type ClusterContext, type ClusterView, type Held, type HostObservation, type IncidentSummary, type MemberState, type Network, type ObserverHealth, type Snapshot, type WatchdogObservation } from './model.js';

export type Known<T> = T | 'unknown';

/** Everything one evaluation reads, read once. */
export interface World {
  readonly views: Readonly<Record<Network, ClusterView>>;
  readonly records: Known<ReadonlyMap<string, HostRecord>>;
  readonly incidents: Known<ReadonlyMap<string, Incident>>;
  readonly maintenance: Known<ReadonlyMap<string, MaintenanceFlag>>;
  readonly pause: Known<PauseFlag | null>;
  readonly power: Known<PowerDoc | null>;
  readonly nova: Known<NovaDoc | null>;
  /** fence_kdump records by host (absent: not read, as in snapshots from before kdump awareness). */
  readonly kdump?: Known<ReadonlyMap<string, KdumpRecord>>;
  /** Why parts of the world are unknown, for the logs. */
  readonly errors: readonly string[];
}

export interface Observer {
  readonly node: string;
  /** When this controller's Consul agent started (the quiet period counts from it). */
  readonly startedAt: number;
}

export interface Freshness {
  /** Poller documents older than this are not trusted (their data becomes unknown). */
  readonly powerMaxAge: number;
  readonly novaMaxAge: number;
}

/** What the policy reads of an incident. */
export function summarize(incident: Incident): IncidentSummary {
  return {
    id: incident.id,
    cause: incident.cause,
    phase: incident.phase,
    phaseSince: incident.phaseSince,
    attempts: incident.attempts,
    ...(incident.repairReports ? { reports: incident.repairReports } : {}),
    ...(incident.repairRequests ? { requestsSent: Object.fromEntries(Object.entries(incident.repairRequests).map(([repair, nonces]) => [repair, nonces.length])) } : {}),
    fenceStarted: incident.fenceStarted,
    alerted: incident.alerted,
    ...(incident.hold ? { hold: incident.hold } : {}),
    ...(incident.seenOnWhileFenced !== undefined ? { seenOnWhileFenced: incident.seenOnWhileFenced } : {}),
  };
}

/** Compute hosts: every node with the compute role in any cluster, and every host nova-ha has a record of. */
export function computeHosts(world: World): string[] {
  const hosts = new Set<string>();
  for (const network of NETWORKS) {
    const view = world.views[network];
    if (view.ok) for (const [name, node] of view.nodes) if (node.role === 'compute') hosts.add(name);
  }
  if (world.records !== 'unknown') for (const host of world.records.keys()) hosts.add(host);
  return [...hosts].sort();
}

function memberState(view: ClusterView, host: string): MemberState {
  if (!view.ok) return 'unknown';
  const node = view.nodes.get(host);
  // Known to nova-ha but gone from this cluster's catalog: its agent left (deregistered).
  if (!node) return 'left';
  if (node.serfHealth === 'passing') return 'alive';
  if (node.serfHealth === 'critical') return 'failed';
  return 'unknown';
}

/** A compute's watchdog as its nova-ha-watchdog check in the mgmt leader's data says: armed only when passing with a timeout. */
function watchdogOf(view: ClusterView, host: string): WatchdogObservation {
  if (!view.ok) return { state: 'unknown' };
  const check = view.nodes.get(host)?.watchdog;
  if (!check) return { state: 'not-armed', detail: 'no nova-ha-watchdog check' };
  if (check.status === 'passing' && check.timeoutMs !== undefined) return { state: 'armed', timeoutMs: check.timeoutMs, detail: check.output };
  return { state: 'not-armed', detail: `nova-ha-watchdog ${check.status ?? 'unknown'}: ${check.output}` };
}

function observerHealth(view: ClusterView, observer: string): ObserverHealth {
  if (!view.ok) return 'unknown';
  const self = view.nodes.get(observer);
  if (!self || self.serfHealth === undefined) return 'unknown';
  return self.serfHealth === 'passing' ? 'healthy' : 'isolated';
}


/** Keeps "since" when the state did not change; an unknown state does not erase what was known. */
function track<T extends string>(previous: Held<T> | undefined, state: T, now: number): Held<T> {
  if (state === 'unknown') return previous ?? { state, since: now };
  return previous && previous.state === state ? previous : { state, since: now };
}

function fresh<T extends { at: number }>(doc: Known<T | null>, now: number, maxAge: number): T | undefined {
  return doc !== 'unknown' && doc !== null && now - doc.at <= maxAge ? doc : undefined;
}

export interface BuiltSnapshot {
  readonly snapshot: Snapshot;
  /** Host records whose known states changed: write these back. */
  readonly changed: ReadonlyMap<string, HostRecord>;
}

export function buildSnapshot(world: World, observer: Observer, now: number, freshness: Freshness): BuiltSnapshot {
  const hosts = computeHosts(world);
  const power = fresh(world.power, now, freshness.powerMaxAge);
  const nova = fresh(world.nova, now, freshness.novaMaxAge);
  const changed = new Map<string, HostRecord>();
  const failed: Record<Network, number> = { mgmt: 0, storage: 0, tenant: 0 };
  let novaApiDown = 0;
  let watched = 0;

  const observations: HostObservation[] = hosts.map((host) => {
    const previous = world.records === 'unknown' ? undefined : world.records.get(host);
    const mgmtNode = world.views.mgmt.ok ? world.views.mgmt.nodes.get(host) : undefined;
    const networks = Object.fromEntries(NETWORKS.map((n) => [n, track(previous?.networks[n], memberState(world.views[n], host), now)])) as Record<Network, Held<MemberState>>;
    // A state read as unknown keeps the last known one in the record, but the policy must see it as unknown.
    const seen = Object.fromEntries(NETWORKS.map((n) => { const state = memberState(world.views[n], host); return [n, state === 'unknown' ? { state, since: now } : networks[n]]; })) as Record<Network, Held<MemberState>>;
    // nova-compute on the node counts only while the node is alive on mgmt (its check runs there).
    const nodeState = mgmtNode?.serfHealth === 'passing' ? novaComputeOnNode(mgmtNode.novaCompute).state : 'unknown';
    const novaNode = track(previous?.novaNode, nodeState, now);

    const record: HostRecord = { networks, novaNode, at: now, by: observer.node };
    const differs = !previous || NETWORKS.some((n) => previous.networks[n]?.state !== networks[n].state || previous.networks[n]?.since !== networks[n].since) || previous.novaNode?.state !== novaNode.state;
    if (differs && world.records !== 'unknown') changed.set(host, record);

    const api = nova?.hosts[host];
    const maintenanceFlag = world.maintenance === 'unknown' ? 'unknown' : world.maintenance.get(host);
    const consulMaintenance = NETWORKS.some((n) => { const view = world.views[n]; return view.ok && view.nodes.get(host)?.maintenance === true; });
    const incident = world.incidents === 'unknown' ? 'unknown' : world.incidents.get(host);
    // The storm limit is about hosts failing at the same time: a host in maintenance is not
    // watched, and a fenced host (its instances evacuated) is a failure already dealt with.
    const inMaintenance = consulMaintenance || (maintenanceFlag !== 'unknown' && maintenanceFlag !== undefined);
    if (!inMaintenance) {
      watched++;
      if (incident === 'unknown' || incident?.phase !== 'fenced') {
        for (const n of NETWORKS) if (seen[n].state === 'failed') failed[n]++;
        if (api?.state === 'down') novaApiDown++;
      }
    }
    const kdump = world.kdump === undefined || world.kdump === 'unknown' ? undefined : world.kdump.get(host);
    return {
      host,
      networks: seen,
      power: power?.hosts[host] ? { state: power.hosts[host].state, since: power.hosts[host].since } : { state: 'unknown', since: now },
      novaCompute: { node: nodeState === 'unknown' ? { state: 'unknown', since: now } : novaNode, api: api ? { state: api.state, since: api.since, ...(api.reportedAt !== undefined ? { reportedAt: api.reportedAt } : {}) } : { state: 'unknown', since: now } },
      maintenance: consulMaintenance ? { state: 'on', reason: 'Consul node maintenance' } : maintenanceFlag === 'unknown' ? { state: 'unknown' } : maintenanceFlag ? { state: 'on', reason: maintenanceFlag.reason } : { state: 'off' },
      incident: incident === 'unknown' ? 'unknown' : incident ? summarize(incident) : null,
      watchdog: watchdogOf(world.views.mgmt, host),
      kdump: kdump ? { from: kdump.from, first: kdump.first, last: kdump.last, count: kdump.count } : null,
    };
  });

  const context: ClusterContext = {
    now,
    observer: { node: observer.node, networks: Object.fromEntries(NETWORKS.map((n) => [n, observerHealth(world.views[n], observer.node)])) as Record<Network, ObserverHealth>, startedAt: observer.startedAt },
    hosts: watched,
    failed,
    novaApiDown,
    nova: nova ? { api: nova.api, schedulers: nova.schedulers } : { api: 'unknown', schedulers: 'unknown' },
    paused: world.pause === 'unknown' ? 'unknown' : world.pause ? { reason: world.pause.reason, since: world.pause.since } : null,
  };
  return { snapshot: { context, hosts: observations }, changed };
}

