/**
 * How one evaluation's reads become the policy's input (decision/observation.ts): which hosts are
 * looked at, what each cluster's data says of them, what is unknown and why nothing acts on it
 * (invariant 2), what the storm count includes (invariant 10), and which host records are
 * written back.
 */
import { describe, expect, it } from 'vitest';
import type { ClusterView, Network, NodeHealth } from '../../lib/decision/model.js';
import { buildSnapshot, computeHosts, summarize, type World } from '../../lib/decision/observation.js';
import type { Incident } from '../../lib/state/incident.js';
import type { HostRecord, KdumpRecord, NovaDoc, PowerDoc } from '../../lib/state/records.js';

const NOW = Date.parse('2026-11-25T10:00:00Z');
const freshness = { powerMaxAge: 90_000, novaMaxAge: 30_000 };
const observer = { node: 'ctl1', startedAt: NOW - 3_600_000 };

const RUNNING = { status: 'passing' as const, output: 'OK: nova-compute: process 123 running' };
const DEAD = { status: 'critical' as const, output: 'CRITICAL: nova-compute: no nova-compute process' };
const node = (serfHealth: NodeHealth['serfHealth'], extra: Partial<NodeHealth> = {}): NodeHealth => ({ role: 'compute', serfHealth, novaCompute: RUNNING, checks: {}, maintenance: false, ...extra });
const controller = (serfHealth: NodeHealth['serfHealth']): NodeHealth => ({ role: 'controller', serfHealth, novaCompute: undefined, checks: {}, maintenance: false });
const view = (network: Network, nodes: Record<string, NodeHealth>, self: NodeHealth | null = controller('passing')): ClusterView =>
  ({ ok: true, network, nodes: new Map(Object.entries(self ? { ctl1: self, ...nodes } : nodes)) });
const unreadable = (network: Network): ClusterView => ({ ok: false, network, error: 'HTTP 500: No cluster leader' });
const everywhere = (nodes: Record<string, NodeHealth>) => ({ mgmt: view('mgmt', nodes), storage: view('storage', nodes), tenant: view('tenant', nodes) });

function world(over: Partial<World> = {}): World {
  return { views: everywhere({ cmp1: node('passing') }), records: new Map(), incidents: new Map(), maintenance: new Map(), pause: null, power: null, nova: null, errors: [], ...over };
}
const build = (over: Partial<World> = {}, now = NOW) => buildSnapshot(world(over), observer, now, freshness);
const alive = (since: number) => ({ state: 'alive' as const, since });
const record = (over: Partial<HostRecord> = {}): HostRecord => ({ networks: { mgmt: alive(0), storage: alive(0), tenant: alive(0) }, novaNode: { state: 'up', since: 0 }, at: NOW - 5000, by: 'ctl2', ...over });

const incident = (over: Partial<Incident> = {}): Incident => ({
  id: 'cmp1-1', host: 'cmp1', cause: 'storage-network', phase: 'repairing', phaseSince: NOW - 60_000, openedAt: NOW - 120_000, attempts: { 'restart-storage-network': NOW - 50_000 },
  fenceStarted: false, alerted: true, reason: 'storage down', timeline: [{ at: NOW - 120_000, by: 'ctl1', event: 'opened' }] as unknown as Incident['timeline'], ...over,
});

describe('summarize: what the policy reads of an incident', () => {
  it('the fields the policy needs, and no key for what the incident does not have', () => {
    expect(summarize(incident())).toStrictEqual({ id: 'cmp1-1', cause: 'storage-network', phase: 'repairing', phaseSince: NOW - 60_000, attempts: { 'restart-storage-network': NOW - 50_000 }, fenceStarted: false, alerted: true });
  });

  it('the reports as recorded, how many requests were sent for each repair (a resend counts), the hold and when the host was seen on again', () => {
    const report = { result: 'still-broken' as const, detail: '0 of 3 reachable', at: NOW - 40_000 };
    const summary = summarize(incident({
      repairReports: { 'restart-storage-network': report },
      repairRequests: { 'restart-storage-network': ['n1', 'n2'], 'restart-nova-compute': ['n3'] },
      hold: { reason: 'BMC silent', needsOperator: true },
      seenOnWhileFenced: 0,
    }));
    expect(summary.reports).toStrictEqual({ 'restart-storage-network': report });
    expect(summary.requestsSent).toStrictEqual({ 'restart-storage-network': 2, 'restart-nova-compute': 1 });
    expect(summary.hold).toStrictEqual({ reason: 'BMC silent', needsOperator: true });
    expect(summary.seenOnWhileFenced).toBe(0);
  });
});

