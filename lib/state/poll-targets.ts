/** The compute hosts a poller reads: every compute-role node in the mgmt catalog and every host nova-ha has a record of. */
import { ROLE_META } from './clusters.js';
import { KEYS } from './records.js';
import type { Runtime } from '../recovery/runtime.js';

export async function pollTargets(runtime: Runtime): Promise<string[]> {
  const [nodes, records] = await Promise.all([runtime.clusters.mgmt.catalogNodes(`Meta["${ROLE_META}"] == "compute"`), runtime.kv.tree(runtime.kv.key(KEYS.hosts))]);
  return [...new Set([...nodes.map((n) => n.Node), ...records.keys()])].sort();
}
