/**
 * Member states as the cluster's leader sees them (consistent reads), never one agent's member
 * list: an isolated controller's agent reports everyone alive, or everyone failing, depending on
 * where the cut is (lab-notes). A read that fails makes the whole network "unknown".
 */
import type { CheckStatus, ClusterView, NodeHealth } from '../decision/model.js';
import type { Network } from '../config/schema.js';
import type { ConsulApi } from '../systems/consul/api.js';
import { describeConsulError } from '../systems/consul/connect.js';
import { NODE_MAINTENANCE_CHECK, NOVA_COMPUTE_CHECK, NOVA_HA_CHECKS, ROLE_META, WATCHDOG_CHECK } from '../systems/consul/names.js';
import { parseArmedOutput } from '../systems/watchdog/publication.js';

const asStatus = (status: string): CheckStatus | undefined => (status === 'passing' || status === 'warning' || status === 'critical' ? status : undefined);

export async function readCluster(api: ConsulApi, network: Network): Promise<ClusterView> {
  try {
    const wanted = ['serfHealth', NODE_MAINTENANCE_CHECK, ...NOVA_HA_CHECKS, WATCHDOG_CHECK].map((id) => `CheckID == "${id}"`).join(' or ');
    const [nodes, checks] = await Promise.all([api.catalogNodes(), api.healthChecks(wanted)]);
    const byNode = new Map<string, { role: string | undefined; serfHealth?: CheckStatus; checks: Record<string, { status: CheckStatus; output: string }>; maintenance: boolean; watchdog?: NodeHealth['watchdog'] }>();
    for (const node of nodes) byNode.set(node.Node, { role: node.Meta?.[ROLE_META], checks: {}, maintenance: false });
    for (const check of checks) {
      const entry = byNode.get(check.Node);
      if (!entry) continue;
      const status = asStatus(check.Status);
      if (check.CheckID === 'serfHealth') entry.serfHealth = status;
      else if (check.CheckID === NODE_MAINTENANCE_CHECK) entry.maintenance = true;
      else if (check.CheckID === WATCHDOG_CHECK) {
        const armed = parseArmedOutput(check.Output ?? '');
        entry.watchdog = { status, output: check.Output ?? '', ...(armed ? { timeoutMs: armed.timeoutMs } : {}) };
      } else if (status) entry.checks[check.CheckID] = { status, output: check.Output };
    }
    const result = new Map<string, NodeHealth>();
    for (const [name, entry] of byNode) result.set(name, { role: entry.role, serfHealth: entry.serfHealth, novaCompute: entry.checks[NOVA_COMPUTE_CHECK], checks: entry.checks, maintenance: entry.maintenance, ...(entry.watchdog ? { watchdog: entry.watchdog } : {}) });
    return { ok: true, network, nodes: result };
  } catch (error) {
    return { ok: false, network, error: describeConsulError(error) };
  }
}
