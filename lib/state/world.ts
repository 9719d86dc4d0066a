/**
 * Reading the world: the three clusters' leaders (consistent reads), nova-ha's KV records and the
 * pollers' views, each read once per evaluation, every read scoped to what the evaluation needs
 * (clusters.ts, views.ts). A part that cannot be read is "unknown", never a verdict;
 * decision/observation.ts turns the result into the policy's input. A worker reads its own host
 * only (readHostWorld) while it waits, and the whole world before it acts.
 */
import type { Network } from '../config/schema.js';
import type { Known, World } from '../decision/observation.js';
import type { ConsulApi } from '../systems/consul/api.js';
import type { JsonKv } from '../systems/consul/kv.js';
import { readCluster, readHostCluster } from './clusters.js';
import type { Incident } from './incident.js';
import { KEYS, type HostRecord, type KdumpRecord, type MaintenanceFlag, type PauseFlag } from './records.js';
import { readHostViews, readViews, type Views } from './views.js';

async function known<T>(read: () => Promise<T>, what: string, errors: string[]): Promise<Known<T>> {
  try {
    return await read();
  } catch (error) {
    errors.push(`${what}: ${(error as Error).message}`);
    return 'unknown';
  }
}

function assemble(views: Readonly<Record<Network, World['views'][Network]>>, parts: { records: Known<ReadonlyMap<string, HostRecord>>; incidents: Known<ReadonlyMap<string, Incident>>; maintenance: Known<ReadonlyMap<string, MaintenanceFlag>>; pause: Known<PauseFlag | null>; pollers: Known<Views>; kdump: Known<ReadonlyMap<string, KdumpRecord>> }, errors: string[]): World {
  for (const view of Object.values(views)) if (!view.ok) errors.push(`${view.network} cluster: ${view.error}`);
  const { pollers, ...rest } = parts;
  return { views, ...rest, power: pollers === 'unknown' ? 'unknown' : pollers.power, nova: pollers === 'unknown' ? 'unknown' : pollers.nova, errors };
}

/** Everything about every compute host, as `observer` (this controller) sees it. */
export async function readWorld(clusters: Readonly<Record<Network, ConsulApi>>, kv: JsonKv, observer: string): Promise<World> {
  const errors: string[] = [];
  // The clusters first, then KV: at 10,000 hosts each half is ~10 MB of JSON, and parsing one
  // half while the other arrives kept both in memory at once (peak RSS ~13 MiB higher, bench/scale.ts).
  const [mgmt, storage, tenant] = await Promise.all([readCluster(clusters.mgmt, 'mgmt', observer), readCluster(clusters.storage, 'storage', observer), readCluster(clusters.tenant, 'tenant', observer)]);
  const [records, incidents, maintenance, pause, pollers, kdump] = await Promise.all([
    known(() => kv.values<HostRecord>(kv.key(KEYS.hosts)), 'host records', errors),
    known(() => kv.values<Incident>(kv.key(KEYS.incidents)), 'incidents', errors),
    known(() => kv.values<MaintenanceFlag>(kv.key(KEYS.maintenanceAll)), 'maintenance flags', errors),
    known(async () => (await kv.read<PauseFlag>(kv.key(KEYS.pause)))?.value ?? null, 'pause switch', errors),
    known(() => readViews(kv), 'power and Nova service states', errors),
    known(() => kv.values<KdumpRecord>(kv.key(KEYS.kdumpAll)), 'fence_kdump records', errors),
  ]);
  return assemble({ mgmt, storage, tenant }, { records, incidents, maintenance, pause, pollers, kdump }, errors);
}

/** The world of one host: its health in each cluster, its records and views, the observer's own health. */
export interface HostWorld {
  readonly world: World;
  /** Per cluster, the index of the host's health to block on (waitForHostChange). */
  readonly indexes: Readonly<Record<Network, number>>;
}

export async function readHostWorld(clusters: Readonly<Record<Network, ConsulApi>>, kv: JsonKv, host: string, observer: string): Promise<HostWorld> {
  const errors: string[] = [];
  const one = async <T>(key: string): Promise<Map<string, T>> => {
    const entry = await kv.read<T>(kv.key(key));
    return new Map(entry ? [[host, entry.value]] : []);
  };
  const [mgmt, storage, tenant, records, incidents, maintenance, pause, pollers, kdump] = await Promise.all([
    readHostCluster(clusters.mgmt, 'mgmt', host, observer),
    readHostCluster(clusters.storage, 'storage', host, observer),
    readHostCluster(clusters.tenant, 'tenant', host, observer),
    known(() => one<HostRecord>(KEYS.host(host)), 'host record', errors),
    known(() => one<Incident>(KEYS.incident(host)), 'incident', errors),
    known(() => one<MaintenanceFlag>(KEYS.maintenance(host)), 'maintenance flag', errors),
    known(async () => (await kv.read<PauseFlag>(kv.key(KEYS.pause)))?.value ?? null, 'pause switch', errors),
    known(() => readHostViews(kv, host), 'power and Nova service states', errors),
    known(() => one<KdumpRecord>(KEYS.kdump(host)), 'fence_kdump record', errors),
  ]);
  const world = assemble({ mgmt: mgmt.view, storage: storage.view, tenant: tenant.view }, { records, incidents, maintenance, pause, pollers, kdump }, errors);
  return { world, indexes: { mgmt: mgmt.index, storage: storage.index, tenant: tenant.index } };
}
