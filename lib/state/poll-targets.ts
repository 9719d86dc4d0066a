/** The compute hosts a poller reads: every compute-role node in the mgmt catalog and every host nova-ha has a record of. */
import type { JsonKv } from '../systems/consul/kv.js';
import { ROLE_META } from '../systems/consul/names.js';
import { KEYS } from './records.js';

/** kv is nova-ha's store in the mgmt cluster, whose catalog lists the compute nodes too. */
export async function pollTargets(kv: JsonKv): Promise<string[]> {
  const [nodes, recorded] = await Promise.all([kv.api.catalogNodes(`Meta["${ROLE_META}"] == "compute"`), kv.keys(kv.key(KEYS.hosts))]);
  return [...new Set([...nodes.map((n) => n.Node), ...recorded])].sort();
}