describe('computeHosts: the hosts an evaluation looks at', () => {
  it('every compute in any cluster and every host with a record, sorted by name; controllers are not hosts', () => {
    const w = world({
      views: { mgmt: view('mgmt', { cmp2: node('passing') }), storage: view('storage', { cmp10: node('passing'), ctl2: controller('passing') }), tenant: unreadable('tenant') },
      records: new Map([['cmp1', record()]]),
    });
    expect(computeHosts(w)).toEqual(['cmp1', 'cmp10', 'cmp2']);
  });

  it('records that could not be read add no host', () => {
    expect(computeHosts(world({ records: 'unknown' }))).toEqual(['cmp1']);
  });
});

describe('buildSnapshot: what each cluster says of a host', () => {
  it('a host known only from its record has left every cluster', () => {
    const { snapshot } = build({ records: new Map([['cmp9', record()]]) });
    expect(snapshot.hosts.map((h) => h.host)).toEqual(['cmp1', 'cmp9']);
    expect(snapshot.hosts[1]!.networks).toStrictEqual({ mgmt: { state: 'left', since: NOW }, storage: { state: 'left', since: NOW }, tenant: { state: 'left', since: NOW } });
  });

  it('an agent whose serf check warns or is missing is unknown, never failed', () => {
    const views = { mgmt: view('mgmt', { cmp1: node('warning') }), storage: view('storage', { cmp1: node(undefined) }), tenant: view('tenant', { cmp1: node('passing') }) };
    const { snapshot } = build({ views });
    expect(snapshot.hosts[0]!.networks).toStrictEqual({ mgmt: { state: 'unknown', since: NOW }, storage: { state: 'unknown', since: NOW }, tenant: { state: 'alive', since: NOW } });
    expect(snapshot.context.failed).toEqual({ mgmt: 0, storage: 0, tenant: 0 });
  });

  it("the observer is unknown where it is missing from the cluster or has no serf check, isolated where it warns", () => {
    const views = { mgmt: view('mgmt', { cmp1: node('passing') }, null), storage: view('storage', { cmp1: node('passing') }, controller(undefined)), tenant: view('tenant', { cmp1: node('passing') }, controller('warning')) };
    expect(build({ views }).snapshot.context.observer).toStrictEqual({ node: 'ctl1', networks: { mgmt: 'unknown', storage: 'unknown', tenant: 'isolated' }, startedAt: NOW - 3_600_000 });
  });

  it('the watchdog: armed only when its check passes with a timeout; otherwise not armed, with what the check said', () => {
    const wd = (watchdog: NodeHealth['watchdog']) => build({ views: { ...everywhere({ cmp1: node('passing') }), mgmt: view('mgmt', { cmp1: node('passing', watchdog ? { watchdog } : {}) }) } }).snapshot.hosts[0]!.watchdog;
    expect(wd({ status: 'passing', timeoutMs: 60_000, output: 'armed timeout_ms=60000' })).toStrictEqual({ state: 'armed', timeoutMs: 60_000, detail: 'armed timeout_ms=60000' });
    expect(wd({ status: 'passing', output: 'armed' })).toStrictEqual({ state: 'not-armed', detail: 'nova-ha-watchdog passing: armed' });
    expect(wd({ status: 'critical', timeoutMs: 60_000, output: 'TTL expired' })).toStrictEqual({ state: 'not-armed', detail: 'nova-ha-watchdog critical: TTL expired' });
    expect(wd({ status: undefined, output: 'no status' })).toStrictEqual({ state: 'not-armed', detail: 'nova-ha-watchdog unknown: no status' });
    expect(wd(undefined)).toStrictEqual({ state: 'not-armed', detail: 'no nova-ha-watchdog check' });
    // Only the mgmt cluster's data counts: a storage cluster that cannot be read changes nothing.
    const storageDown = build({ views: { ...everywhere({ cmp1: node('passing', { watchdog: { status: 'passing', timeoutMs: 1000, output: 'ok' } }) }), storage: unreadable('storage') } });
    expect(storageDown.snapshot.hosts[0]!.watchdog?.state).toBe('armed');
    expect(build({ views: { ...everywhere({ cmp1: node('passing') }), mgmt: unreadable('mgmt') } }).snapshot.hosts[0]!.watchdog).toStrictEqual({ state: 'unknown' });
  });

  it('nova-compute on the node keeps its "since" from the record while it holds', () => {
    const { snapshot } = build({ records: new Map([['cmp1', record({ novaNode: { state: 'up', since: 1234 } })]]) });
    expect(snapshot.hosts[0]!.novaCompute.node).toStrictEqual({ state: 'up', since: 1234 });
    const dead = build({ views: everywhere({ cmp1: node('passing', { novaCompute: DEAD }) }), records: new Map([['cmp1', record({ novaNode: { state: 'up', since: 1234 } })]]) });
    expect(dead.snapshot.hosts[0]!.novaCompute.node).toStrictEqual({ state: 'down', since: NOW });
  });
});

