/**
 * Member states as the cluster's leader sees them (consistent reads), never one agent's member
 * list: an isolated controller's agent reports everyone alive, or everyone failing, depending on
 * where the cut is (lab-notes). A read that fails makes the whole network "unknown".
 *
 * Only what an evaluation needs travels: Consul filters the checks to the three nova-ha reads
 * (serfHealth, the nova-compute check, node maintenance) of nodes with the compute role, and the
 * observer's own checks come from one node read. A compute node is in the view when it has one
 * of those checks (every agent has serfHealth while it is in the catalog); one with none reads
 * as gone from the cluster ("left"), as a node gone from the catalog does.
 */
import type { CheckStatus, ClusterView, NodeHealth } from '../decision/model.js';
import type { Network } from '../config/schema.js';
import type { ConsulApi, HealthCheck } from '../systems/consul/api.js';
import { describeConsulError } from '../systems/consul/connect.js';
import { NODE_MAINTENANCE_CHECK, NOVA_COMPUTE_CHECK, ROLE_META } from '../systems/consul/names.js';

const asStatus = (status: string): CheckStatus | undefined => (status === 'passing' || status === 'warning' || status === 'critical' ? status : undefined);

export const NODE_CHECKS_FILTER = `CheckID == "serfHealth" or CheckID == "${NOVA_COMPUTE_CHECK}" or CheckID == "${NODE_MAINTENANCE_CHECK}"`;

/** NodeHealth of each node from its checks (the three nova-ha reads; others are ignored). */
export function nodesFromChecks(checks: readonly HealthCheck[], roleOf: (node: string) => string | undefined): Map<string, NodeHealth> {
  const byNode = new Map<string, { role: string | undefined; serfHealth?: CheckStatus; novaCompute?: CheckStatus; maintenance: boolean }>();
  for (const check of checks) {
    let entry = byNode.get(check.Node);
    if (!entry) byNode.set(check.Node, (entry = { role: roleOf(check.Node), maintenance: false }));
    const status = asStatus(check.Status);
    if (check.CheckID === 'serfHealth') entry.serfHealth = status;
    else if (check.CheckID === NOVA_COMPUTE_CHECK) entry.novaCompute = status;
    else if (check.CheckID === NODE_MAINTENANCE_CHECK) entry.maintenance = true;
  }
  const result = new Map<string, NodeHealth>();
  for (const [name, entry] of byNode) result.set(name, { role: entry.role, serfHealth: entry.serfHealth, novaCompute: entry.novaCompute, maintenance: entry.maintenance });
  return result;
}

/** Every compute node of the cluster, and the observer (this controller) itself. */
export async function readCluster(api: ConsulApi, network: Network, observer: string): Promise<ClusterView> {
  try {
    const [computes, own] = await Promise.all([api.healthChecks(NODE_CHECKS_FILTER, `${ROLE_META}:compute`), api.healthNode(observer)]);
    const nodes = nodesFromChecks(computes, () => 'compute');
    for (const [name, health] of nodesFromChecks(own.checks, () => undefined)) if (!nodes.has(name)) nodes.set(name, health);
    return { ok: true, network, nodes };
  } catch (error) {
    return { ok: false, network, error: describeConsulError(error) };
  }
}

/** One host and the observer only: what a worker reads while it waits on its host. */
export async function readHostCluster(api: ConsulApi, network: Network, host: string, observer: string): Promise<{ view: ClusterView; index: number }> {
  try {
    const [target, own] = await Promise.all([api.healthNode(host), api.healthNode(observer)]);
    const nodes = nodesFromChecks(target.checks, () => 'compute');
    for (const [name, health] of nodesFromChecks(own.checks, () => undefined)) if (!nodes.has(name)) nodes.set(name, health);
    return { view: { ok: true, network, nodes }, index: target.index };
  } catch (error) {
    return { view: { ok: false, network, error: describeConsulError(error) }, index: 0 };
  }
}
