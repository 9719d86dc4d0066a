/**
 * Reading the world (state/clusters.ts, state/world.ts) and incidents in KV (state/incident.ts,
 * state/incident-store.ts), checked to the field: what a cluster's leader reports per node, which
 * part of the world is "unknown" and why, and which closed incidents the history keeps.
 */
import { describe, expect, it } from 'vitest';
import { readCluster } from '../../lib/state/clusters.js';
import { readWorld } from '../../lib/state/world.js';
import { evacuateAgainCommand, lastOutcome, newIncidentId, openIncident, withPhase, withStep, type Incident } from '../../lib/state/incident.js';
import { HISTORY_PER_HOST, IncidentStore } from '../../lib/state/incident-store.js';
import { NETWORKS, type Network } from '../../lib/decision/model.js';
import type { ConsulApi, HealthCheck } from '../../lib/systems/consul/api.js';
import { JsonKv, type Versioned } from '../../lib/systems/consul/kv.js';
import { consulError, FakeConsul } from '../support/fake-consul.js';

/** A cluster leader that reports exactly these nodes and checks: by role (node meta), or for one node. */
function leader(nodes: { Node: string; Meta?: Record<string, string> }[], checks: Partial<HealthCheck>[]): { api: ConsulApi; calls: string[] } {
  const calls: string[] = [];
  const roleOf = (node: string | undefined): string | undefined => nodes.find((n) => n.Node === node)?.Meta?.['nova-ha-role'];
  const full = (c: Partial<HealthCheck>): Partial<HealthCheck> => ({ Name: c.CheckID, ...c });
  const api = {
    healthChecks: async (filter?: string, nodeMeta?: string) => {
      calls.push(`checks ${nodeMeta} where ${filter}`);
      return checks.filter((c) => `nova-ha-role:${roleOf(c.Node)}` === nodeMeta).map(full);
    },
    healthNode: async (node: string) => {
      calls.push(`node ${node}`);
      return checks.filter((c) => c.Node === node).map(full);
    },
  } as unknown as ConsulApi;
  return { api, calls };
}