describe('buildSnapshot: the poller documents, maintenance, incidents and dumps', () => {
  const nova = (at: number, extra: Partial<NovaDoc['hosts'][string]> = {}): NovaDoc => ({ at, by: 'ctl2', api: 'up', schedulers: 'down', hosts: { cmp1: { id: 'svc-1', state: 'down', since: NOW - 70_000, status: 'enabled', forcedDown: false, ...extra } } });
  const power = (at: number): PowerDoc => ({ at, by: 'ctl2', hosts: { cmp1: { state: 'off', since: NOW - 80_000, error: 'none' } } });

  it('a document exactly as old as its limit is still used; one ms older is unknown', () => {
    const edge = build({ power: power(NOW - 90_000), nova: nova(NOW - 30_000) }).snapshot;
    expect(edge.hosts[0]!.power).toStrictEqual({ state: 'off', since: NOW - 80_000 });
    expect(edge.hosts[0]!.novaCompute.api).toStrictEqual({ state: 'down', since: NOW - 70_000 });
    expect(edge.context.nova).toStrictEqual({ api: 'up', schedulers: 'down' });
    const stale = build({ power: power(NOW - 90_001), nova: nova(NOW - 30_001) }).snapshot;
    expect(stale.hosts[0]!.power).toStrictEqual({ state: 'unknown', since: NOW });
    expect(stale.hosts[0]!.novaCompute.api).toStrictEqual({ state: 'unknown', since: NOW });
    expect(stale.context.nova).toStrictEqual({ api: 'unknown', schedulers: 'unknown' });
  });

  it('documents that could not be read, and hosts they do not list, are unknown', () => {
    const unread = build({ power: 'unknown', nova: 'unknown' }).snapshot;
    expect([unread.hosts[0]!.power.state, unread.hosts[0]!.novaCompute.api.state, unread.context.nova.api]).toEqual(['unknown', 'unknown', 'unknown']);
    const other = build({ views: everywhere({ cmp2: node('passing') }), power: power(NOW), nova: nova(NOW) }).snapshot;
    expect(other.hosts[0]!.power).toStrictEqual({ state: 'unknown', since: NOW });
    expect(other.hosts[0]!.novaCompute.api).toStrictEqual({ state: 'unknown', since: NOW });
  });

  it("Nova's last report time comes along when Nova gave one", () => {
    expect(build({ nova: nova(NOW, { reportedAt: NOW - 65_000 }) }).snapshot.hosts[0]!.novaCompute.api).toStrictEqual({ state: 'down', since: NOW - 70_000, reportedAt: NOW - 65_000 });
  });

  it('maintenance: off without a flag; Consul maintenance wins over a flag; only the flag reason otherwise', () => {
    expect(build().snapshot.hosts[0]!.maintenance).toStrictEqual({ state: 'off' });
    const both = build({ views: { ...everywhere({ cmp1: node('passing') }), storage: view('storage', { cmp1: node('passing', { maintenance: true }) }) }, maintenance: new Map([['cmp1', { reason: 'disk swap', since: NOW, by: 'ops' }]]) });
    expect(both.snapshot.hosts[0]!.maintenance).toStrictEqual({ state: 'on', reason: 'Consul node maintenance' });
    const mgmtOnly = build({ views: { ...everywhere({ cmp1: node('passing') }), mgmt: view('mgmt', { cmp1: node('passing', { maintenance: true }) }), storage: unreadable('storage') } });
    expect(mgmtOnly.snapshot.hosts[0]!.maintenance.state).toBe('on');
  });

  it('the incident is summarized; null when there is none; a pause carries its reason and since', () => {
    const { snapshot } = build({ views: everywhere({ cmp1: node('passing'), cmp2: node('passing') }), incidents: new Map([['cmp1', incident()]]), pause: { reason: 'upgrade', since: NOW - 1000, by: 'ops' } });
    expect(snapshot.hosts[0]!.incident).toStrictEqual(summarize(incident()));
    expect(snapshot.hosts[1]!.incident).toBeNull();
    expect(snapshot.context.paused).toStrictEqual({ reason: 'upgrade', since: NOW - 1000 });
  });

  it('fence_kdump: the host\'s own record without who wrote it; none when absent, unread or never read', () => {
    const dump: KdumpRecord = { from: '198.18.1.101', first: NOW - 20_000, last: NOW - 2000, count: 4, by: 'ctl2' };
    const views = everywhere({ cmp1: node('critical'), cmp2: node('critical') });
    const read = build({ views, kdump: new Map([['cmp1', dump]]) }).snapshot;
    expect(read.hosts.map((h) => h.kdump)).toStrictEqual([{ from: '198.18.1.101', first: NOW - 20_000, last: NOW - 2000, count: 4 }, null]);
    expect(build({ views, kdump: 'unknown' }).snapshot.hosts[0]!.kdump).toBeNull();
    expect(build({ views }).snapshot.hosts[0]!.kdump).toBeNull();
  });
});

