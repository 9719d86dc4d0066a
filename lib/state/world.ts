/**
 * Reading the world: the three clusters' leaders (consistent reads), nova-ha's KV records and the
 * pollers' documents, each read once per evaluation. A part that cannot be read is "unknown",
 * never a verdict; decision/observation.ts turns the result into the policy's input.
 */
import type { Network } from '../config/schema.js';
import type { Known, World } from '../decision/observation.js';
import type { ConsulApi } from '../systems/consul/api.js';
import type { JsonKv } from '../systems/consul/kv.js';
import { readCluster } from './clusters.js';
import type { Incident } from './incident.js';
import { KEYS, type HostRecord, type KdumpRecord, type MaintenanceFlag, type NovaDoc, type PauseFlag, type PowerDoc } from './records.js';

async function known<T>(read: () => Promise<T>, what: string, errors: string[]): Promise<Known<T>> {
  try {
    return await read();
  } catch (error) {
    errors.push(`${what}: ${(error as Error).message}`);
    return 'unknown';
  }
}

const values = <T>(map: Map<string, { value: T }>): Map<string, T> => new Map([...map].map(([k, v]) => [k, v.value]));

export async function readWorld(clusters: Readonly<Record<Network, ConsulApi>>, kv: JsonKv): Promise<World> {
  const errors: string[] = [];
  const [mgmt, storage, tenant, records, incidents, maintenance, pause, power, nova, kdump] = await Promise.all([
    readCluster(clusters.mgmt, 'mgmt'),
    readCluster(clusters.storage, 'storage'),
    readCluster(clusters.tenant, 'tenant'),
    known(async () => values(await kv.tree<HostRecord>(kv.key(KEYS.hosts))), 'host records', errors),
    known(async () => values(await kv.tree<Incident>(kv.key(KEYS.incidents))), 'incidents', errors),
    known(async () => values(await kv.tree<MaintenanceFlag>(kv.key(KEYS.maintenanceAll))), 'maintenance flags', errors),
    known(async () => (await kv.read<PauseFlag>(kv.key(KEYS.pause)))?.value ?? null, 'pause switch', errors),
    known(async () => (await kv.read<PowerDoc>(kv.key(KEYS.power)))?.value ?? null, 'power states', errors),
    known(async () => (await kv.read<NovaDoc>(kv.key(KEYS.nova)))?.value ?? null, 'Nova service states', errors),
    known(async () => values(await kv.tree<KdumpRecord>(kv.key(KEYS.kdumpAll))), 'fence_kdump records', errors),
  ]);
  for (const view of [mgmt, storage, tenant]) if (!view.ok) errors.push(`${view.network} cluster: ${view.error}`);
  return { views: { mgmt, storage, tenant }, records, incidents, maintenance, pause, power, nova, kdump, errors };
}