describe('readCluster', () => {
  it('asks the leader only for the checks nova-ha reads, by ID, of computes and controllers, and for the observer when it has no role', async () => {
    const { api, calls } = leader([], []);
    await readCluster(api, 'mgmt', 'ctl1');
    const only = 'CheckID == "serfHealth" or CheckID == "_node_maintenance" or CheckID == "nova-ha-nova-compute" or CheckID == "nova-ha-evaluate" or CheckID == "nova-ha-nova-services" or CheckID == "nova-ha-power" or CheckID == "nova-ha-watchdog"';
    expect(calls).toEqual([`checks nova-ha-role:compute where ${only}`, `checks nova-ha-role:controller where ${only}`, 'node ctl1']);
  });

  it('an observer with a role is not read again on its own', async () => {
    const { api, calls } = leader([{ Node: 'ctl1', Meta: { 'nova-ha-role': 'controller' } }], [{ Node: 'ctl1', CheckID: 'serfHealth', Status: 'passing', Output: '' }]);
    await readCluster(api, 'mgmt', 'ctl1');
    expect(calls.filter((c) => c.startsWith('node'))).toEqual([]);
  });

  it('each node with its role, serfHealth, nova-compute check, maintenance and watchdog, as the leader reports them', async () => {
    const { api } = leader(
      [{ Node: 'cmp1', Meta: { 'nova-ha-role': 'compute' } }, { Node: 'cmp2', Meta: { 'nova-ha-role': 'compute' } }, { Node: 'ctl1', Meta: { 'nova-ha-role': 'controller' } }, { Node: 'bare' }, { Node: 'other' }],
      [
        { Node: 'cmp1', CheckID: 'serfHealth', Status: 'passing', Output: '' },
        { Node: 'cmp1', CheckID: 'nova-ha-nova-compute', Status: 'critical', Output: 'CRITICAL: nova-compute: dead' },
        { Node: 'cmp1', CheckID: 'nova-ha-watchdog', Status: 'passing', Output: 'armed timeout_ms=60000 fed' },
        { Node: 'cmp2', CheckID: 'serfHealth', Status: 'warning', Output: '' },
        { Node: 'cmp2', CheckID: '_node_maintenance', Status: 'critical', Output: 'maintenance' },
        { Node: 'cmp2', CheckID: 'nova-ha-watchdog', Status: 'critical', Output: undefined as unknown as string },
        { Node: 'ctl1', CheckID: 'serfHealth', Status: 'critical', Output: '' },
        { Node: 'ctl1', CheckID: 'nova-ha-evaluate', Status: 'warning', Output: 'WARNING: 1 incident' },
        { Node: 'ctl1', CheckID: 'nova-ha-power', Status: 'maintenance', Output: 'odd' },
        { Node: 'bare', CheckID: 'serfHealth', Status: 'passing', Output: '' },
        { Node: 'other', CheckID: 'serfHealth', Status: 'passing', Output: '' },
      ],
    );
    const view = await readCluster(api, 'storage', 'bare');
    expect(view.ok && view.network).toBe('storage');
    if (!view.ok) throw new Error('not ok');
    expect([...view.nodes.keys()]).toEqual(['cmp1', 'cmp2', 'ctl1', 'bare']);
    expect(view.nodes.get('cmp1')).toStrictEqual({ role: 'compute', serfHealth: 'passing', novaCompute: { status: 'critical', output: 'CRITICAL: nova-compute: dead' }, checks: { 'nova-ha-nova-compute': { status: 'critical', output: 'CRITICAL: nova-compute: dead' } }, maintenance: false, watchdog: { status: 'passing', output: 'armed timeout_ms=60000 fed', timeoutMs: 60000 } });
    expect(view.nodes.get('cmp2')).toStrictEqual({ role: 'compute', serfHealth: 'warning', novaCompute: undefined, checks: {}, maintenance: true, watchdog: { status: 'critical', output: '' } });
    // A check whose status Consul does not define is left out; a node's other nova-ha checks are kept.
    expect(view.nodes.get('ctl1')).toStrictEqual({ role: 'controller', serfHealth: 'critical', novaCompute: undefined, checks: { 'nova-ha-evaluate': { status: 'warning', output: 'WARNING: 1 incident' } }, maintenance: false });
    // The observer without a role is read on its own; no other node without one is read at all.
    expect(view.nodes.get('bare')).toStrictEqual({ role: undefined, serfHealth: 'passing', novaCompute: undefined, checks: {}, maintenance: false });
  });

  it('a serfHealth in a state Consul does not define is no state at all', async () => {
    const { api } = leader([{ Node: 'cmp1', Meta: { 'nova-ha-role': 'compute' } }], [{ Node: 'cmp1', CheckID: 'serfHealth', Status: 'left', Output: '' }]);
    const view = await readCluster(api, 'mgmt', 'ctl1');
    expect(view.ok && view.nodes.get('cmp1')?.serfHealth).toBeUndefined();
  });

  it('a leader that does not answer makes the whole network unknown, with Consul\'s words', async () => {
    const consul = new FakeConsul('tenant', 'ctl1');
    consul.failNext('healthChecks', consulError(500, 'No cluster\n leader'));
    expect(await readCluster(consul.api, 'tenant', 'ctl1')).toEqual({ ok: false, network: 'tenant', error: 'HTTP 500: No cluster leader' });
  });
});