describe('buildSnapshot: the storm count, hosts failing at the same time (invariant 10)', () => {
  const down = node('critical');

  it('counts each network a watched host fails on, and its nova-compute down in Nova', () => {
    const views = { mgmt: view('mgmt', { cmp1: down, cmp2: node('passing'), cmp3: node('passing') }), storage: view('storage', { cmp1: down, cmp2: down, cmp3: node('passing') }), tenant: view('tenant', { cmp1: node('passing'), cmp2: node('passing'), cmp3: node('passing') }) };
    const nova: NovaDoc = { at: NOW, by: 'ctl1', api: 'up', schedulers: 'up', hosts: { cmp1: { id: 'a', state: 'down', since: 0, status: 'enabled', forcedDown: false }, cmp2: { id: 'b', state: 'up', since: 0, status: 'enabled', forcedDown: false }, cmp3: { id: 'c', state: 'unknown', since: 0, status: 'enabled', forcedDown: false } } };
    const { context } = build({ views, nova }).snapshot;
    expect([context.hosts, context.failed, context.novaApiDown]).toStrictEqual([3, { mgmt: 1, storage: 2, tenant: 0 }, 1]);
  });

  it('a host whose maintenance flag could not be read is still watched and counted', () => {
    const { context } = build({ views: everywhere({ cmp1: down }), maintenance: 'unknown' }).snapshot;
    expect([context.hosts, context.failed]).toStrictEqual([1, { mgmt: 1, storage: 1, tenant: 1 }]);
  });

  it('a host in Consul maintenance is neither watched nor counted', () => {
    const { context } = build({ views: everywhere({ cmp1: node('critical', { maintenance: true }) }) }).snapshot;
    expect([context.hosts, context.failed]).toStrictEqual([0, { mgmt: 0, storage: 0, tenant: 0 }]);
  });

  it('incidents that could not be read: a failing host counts (it might not be fenced)', () => {
    const nova: NovaDoc = { at: NOW, by: 'ctl1', api: 'up', schedulers: 'up', hosts: { cmp1: { id: 'a', state: 'down', since: 0, status: 'enabled', forcedDown: true } } };
    const { context } = build({ views: everywhere({ cmp1: down }), incidents: 'unknown', nova }).snapshot;
    expect([context.failed, context.novaApiDown]).toStrictEqual([{ mgmt: 1, storage: 1, tenant: 1 }, 1]);
  });
});

