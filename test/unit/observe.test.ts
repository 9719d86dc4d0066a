import { describe, expect, it } from 'vitest';
import type { ClusterView, NodeHealth } from '../../lib/decision/model.js';
import type { Network } from '../../lib/decision/model.js';
import { novaComputeOnNode, readCheck, type CheckResult } from '../../lib/decision/checks.js';
import { buildSnapshot, type World } from '../../lib/decision/observation.js';
import type { HostRecord, NovaDoc, PowerDoc } from '../../lib/state/records.js';

const NOW = Date.parse('2026-11-25T10:00:00Z');
const freshness = { powerMaxAge: 90_000, novaMaxAge: 30_000 };
const observer = { node: 'ctl1', startedAt: NOW - 3600_000 };

const RUNNING = { status: 'passing' as const, output: 'OK: nova-compute: process 123 running' };
const DEAD = { status: 'critical' as const, output: 'CRITICAL: nova-compute: no nova-compute process' };
const node = (serfHealth: NodeHealth['serfHealth'], extra: Partial<NodeHealth> = {}): NodeHealth => ({ role: 'compute', serfHealth, novaCompute: RUNNING, checks: {}, maintenance: false, ...extra });
const controller = (serfHealth: NodeHealth['serfHealth']): NodeHealth => ({ role: 'controller', serfHealth, novaCompute: undefined, checks: {}, maintenance: false });
function view(network: Network, nodes: Record<string, NodeHealth>): ClusterView {
  return { ok: true, network, nodes: new Map(Object.entries({ ctl1: controller('passing'), ...nodes })) };
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
    if (storage.ok) (storage.nodes as Map<string, NodeHealth>).set('ctl1', controller('critical'));
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
    const views = { ...world().views, mgmt: view('mgmt', { cmp1: node('passing', { novaCompute: DEAD }), cmp2: node('critical', { novaCompute: RUNNING }) }) };
    const { snapshot } = buildSnapshot(world({ views }), observer, NOW, freshness);
    expect(snapshot.hosts.map((h) => h.novaCompute.node.state)).toEqual(['down', 'unknown']);
  });

  it('a nova-compute check that timed out or crashed is unknown, never "dead" (invariant 11)', () => {
    const timedOut = { status: 'critical' as const, output: 'Timed out (10s) running check' };
    const views = { ...world().views, mgmt: view('mgmt', { cmp1: node('passing', { novaCompute: timedOut }), cmp2: node('passing', { novaCompute: undefined }) }) };
    const { snapshot } = buildSnapshot(world({ views }), observer, NOW, freshness);
    expect(snapshot.hosts.map((h) => h.novaCompute.node.state)).toEqual(['unknown', 'unknown']);
  });
});

describe('the storm count: hosts failing at the same time (invariant 10)', () => {
  const down = node('critical');
  const fencedIncident = { id: 'cmp1-1', host: 'cmp1', cause: 'node-unreachable' as const, phase: 'fenced' as const, phaseSince: NOW - 60_000, openedAt: NOW - 120_000, attempts: {}, fenceStarted: true, alerted: true, reason: 'hung', timeline: [] };
  const views = (nodes: Record<string, NodeHealth>) => ({ mgmt: view('mgmt', nodes), storage: view('storage', nodes), tenant: view('tenant', nodes) });
  const nova: NovaDoc = { at: NOW, by: 'ctl1', api: 'up', schedulers: 'up', hosts: Object.fromEntries(['cmp1', 'cmp2', 'cmp3', 'cmp4'].map((h) => [h, { id: h, state: h === 'cmp4' ? 'up' as const : 'down' as const, since: NOW - 60_000, status: 'enabled' as const, forcedDown: h === 'cmp1' }])) };

  it('a fenced host (evacuated) and a host in maintenance do not count; the rest do', () => {
    const w = world({ views: views({ cmp1: down, cmp2: down, cmp3: down, cmp4: node('passing') }), incidents: new Map([['cmp1', fencedIncident]]), maintenance: new Map([['cmp2', { reason: 'disk swap', since: NOW, by: 'ops' }]]), nova });
    const { context } = buildSnapshot(w, observer, NOW, freshness).snapshot;
    expect(context.failed).toEqual({ mgmt: 1, storage: 1, tenant: 1 });
    expect(context.novaApiDown).toBe(1);
    // The denominator: every watched host, fenced ones included, maintenance excluded.
    expect(context.hosts).toBe(3);
  });

  it('a fence still under way counts: its recovery has not finished', () => {
    const w = world({ views: views({ cmp1: down, cmp2: node('passing') }), incidents: new Map([['cmp1', { ...fencedIncident, phase: 'evacuating' as const }]]) });
    expect(buildSnapshot(w, observer, NOW, freshness).snapshot.context.failed.mgmt).toBe(1);
  });
});

describe('reading the result of a check nova-ha registers', () => {
  const cases: [string, CheckResult, ReturnType<typeof readCheck>['ran'], string][] = [
    ['its own OK line', { status: 'passing', output: 'OK: nova-compute: process 12 running' }, true, 'passing'],
    ['its own WARNING line', { status: 'warning', output: 'WARNING: 1 incident open of 4 hosts\ncmp1: held' }, true, 'warning'],
    ['its own CRITICAL line', { status: 'critical', output: "CRITICAL: Nova's API does not answer: ECONNREFUSED" }, true, 'critical'],
    ['a timeout (Consul\'s words)', { status: 'critical', output: 'Timed out (10s) running check' }, false, 'Timed out'],
    ['a crash (a stack trace)', { status: 'critical', output: 'node:internal/modules/cjs/loader:1228\n  throw err;' }, false, 'loader'],
    ['the handler shell could not run it', { status: 'warning', output: 'UNKNOWN: nova-ha nova-compute-check: cannot read /etc/nova-ha/nova-ha.conf (EACCES)' }, false, 'UNKNOWN'],
    ['nothing at all', { status: 'critical', output: '' }, false, 'no output'],
    ['a status that does not match its line', { status: 'critical', output: 'OK: fine' }, false, 'OK: fine'],
  ];
  it.each(cases)('%s', (_name, result, ran, detail) => {
    const reading = readCheck(result);
    expect(reading.ran).toBe(ran);
    expect(reading.ran ? reading.status : reading.reason).toContain(detail);
  });

  it.each([
    ['running', RUNNING, 'up'],
    ['positively not running', DEAD, 'down'],
    ['cannot tell (unit activating)', { status: 'warning' as const, output: 'WARNING: nova-compute: nova-compute.service is activating' }, 'unknown'],
    ['timed out', { status: 'critical' as const, output: 'Timed out (10s) running check' }, 'unknown'],
    ['crashed', { status: 'critical' as const, output: 'Segmentation fault' }, 'unknown'],
    ['critical, but not its own words about nova-compute', { status: 'critical' as const, output: 'CRITICAL: something else' }, 'unknown'],
    ['not registered', undefined, 'unknown'],
  ] as const)('nova-compute on the node: %s', (_name, result, state) => {
    expect(novaComputeOnNode(result).state).toBe(state);
  });
});