describe('readWorld', () => {
  function clusters(): Record<Network, FakeConsul> {
    return Object.fromEntries(NETWORKS.map((n) => [n, new FakeConsul(n, 'ctl1').node('cmp1', { role: 'compute', serfHealth: 'passing' })])) as Record<Network, FakeConsul>;
  }
  const apis = (c: Record<Network, FakeConsul>): Record<Network, ConsulApi> => Object.fromEntries(NETWORKS.map((n) => [n, c[n].api])) as Record<Network, ConsulApi>;

  it('an empty KV: no records, no incidents, no flags, and the documents not there are null, not unknown', async () => {
    const c = clusters();
    const world = await readWorld(apis(c), new JsonKv(c.mgmt.api, 'nova-ha'), 'ctl1');
    expect(world).toMatchObject({ records: new Map(), incidents: new Map(), maintenance: new Map(), pause: null, power: null, nova: null, kdump: new Map(), errors: [] });
    expect(NETWORKS.map((n) => world.views[n].ok && world.views[n].network)).toEqual(['mgmt', 'storage', 'tenant']);
  });

  it('every document as stored, by host', async () => {
    const c = clusters();
    const incident = openIncident('cmp1', 'storage-network', 'x', 0, 'ctl1');
    c.mgmt.seed('nova-ha/hosts/cmp1', { at: 1 });
    c.mgmt.seed('nova-ha/incidents/cmp1', incident);
    c.mgmt.seed('nova-ha/maintenance/cmp2', { by: 'op' });
    c.mgmt.seed('nova-ha/pause', { by: 'op', at: 2 });
    c.mgmt.seed('nova-ha/state/power/poll', { at: 3 });
    c.mgmt.seed('nova-ha/state/power/hosts/cmp1', { state: 'on' });
    c.mgmt.seed('nova-ha/state/nova/poll', { at: 4, api: 'up' });
    c.mgmt.seed('nova-ha/state/nova/hosts/cmp1', { state: 'up' });
    c.mgmt.seed('nova-ha/kdump/cmp3', { at: 5 });
    const world = await readWorld(apis(c), new JsonKv(c.mgmt.api, 'nova-ha'), 'ctl1');
    expect(world).toMatchObject({ records: new Map([['cmp1', { at: 1 }]]), incidents: new Map([['cmp1', incident]]), maintenance: new Map([['cmp2', { by: 'op' }]]), pause: { by: 'op', at: 2 }, power: { at: 3, hosts: { cmp1: { state: 'on' } } }, nova: { at: 4, api: 'up', hosts: { cmp1: { state: 'up' } } }, kdump: new Map([['cmp3', { at: 5 }]]), errors: [] });
  });

  it.each([
    ['records', 'kvTree', 'nova-ha/hosts/', 'host records'],
    ['incidents', 'kvTree', 'nova-ha/incidents/', 'incidents'],
    ['maintenance', 'kvTree', 'nova-ha/maintenance/', 'maintenance flags'],
    ['pause', 'kvGet', 'nova-ha/pause', 'pause switch'],
    ['kdump', 'kvTree', 'nova-ha/kdump/', 'fence_kdump records'],
  ] as const)('%s that cannot be read is unknown, and the error names it', async (field, method, key, what) => {
    const c = clusters();
    c.mgmt.before(method, ([k]) => {
      if (k === key) c.mgmt.failNext(method, new Error('timeout'));
    });
    const world = await readWorld(apis(c), new JsonKv(c.mgmt.api, 'nova-ha'), 'ctl1');
    expect(world[field]).toBe('unknown');
    expect(world.errors).toEqual([`${what}: timeout`]);
    for (const other of ['records', 'incidents', 'maintenance', 'pause', 'power', 'nova', 'kdump'] as const) if (other !== field) expect(world[other], other).not.toBe('unknown');
  });

  it('the pollers\' views that cannot be read are both unknown (one prefix read), and the error names them', async () => {
    const c = clusters();
    c.mgmt.before('kvTree', ([k]) => {
      if (k === 'nova-ha/state/') c.mgmt.failNext('kvTree', new Error('timeout'));
    });
    const world = await readWorld(apis(c), new JsonKv(c.mgmt.api, 'nova-ha'), 'ctl1');
    expect([world.power, world.nova]).toEqual(['unknown', 'unknown']);
    expect(world.errors).toEqual(['power and Nova service states: timeout']);
    for (const other of ['records', 'incidents', 'maintenance', 'pause', 'kdump'] as const) expect(world[other], other).not.toBe('unknown');
  });

  it('a cluster that cannot be read is named in the errors, each after the KV errors', async () => {
    const c = clusters();
    c.storage.down();
    c.tenant.down(consulError(503, 'rpc error'));
    c.mgmt.before('kvGet', ([k]) => {
      if (k === 'nova-ha/pause') c.mgmt.failNext('kvGet', new Error('timeout'));
    });
    const world = await readWorld(apis(c), new JsonKv(c.mgmt.api, 'nova-ha'), 'ctl1');
    expect(world.errors).toEqual(['pause switch: timeout', 'storage cluster: HTTP 500: No cluster leader', 'tenant cluster: HTTP 503: rpc error']);
    expect(world.views.mgmt.ok).toBe(true);
  });
});

describe('incident records', () => {
  it('an incident ID drops the milliseconds, however many digits they have', () => {
    expect(newIncidentId('cmp1', Date.parse('2026-01-02T03:04:05.678Z'))).toBe('cmp1-20260102T030405Z');
    expect(newIncidentId('node-a:1', Date.parse('2026-01-02T03:04:05Z'))).toBe('node-a:1-20260102T030405Z');
  });

  it('the command that evacuates again names the host', () => {
    expect(evacuateAgainCommand('cmp4')).toBe('nova-ha evacuate cmp4');
  });

  it('lastOutcome finds a step recorded first, and only that step', () => {
    const incident = withStep(openIncident('cmp1', 'storage-network', 'x', 0, 'ctl1'), { at: 1, step: 'power-off', outcome: 'failed', by: 'a' });
    expect(lastOutcome(incident, 'detected')).toBe('info');
    expect(lastOutcome(incident, 'power-off')).toBe('failed');
    expect(lastOutcome(incident, 'power')).toBeUndefined();
  });

  it('withStep keeps the incident and appends; withPhase without a detail has no detail key', () => {
    const opened = openIncident('cmp1', 'storage-network', 'x', 0, 'ctl1');
    const stepped = withStep(opened, { at: 1, step: 's', outcome: 'done', by: 'b' });
    expect(stepped).toEqual({ ...opened, timeline: [...opened.timeline, { at: 1, step: 's', outcome: 'done', by: 'b' }] });
    expect(opened.timeline).toHaveLength(1);
    const held = withPhase(opened, 'held', 7, 'ctl2', '');
    expect(held.timeline.at(-1)).toStrictEqual({ at: 7, step: 'phase held', outcome: 'info', by: 'ctl2' });
    expect([held.phase, held.phaseSince, held.openedAt]).toEqual(['held', 7, 0]);
  });
});