describe('buildSnapshot: the host records written back', () => {
  it('a new host is recorded with its states, this controller and now', () => {
    const { changed } = build({ views: { ...everywhere({ cmp1: node('passing') }), storage: view('storage', { cmp1: node('critical') }) } });
    expect(changed.get('cmp1')).toStrictEqual({ networks: { mgmt: alive(NOW), storage: { state: 'failed', since: NOW }, tenant: alive(NOW) }, novaNode: { state: 'up', since: NOW }, at: NOW, by: 'ctl1' });
  });

  it('a change of nova-compute on the node alone is written back', () => {
    const { changed } = build({ views: everywhere({ cmp1: node('passing', { novaCompute: DEAD }) }), records: new Map([['cmp1', record()]]) });
    expect(changed.get('cmp1')?.novaNode).toStrictEqual({ state: 'down', since: NOW });
  });

  it('a record that lacks a network or nova-compute (an older record) is completed and written back', () => {
    const old = { networks: { mgmt: alive(0), storage: alive(0) }, at: NOW - 5000, by: 'ctl2' } as unknown as HostRecord;
    const { changed } = build({ records: new Map([['cmp1', old]]) });
    expect(changed.get('cmp1')).toStrictEqual({ networks: { mgmt: alive(0), storage: alive(0), tenant: alive(NOW) }, novaNode: { state: 'up', since: NOW }, at: NOW, by: 'ctl1' });
    const noNova = { networks: { mgmt: alive(0), storage: alive(0), tenant: alive(0) }, at: NOW - 5000, by: 'ctl2' } as unknown as HostRecord;
    expect(build({ records: new Map([['cmp1', noNova]]) }).changed.get('cmp1')?.novaNode).toStrictEqual({ state: 'up', since: NOW });
  });

  it('nothing is written when the records could not be read (a write would overwrite what is not known)', () => {
    expect(build({ records: 'unknown' }).changed.size).toBe(0);
  });

  it('a record written for another change keeps the last known state of a cluster that could not be read; a host never known stays unknown since now', () => {
    const failedSince = NOW - 30_000;
    const previous = record({ networks: { mgmt: alive(0), storage: { state: 'failed', since: failedSince }, tenant: alive(0) } });
    const views = { ...everywhere({ cmp1: node('critical'), cmp2: node('critical') }), storage: unreadable('storage') };
    const { changed, snapshot } = build({ views, records: new Map([['cmp1', previous]]) });
    expect(changed.get('cmp1')!.networks).toStrictEqual({ mgmt: { state: 'failed', since: NOW }, storage: { state: 'failed', since: failedSince }, tenant: { state: 'failed', since: NOW } });
    expect(changed.get('cmp2')!.networks.storage).toStrictEqual({ state: 'unknown', since: NOW });
    // The policy sees unknown, and a node that is not alive on mgmt has its nova-compute unknown,
    // while the record keeps the last known one.
    expect(snapshot.hosts[0]!.networks.storage).toStrictEqual({ state: 'unknown', since: NOW });
    expect(snapshot.hosts[0]!.novaCompute.node).toStrictEqual({ state: 'unknown', since: NOW });
    expect(changed.get('cmp1')!.novaNode).toStrictEqual({ state: 'up', since: 0 });
    expect(changed.get('cmp2')!.novaNode).toStrictEqual({ state: 'unknown', since: NOW });
  });
});
