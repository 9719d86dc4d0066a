import { describe, expect, it } from 'vitest';
import type { ClusterView, NodeHealth } from '../../lib/decision/model.js';
import type { Network } from '../../lib/decision/model.js';
import { buildSnapshot, type World } from '../../lib/decision/observation.js';
import type { HostRecord, NovaDoc, PowerDoc } from '../../lib/state/records.js';

const NOW = Date.parse('2026-11-25T10:00:00Z');
const freshness = { powerMaxAge: 90_000, novaMaxAge: 30_000 };
const observer = { node: 'ctl1', startedAt: NOW - 3600_000 };

const node = (serfHealth: NodeHealth['serfHealth'], extra: Partial<NodeHealth> = {}): NodeHealth => ({ role: 'compute', serfHealth, novaCompute: 'passing', maintenance: false, ...extra });
function view(network: Network, nodes: Record<string, NodeHealth>): ClusterView {
  return { ok: true, network, nodes: new Map(Object.entries({ ctl1: { role: 'controller', serfHealth: 'passing', novaCompute: undefined, maintenance: false }, ...nodes })) };
}
function world(over: Partial<World> = {}): World {
  const healthy = { cmp1: node('passing'), cmp2: node('passing') };
  return {
    views: { mgmt: view('mgmt', healthy), storage: view('storage', healthy), tenant: view('tenant', healthy) },
    records: new Map(),
    incidents: new Map(),
    maintenance: new Map(),
    pause: null,
    power: null,
    nova: null,
    errors: [],
    ...over,
  };
}

describe('buildSnapshot', () => {
  it('reads member states from each cluster; a known host missing from a catalog has left', () => {
    const w = world({ views: { mgmt: view('mgmt', { cmp1: node('passing'), cmp2: node('passing') }), storage: view('storage', { cmp1: node('critical'), cmp2: node('passing') }), tenant: view('tenant', { cmp1: node('passing') }) } });
    const { snapshot } = buildSnapshot(w, observer, NOW, freshness);
    const [cmp1, cmp2] = snapshot.hosts;
    expect(cmp1!.networks.storage.state).toBe('failed');
    expect(cmp2!.networks.tenant.state).toBe('left');
    expect(snapshot.context.failed).toEqual({ mgmt: 0, storage: 1, tenant: 0 });
    expect(snapshot.context.hosts).toBe(2);
  });

  it('a cluster that could not be read makes every host unknown on it, and the observer too', () => {
    const w = world({ views: { ...world().views, storage: { ok: false, network: 'storage', error: 'HTTP 500: No cluster leader' } } });
    const { snapshot } = buildSnapshot(w, observer, NOW, freshness);
    expect(snapshot.hosts.every((h) => h.networks.storage.state === 'unknown')).toBe(true);
    expect(snapshot.context.observer.networks.storage).toBe('unknown');
  });

  it('the observer failed in a cluster is isolated there', () => {
    const storage = view('storage', { cmp1: node('passing'), cmp2: node('passing') });
    if (storage.ok) (storage.nodes as Map<string, NodeHealth>).set('ctl1', { role: 'controller', serfHealth: 'critical', novaCompute: undefined, maintenance: false });
    const { snapshot } = buildSnapshot(world({ views: { ...world().views, storage } }), observer, NOW, freshness);
    expect(snapshot.context.observer.networks).toEqual({ mgmt: 'healthy', storage: 'isolated', tenant: 'healthy' });
  });

  it('keeps "since" while a state holds and restarts it on a change; records only what changed', () => {
    const failedSince = NOW - 30_000;
    const record: HostRecord = { networks: { mgmt: { state: 'alive', since: 0 }, storage: { state: 'failed', since: failedSince }, tenant: { state: 'alive', since: 0 } }, novaNode: { state: 'up', since: 0 }, at: NOW - 1000, by: 'ctl2' };
    const views = { ...world().views, storage: view('storage', { cmp1: node('critical'), cmp2: node('critical') }) };
    const { snapshot, changed } = buildSnapshot(world({ views, records: new Map([['cmp1', record]]) }), observer, NOW, freshness);
    expect(snapshot.hosts[0]!.networks.storage).toEqual({ state: 'failed', since: failedSince });
    expect(snapshot.hosts[1]!.networks.storage).toEqual({ state: 'failed', since: NOW });
    expect([...changed.keys()]).toEqual(['cmp2']);
  });

  it('an unknown state does not erase the known one in the record, but the policy sees unknown', () => {
    const record: HostRecord = { networks: { mgmt: { state: 'alive', since: 0 }, storage: { state: 'failed', since: NOW - 30_000 }, tenant: { state: 'alive', since: 0 } }, novaNode: { state: 'up', since: 0 }, at: NOW, by: 'ctl2' };
    const views = { ...world().views, storage: { ok: false as const, network: 'storage' as const, error: 'timeout' } };
    const { snapshot, changed } = buildSnapshot(world({ views, records: new Map([['cmp1', record]]) }), observer, NOW, freshness);
    expect(snapshot.hosts[0]!.networks.storage.state).toBe('unknown');
    expect(changed.has('cmp1')).toBe(false);
  });

  it('poller documents are used while fresh and are unknown when stale', () => {
    const power: PowerDoc = { at: NOW - 10_000, by: 'ctl1', hosts: { cmp1: { state: 'on', since: 0 } } };
    const nova: NovaDoc = { at: NOW - 60_000, by: 'ctl1', api: 'up', schedulers: 'up', hosts: { cmp1: { id: 'x', state: 'up', since: 0, status: 'enabled', forcedDown: false } } };
    const { snapshot } = buildSnapshot(world({ power, nova }), observer, NOW, freshness);
    expect(snapshot.hosts[0]!.power.state).toBe('on');
    expect(snapshot.hosts[1]!.power.state).toBe('unknown');
    expect(snapshot.hosts[0]!.novaCompute.api.state).toBe('unknown');
    expect(snapshot.context.nova).toEqual({ api: 'unknown', schedulers: 'unknown' });
  });

  it('maintenance: nova-ha flag or Consul node maintenance in any cluster; unreadable flags are unknown', () => {
    const views = { ...world().views, tenant: view('tenant', { cmp1: node('passing'), cmp2: node('passing', { maintenance: true }) }) };
    const flagged = buildSnapshot(world({ views, maintenance: new Map([['cmp1', { reason: 'disk swap', since: NOW, by: 'ops' }]]) }), observer, NOW, freshness).snapshot;
    expect(flagged.hosts.map((h) => h.maintenance)).toEqual([{ state: 'on', reason: 'disk swap' }, { state: 'on', reason: 'Consul node maintenance' }]);
    const unknown = buildSnapshot(world({ maintenance: 'unknown', incidents: 'unknown', pause: 'unknown' }), observer, NOW, freshness).snapshot;
    expect(unknown.hosts[0]!.maintenance.state).toBe('unknown');
    expect(unknown.hosts[0]!.incident).toBe('unknown');
    expect(unknown.context.paused).toBe('unknown');
  });

  it('nova-compute on the node is unknown unless the node is alive on mgmt', () => {
    const views = { ...world().views, mgmt: view('mgmt', { cmp1: node('passing', { novaCompute: 'critical' }), cmp2: node('critical', { novaCompute: 'passing' }) }) };
    const { snapshot } = buildSnapshot(world({ views }), observer, NOW, freshness);
    expect(snapshot.hosts.map((h) => h.novaCompute.node.state)).toEqual(['down', 'unknown']);
  });
});