describe('IncidentStore, exactly', () => {
  const closed = (host: string, at: number): Incident => ({ ...openIncident(host, 'storage-network', 'x', at, 'ctl1'), phase: 'recovered', closedAt: at + 1 });

  it('archiving drops the oldest by ID even when KV lists them out of order', async () => {
    const consul = new FakeConsul('mgmt', 'ctl1');
    const kv = new JsonKv(consul.api, 'nova-ha');
    // A KV that lists a folder newest first.
    const reversed = Object.create(kv) as JsonKv;
    reversed.tree = async <T,>(folder: string): Promise<Map<string, Versioned<T>>> => new Map([...(await kv.tree<T>(folder))].reverse());
    const store = new IncidentStore(reversed);
    const T = Date.parse('2026-01-01T00:00:00Z');
    for (let i = 0; i < HISTORY_PER_HOST + 1; i++) await store.archive(closed('cmp1', T + i * 1000));
    const kept = consul.keys('nova-ha/history/cmp1/');
    expect(kept).toHaveLength(HISTORY_PER_HOST);
    expect(kept[0]).toBe(`nova-ha/history/cmp1/${newIncidentId('cmp1', T + 1000)}`);
    expect(kept.at(-1)).toBe(`nova-ha/history/cmp1/${newIncidentId('cmp1', T + HISTORY_PER_HOST * 1000)}`);
  });

  it('archiving an incident that is not the open one leaves the open one, and other hosts\' history, alone', async () => {
    const consul = new FakeConsul('mgmt', 'ctl1');
    const store = new IncidentStore(new JsonKv(consul.api, 'nova-ha'));
    const open = openIncident('cmp1', 'storage-network', 'x', 5000, 'ctl1');
    consul.seed('nova-ha/incidents/cmp1', open);
    for (let i = 0; i < HISTORY_PER_HOST; i++) consul.seed(`nova-ha/history/cmp2/${newIncidentId('cmp2', i * 1000)}`, closed('cmp2', i * 1000));
    await store.archive(closed('cmp1', 1000));
    expect(consul.peek('nova-ha/incidents/cmp1')).toEqual(open);
    expect(consul.keys('nova-ha/history/cmp2/')).toHaveLength(HISTORY_PER_HOST);
    expect(consul.calls('kvDelete')).toEqual([]);
  });

  it('find: an open incident by ID, else the closed one in its host\'s history, else nothing', async () => {
    const consul = new FakeConsul('mgmt', 'ctl1');
    const store = new IncidentStore(new JsonKv(consul.api, 'nova-ha'));
    const open = openIncident('cmp1', 'storage-network', 'x', 5000, 'ctl1');
    consul.seed('nova-ha/incidents/cmp1', open);
    const old = closed('cmp1', 1000);
    consul.seed(`nova-ha/history/cmp1/${old.id}`, old);
    // A host whose name looks like an incident ID still finds its own history.
    const odd = closed('rack-20260101T000000Z-n1', 2000);
    consul.seed(`nova-ha/history/${odd.host}/${odd.id}`, odd);
    expect(await store.find(open.id)).toEqual(open);
    expect(await store.find(old.id)).toEqual(old);
    expect(await store.find(odd.id)).toEqual(odd);
    expect(await store.find('cmp1-20990101T000000Z')).toBeUndefined();
    expect(consul.calls('kvTree').at(-1)).toEqual(['nova-ha/history/cmp1/']);
  });

  it('history lists newest first, of one host or of all', async () => {
    const consul = new FakeConsul('mgmt', 'ctl1');
    const store = new IncidentStore(new JsonKv(consul.api, 'nova-ha'));
    for (const [host, at] of [['cmp1', 3000], ['cmp2', 9000], ['cmp1', 1000], ['cmp1', 5000]] as const) consul.seed(`nova-ha/history/${host}/${newIncidentId(host, at)}`, closed(host, at));
    expect((await store.history('cmp1')).map((i) => i.openedAt)).toEqual([5000, 3000, 1000]);
    expect((await store.history()).map((i) => i.openedAt)).toEqual([9000, 5000, 3000, 1000]);
    expect((await store.open())).toEqual([]);
  });
});
