/**
 * Member states as the cluster's leader sees them (consistent reads), never one agent's member
 * list: an isolated controller's agent reports everyone alive, or everyone failing, depending on
 * where the cut is (lab-notes). A read that fails makes the whole network "unknown".
 *
 * Only what an evaluation needs travels: Consul filters the checks to the ones nova-ha reads
 * (serfHealth, node maintenance, nova-ha's own checks, the watchdog) and the nodes to those with
 * the compute or the controller role (node meta), so neither the catalog nor any other node's
 * checks are read; the observer's own checks come from one node read when it carries no role.
 * A node is in the view when it has one of those checks (every agent has serfHealth while it is
 * in the catalog); a compute with none reads as gone from the cluster ("left"), as a node gone
 * from the catalog does.
 */
import type { CheckStatus, ClusterView, NodeHealth } from '../decision/model.js';
import type { Network } from '../config/schema.js';
import type { ConsulApi, HealthCheck } from '../systems/consul/api.js';
import { describeConsulError } from '../systems/consul/connect.js';
import { NODE_MAINTENANCE_CHECK, NOVA_COMPUTE_CHECK, NOVA_HA_CHECKS, ROLE_META, WATCHDOG_CHECK } from '../systems/consul/names.js';
import { parseArmedOutput } from '../systems/watchdog/publication.js';

const asStatus = (status: string): CheckStatus | undefined => (status === 'passing' || status === 'warning' || status === 'critical' ? status : undefined);

export const NODE_CHECKS_FILTER = ['serfHealth', NODE_MAINTENANCE_CHECK, ...NOVA_HA_CHECKS, WATCHDOG_CHECK].map((id) => `CheckID == "${id}"`).join(' or ');

type Role = 'compute' | 'controller' | undefined;

/** NodeHealth of each node from its checks (the ones nova-ha reads; others are ignored). */
export function nodesFromChecks(checks: readonly HealthCheck[], role: Role): Map<string, NodeHealth> {
  const byNode = new Map<string, { serfHealth?: CheckStatus; checks: Record<string, { status: CheckStatus; output: string }>; maintenance: boolean; watchdog?: NodeHealth['watchdog'] }>();
  for (const check of checks) {
    let entry = byNode.get(check.Node);
    if (!entry) byNode.set(check.Node, (entry = { checks: {}, maintenance: false }));
    const status = asStatus(check.Status);
    if (check.CheckID === 'serfHealth') entry.serfHealth = status;
    else if (check.CheckID === NODE_MAINTENANCE_CHECK) entry.maintenance = true;
    else if (check.CheckID === WATCHDOG_CHECK) {
      const armed = parseArmedOutput(check.Output ?? '');
      entry.watchdog = { status, output: check.Output ?? '', ...(armed ? { timeoutMs: armed.timeoutMs } : {}) };
    } else if (status) entry.checks[check.CheckID] = { status, output: check.Output };
  }
  const result = new Map<string, NodeHealth>();
  for (const [name, entry] of byNode) result.set(name, { role, serfHealth: entry.serfHealth, novaCompute: entry.checks[NOVA_COMPUTE_CHECK], checks: entry.checks, maintenance: entry.maintenance, ...(entry.watchdog ? { watchdog: entry.watchdog } : {}) });
  return result;
}

/** Every compute and controller node of the cluster, and the observer (this controller) itself. */
export async function readCluster(api: ConsulApi, network: Network, observer: string): Promise<ClusterView> {
  try {
    const [computes, controllers] = await Promise.all([api.healthChecks(NODE_CHECKS_FILTER, `${ROLE_META}:compute`), api.healthChecks(NODE_CHECKS_FILTER, `${ROLE_META}:controller`)]);
    const nodes = nodesFromChecks(computes, 'compute');
    for (const [name, health] of nodesFromChecks(controllers, 'controller')) if (!nodes.has(name)) nodes.set(name, health);
    if (!nodes.has(observer)) for (const [name, health] of nodesFromChecks(await api.healthNode(observer), undefined)) if (!nodes.has(name)) nodes.set(name, health);
    return { ok: true, network, nodes };
  } catch (error) {
    return { ok: false, network, error: describeConsulError(error) };
  }
}

/** One host and the observer only: what a worker reads while it waits on its host. */
export async function readHostCluster(api: ConsulApi, network: Network, host: string, observer: string): Promise<{ view: ClusterView; index: number }> {
  try {
    const [target, own] = await Promise.all([api.healthNodeIndexed(host), api.healthNode(observer)]);
    const nodes = nodesFromChecks(target.checks, 'compute');
    for (const [name, health] of nodesFromChecks(own, undefined)) if (!nodes.has(name)) nodes.set(name, health);
    return { view: { ok: true, network, nodes }, index: target.index };
  } catch (error) {
    return { view: { ok: false, network, error: describeConsulError(error) }, index: 0 };
  }
}
