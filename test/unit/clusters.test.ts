/**
 * Reading a cluster scoped to what an evaluation needs (lib/state/clusters.ts): Consul filters
 * the checks and, by node meta, the nodes; what comes back is turned into each node's health as
 * the policy reads it, with every nova-ha check and the watchdog, and the controllers' checks stay
 * visible (a controller check that could not run is reported, decision/checks.ts).
 */
import { describe, expect, it } from 'vitest';
import { NODE_CHECKS_FILTER, nodesFromChecks, readCluster } from '../../lib/state/clusters.js';
import type { HealthCheck } from '../../lib/systems/consul/api.js';
import { EVALUATE_CHECK, NOVA_COMPUTE_CHECK, ROLE_META, WATCHDOG_CHECK } from '../../lib/systems/consul/names.js';
import { FakeConsul } from '../support/fake-consul.js';

const check = (Node: string, CheckID: string, Status: string, Output = ''): HealthCheck => ({ Node, CheckID, Name: CheckID, Status, Output });

describe('nodesFromChecks', () => {
  it("gives each node its serfHealth, nova-ha checks with their output, maintenance and watchdog", () => {
    const nodes = nodesFromChecks([
      check('cmp1', 'serfHealth', 'passing'),
      check('cmp1', NOVA_COMPUTE_CHECK, 'critical', 'CRITICAL: nova-compute: systemd unit inactive'),
      check('cmp1', WATCHDOG_CHECK, 'passing', 'armed timeout_ms=60000'),
      check('cmp2', 'serfHealth', 'critical'),
      check('cmp2', '_node_maintenance', 'critical', 'Node in maintenance'),
    ], 'compute');
    expect(nodes.get('cmp1')).toEqual({
      role: 'compute',
      serfHealth: 'passing',
      novaCompute: { status: 'critical', output: 'CRITICAL: nova-compute: systemd unit inactive' },
      checks: { [NOVA_COMPUTE_CHECK]: { status: 'critical', output: 'CRITICAL: nova-compute: systemd unit inactive' } },
      maintenance: false,
      watchdog: { status: 'passing', output: 'armed timeout_ms=60000', timeoutMs: 60_000 },
    });
    expect(nodes.get('cmp2')).toEqual({ role: 'compute', serfHealth: 'critical', novaCompute: undefined, checks: {}, maintenance: true });
  });

  it('keeps a status Consul should never send as unknown (undefined), never as a verdict', () => {
    expect(nodesFromChecks([check('cmp1', 'serfHealth', 'maintenance')], 'compute').get('cmp1')?.serfHealth).toBeUndefined();
  });

  it('a controller check keeps its output: one that could not run is visible to the evaluation', () => {
    const checks = nodesFromChecks([check('ctl2', EVALUATE_CHECK, 'critical', 'Timed out (30s) running check')], 'controller');
    expect(checks.get('ctl2')?.checks[EVALUATE_CHECK]).toEqual({ status: 'critical', output: 'Timed out (30s) running check' });
  });

  it("asks Consul for nova-ha's checks only", () => {
    expect(NODE_CHECKS_FILTER).toContain('CheckID == "serfHealth"');
    expect(NODE_CHECKS_FILTER).toContain(`CheckID == "${NOVA_COMPUTE_CHECK}"`);
    expect(NODE_CHECKS_FILTER).toContain(`CheckID == "${WATCHDOG_CHECK}"`);
  });
});

describe('readCluster', () => {
  it('reads computes and controllers by node meta, with their roles, and neither the catalog nor other nodes', async () => {
    const consul = new FakeConsul('mgmt', 'ctl1')
      .node('ctl1', { role: 'controller', serfHealth: 'passing' })
      .node('cmp1', { role: 'compute', serfHealth: 'passing', novaCompute: 'passing' })
      .node('consul-server', { serfHealth: 'passing' });
    const view = await readCluster(consul.api, 'mgmt', 'ctl1');
    expect(view.ok && [...view.nodes].map(([name, n]) => [name, n.role])).toEqual([['cmp1', 'compute'], ['ctl1', 'controller']]);
    expect(consul.calls('healthChecks')).toEqual([[NODE_CHECKS_FILTER, `${ROLE_META}:compute`], [NODE_CHECKS_FILTER, `${ROLE_META}:controller`]]);
    expect(consul.calls('catalogNodes')).toEqual([]);
  });

  it('reads the observer by name when it carries no role, so its own health is always known', async () => {
    const consul = new FakeConsul('storage', 'ctl1').node('ctl1', { serfHealth: 'critical' }).node('cmp1', { role: 'compute', serfHealth: 'passing' });
    const view = await readCluster(consul.api, 'storage', 'ctl1');
    expect(view.ok && view.nodes.get('ctl1')).toMatchObject({ role: undefined, serfHealth: 'critical' });
    expect(consul.calls('healthNode')).toEqual([['ctl1']]);
  });

  it('a cluster that cannot be read is unknown as a whole', async () => {
    const consul = new FakeConsul('tenant', 'ctl1');
    consul.down();
    expect(await readCluster(consul.api, 'tenant', 'ctl1')).toEqual({ ok: false, network: 'tenant', error: expect.stringMatching(/No cluster leader/) });
  });
});
