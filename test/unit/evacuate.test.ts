/**
 * The evacuation engine's decisions: which instances, in what order (selectInstances, a table),
 * and that each instance is called for at most once per incident (invariant 5), counted as
 * nova-ha's own calls to a simulated Nova that records every call: the host's server list read
 * once, right before the batch is recorded and the calls made, every call recorded before it is
 * made, and a resumed run that calls again only when Nova shows the earlier call never took effect.
 */
import { describe, expect, it } from 'vitest';
import { evacuateInstances, priorityOf, selectInstances, type EvacuationRun, type EvacuationSettings } from '../../lib/recovery/evacuate.js';
import type { InstanceOutcome } from '../../lib/state/incident.js';
import type { Server } from '../../lib/systems/nova/index.js';
import { silentLogger } from '../../lib/shared/log.js';
import { FakeNova, NovaRefused, type FakeServer } from '../support/fake-nova.js';
import { expectInOrder } from '../support/journal.js';

const server = (id: string, over: Partial<Server> = {}): Server => ({ id, name: id, status: 'ACTIVE', taskState: null, vmState: 'active', host: 'cmp1', projectId: 'p1', metadata: {}, locked: false, partial: false, fault: null, ...over });
const OPT_OUT = { mode: 'opt-out', selectKey: 'nova_ha_evacuate', priorityKey: 'nova_ha_priority' } as const;
const OPT_IN = { ...OPT_OUT, mode: 'opt-in' } as const;

describe('selectInstances: which instances, and why the others stay', () => {
  const cases: { name: string; server: Partial<Server>; settings?: typeof OPT_OUT | typeof OPT_IN; skipped?: RegExp }[] = [
    { name: 'opt-out: no flag is evacuated', server: {} },
    ...['false', 'no', '0', 'off', ' False ', 'OFF'].map((flag) => ({ name: `opt-out: ${JSON.stringify(flag)} opts out`, server: { metadata: { nova_ha_evacuate: flag } }, skipped: /^opted out \(metadata nova_ha_evacuate=/ })),
    ...['true', 'maybe', ''].map((flag) => ({ name: `opt-out: ${JSON.stringify(flag)} is not an opt-out`, server: { metadata: { nova_ha_evacuate: flag } } })),
    ...['true', 'yes', '1', 'on', ' TRUE '].map((flag) => ({ name: `opt-in: ${JSON.stringify(flag)} opts in`, server: { metadata: { nova_ha_evacuate: flag } }, settings: OPT_IN })),
    { name: 'opt-in: no flag stays', server: {}, settings: OPT_IN, skipped: /^not opted in \(opt-in mode needs metadata nova_ha_evacuate=true\)/ },
    ...['false', 'maybe', ''].map((flag) => ({ name: `opt-in: ${JSON.stringify(flag)} is not an opt-in`, server: { metadata: { nova_ha_evacuate: flag } }, settings: OPT_IN, skipped: /^not opted in/ })),
    { name: 'another select key is read', server: { metadata: { evacuate_me: 'no', nova_ha_evacuate: 'true' } }, settings: { ...OPT_OUT, selectKey: 'evacuate_me' } as unknown as typeof OPT_OUT, skipped: /metadata evacuate_me=no/ },
    { name: 'a server Nova lists with only its ID (cell down) stays, even opted in', server: { partial: true, metadata: { nova_ha_evacuate: 'true' } }, settings: OPT_IN, skipped: /cannot reach its cell/ },
    { name: 'a partial server stays in opt-out mode too', server: { partial: true }, skipped: /cannot reach its cell/ },
    ...['active', 'stopped', 'error'].map((vmState) => ({ name: `vm_state ${vmState} is evacuated`, server: { vmState } })),
    { name: 'no vm_state given is evacuated', server: { vmState: null } },
    ...['building', 'paused', 'suspended', 'shelved_offloaded', 'rescued', 'resized', 'soft-delete'].map((vmState) => ({ name: `vm_state ${vmState} stays`, server: { vmState }, skipped: new RegExp(`^its vm_state is ${vmState}; Nova evacuates only active, stopped or errored servers$`) })),
    { name: 'an opted-out server is skipped for that, whatever its state', server: { vmState: 'paused', metadata: { nova_ha_evacuate: 'false' } }, skipped: /^opted out/ },
  ];
  it.each(cases)('$name', (c) => {
    const s = server('vm1', c.server);
    const selection = selectInstances([s], c.settings ?? OPT_OUT);
    if (c.skipped) {
      expect(selection.evacuate).toEqual([]);
      expect(selection.skipped).toHaveLength(1);
      expect(selection.skipped[0]!.server).toBe(s);
      expect(selection.skipped[0]!.reason).toMatch(c.skipped);
    } else {
      expect(selection.evacuate).toEqual([s]);
      expect(selection.skipped).toEqual([]);
    }
  });

  it('orders by priority, highest first, then by name, then by ID; no or a bad priority counts as 0', () => {
    const servers = [
      server('id-c', { name: 'web', metadata: {} }),
      server('id-a', { name: 'db', metadata: { nova_ha_priority: '10' } }),
      server('id-b', { name: 'cache', metadata: { nova_ha_priority: 'high' } }),
      server('id-e', { name: 'batch', metadata: { nova_ha_priority: '-5' } }),
      server('id-d', { name: 'api', metadata: { nova_ha_priority: '10' } }),
      server('id-g', { name: 'same', metadata: { nova_ha_priority: '2.5' } }),
      server('id-f', { name: 'same', metadata: { nova_ha_priority: '2.5' } }),
      server('id-h', { name: 'skip', metadata: { nova_ha_priority: '99', nova_ha_evacuate: 'off' } }),
    ];
    const selection = selectInstances(servers, OPT_OUT);
    expect(selection.evacuate.map((s) => s.id)).toEqual(['id-d', 'id-a', 'id-f', 'id-g', 'id-b', 'id-c', 'id-e']);
    expect(selection.skipped.map((s) => s.server.id)).toEqual(['id-h']);
  });

  it('reads the configured priority key', () => {
    const servers = [server('a', { metadata: { nova_ha_priority: '9' } }), server('b', { metadata: { rank: '3' } })];
    expect(selectInstances(servers, { ...OPT_OUT, priorityKey: 'rank' }).evacuate.map((s) => s.id)).toEqual(['b', 'a']);
  });

  it('priorityOf: a number from the metadata, else 0', () => {
    expect(priorityOf(server('a', { metadata: { p: '7' } }), 'p')).toBe(7);
    expect(priorityOf(server('a', { metadata: { p: '-1.5' } }), 'p')).toBe(-1.5);
    expect(priorityOf(server('a', { metadata: { p: 'x' } }), 'p')).toBe(0);
    expect(priorityOf(server('a', { metadata: { p: 'Infinity' } }), 'p')).toBe(0);
    expect(priorityOf(server('a'), 'p')).toBe(0);
  });
});

const SETTINGS: EvacuationSettings = { concurrency: 1, mode: 'opt-out', selectKey: 'nova_ha_evacuate', priorityKey: 'nova_ha_priority', retries: 0, instanceTimeout: 5000 };
const HOST = 'cmp1';

/** A Nova with the fenced host forced down (Nova evacuates only then) and servers on it. */
function novaWith(...servers: (string | [string, Partial<FakeServer>])[]): FakeNova {
  const nova = new FakeNova();
  nova.service(HOST, { state: 'down', forcedDown: true });
  nova.service(nova.target);
  for (const s of servers) {
    if (typeof s === 'string') nova.server(s, HOST);
    else nova.server(s[0], HOST, s[1]);
  }
  return nova;
}

interface Run {
  readonly outcomes: InstanceOutcome[];
  /** What was recorded, in order. */
  readonly records: InstanceOutcome[];
  readonly progress: [number, number][];
}

async function evacuate(nova: FakeNova | EvacuationRun['nova'], over: Partial<EvacuationRun> = {}): Promise<Run> {
  const records: InstanceOutcome[] = [];
  const progress: [number, number][] = [];
  const { outcomes } = await evacuateInstances({
    kind: 'evacuation',
    nova,
    host: HOST,
    since: Date.now() - 60_000,
    settings: SETTINGS,
    log: silentLogger,
    recorded: [],
    record: async (batch) => {
      for (const o of batch) {
        records.push(o);
        (nova as FakeNova).journal?.add({ system: 'incident', method: 'record', args: [o.id, o.outcome] });
      }
    },
    stillOwner: () => true,
    progress: (done, total) => progress.push([done, total]),
    looks: { firstMs: 5, nextMs: 5, growth: 1, maxMs: 5 },
    ...over,
  });
  return { outcomes, records, progress };
}

const byId = (outcomes: readonly InstanceOutcome[]): Record<string, string> => Object.fromEntries(outcomes.map((o) => [o.id, o.outcome]));

describe('evacuateInstances: each instance at most once per incident', () => {
  it('calls evacuate once for each selected instance, in priority order, and never for a skipped one', async () => {
    const nova = novaWith(['low', {}], ['high', { metadata: { nova_ha_priority: '5' } }], ['out', { metadata: { nova_ha_evacuate: 'no' } }]);
    const run = await evacuate(nova);
    expect(nova.calls('evacuate').map(([id, options]) => [id, options])).toEqual([['high', { fromHost: HOST }], ['low', { fromHost: HOST }]]);
    expect(byId(run.outcomes)).toEqual({ out: 'skipped', high: 'evacuated', low: 'evacuated' });
    expect(run.outcomes.find((o) => o.id === 'high')).toMatchObject({ from: HOST, to: nova.target, detail: expect.stringMatching(/^ACTIVE on cmp9, migration mig-1 done$/) });
    // Outcomes are recorded a look at a time: progress goes from none to all, never back.
    expect(run.progress[0]).toEqual([0, 2]);
    expect(run.progress.at(-1)).toEqual([2, 2]);
    expect(run.progress.every(([done], n) => n === 0 || done >= run.progress[n - 1]![0])).toBe(true);
  });

  it('records each call (evacuating, with its time) before it is made, and the outcome after', async () => {
    const nova = novaWith('vm1', 'vm2');
    const before = Date.now();
    const run = await evacuate(nova);
    for (const id of ['vm1', 'vm2']) {
      const recordedAt = nova.journal.indexOf((e) => e.system === 'incident' && e.args[0] === id && e.args[1] === 'evacuating');
      const calledAt = nova.journal.indexOf((e) => e.system === 'nova' && e.method === 'evacuate' && e.args[0] === id);
      const doneAt = nova.journal.indexOf((e) => e.system === 'incident' && e.args[0] === id && e.args[1] === 'evacuated');
      expect(recordedAt, id).toBeGreaterThanOrEqual(0);
      expect(calledAt, id).toBeGreaterThan(recordedAt);
      expect(doneAt, id).toBeGreaterThan(calledAt);
      const evacuating = run.records.find((o) => o.id === id && o.outcome === 'evacuating')!;
      expect(evacuating.calledAt).toBeGreaterThanOrEqual(before);
      expect(run.outcomes.find((o) => o.id === id)!.calledAt).toBe(evacuating.calledAt);
    }
  });

  it("reads the host's server list once, right before the batch is recorded and the calls: an instance moved away before it is not called for", async () => {
    const nova = novaWith(['vm1', { metadata: { nova_ha_priority: '2' } }], 'vm2');
    // Someone else (an operator, another tool) moves vm2 away while the fence's earlier steps run.
    nova.before('listServersOnHost', () => {
      nova.servers.get('vm2')!.host = 'cmp3';
    });
    const run = await evacuate(nova);
    expect(nova.calls('listServersOnHost')).toEqual([[HOST]]);
    expect([...nova.callCounts()]).toEqual([['vm1', 1]]);
    expect(run.outcomes.map((o) => o.id)).toEqual(['vm1']);
    // Nothing but the record of the call between the list and the call: no older list is trusted.
    const labels = nova.journal.entries.map((e) => (e.system === 'incident' ? `record ${e.args.join(':')}` : `${e.system}.${e.method}`));
    expectInOrder(labels, 'nova.listServersOnHost', 'record vm1:evacuating', 'nova.evacuate');
    expect(labels.slice(labels.indexOf('nova.listServersOnHost') + 1, labels.indexOf('nova.evacuate'))).toEqual(['record vm1:evacuating']);
  });

  it('an instance moved away between the list and its call is not called for again: Nova refuses the call, and the retry reads where it is first', async () => {
    const nova = novaWith(['vm1', { metadata: { nova_ha_priority: '2' } }], 'vm2');
    // Nova refuses to evacuate from a host whose service is up: cmp3's is, once vm2 runs there.
    nova.service('cmp3');
    nova.before('evacuate', ([id]) => {
      if (id === 'vm1') Object.assign(nova.servers.get('vm2')!, { host: 'cmp3', updatedAt: Date.now() });
    });
    const run = await evacuate(nova, { settings: { ...SETTINGS, retries: 1 } });
    expect(nova.callCounts()).toEqual(new Map([['vm1', 1], ['vm2', 1]]));
    expect(run.outcomes.find((o) => o.id === 'vm2')).toMatchObject({ outcome: 'evacuated', to: 'cmp3', detail: 'already on cmp3; not called again' });
    expect(nova.calls('getServer').map(([id]) => id)).toEqual(['vm2']);
  });

  it('a resumed run does not call again for an instance whose earlier call reached Nova (a migration exists)', async () => {
    const nova = novaWith('vm1', 'vm2');
    // The earlier worker called for vm1 and died: Nova rebuilt it elsewhere, nothing was recorded after the call.
    await nova.evacuate('vm1', { fromHost: HOST });
    const calledAt = Date.now() - 1000;
    const run = await evacuate(nova, { recorded: [{ id: 'vm1', name: 'vm1', outcome: 'evacuating', from: HOST, calledAt }] });
    expect(nova.callCounts()).toEqual(new Map([['vm1', 1], ['vm2', 1]]));
    expect(run.outcomes.find((o) => o.id === 'vm1')).toMatchObject({ outcome: 'evacuated', calledAt });
  });

  it('a resumed run does not call again while the earlier call is under way on the host (a live migration record)', async () => {
    const nova = novaWith('vm1');
    nova.behaviour = 'stays-rebuilding';
    await nova.evacuate('vm1', { fromHost: HOST });
    nova.before('listServersChangedSince', () => {
      // Nova finishes the rebuild while nova-ha confirms.
      Object.assign(nova.servers.get('vm1')!, { host: nova.target, taskState: null, updatedAt: Date.now() });
    });
    const run = await evacuate(nova, { recorded: [{ id: 'vm1', name: 'vm1', outcome: 'evacuating', from: HOST, calledAt: Date.now() - 1000 }] });
    expect(nova.callCounts()).toEqual(new Map([['vm1', 1]]));
    expect(byId(run.outcomes)).toEqual({ vm1: 'evacuated' });
  });

  it('a resumed run calls again, once, when Nova shows the earlier call never took effect', async () => {
    const nova = novaWith('vm1', 'vm2');
    const calledAt = Date.now() - 1000;
    // vm1: recorded as called, but no migration and the server idle on the host: the call was lost.
    // vm2: called, but Nova's only migration for it failed: same.
    nova.migrations.push({ id: '77', uuid: 'mig-77', instanceUuid: 'vm2', migrationType: 'evacuation', status: 'failed', sourceCompute: HOST, destCompute: null, createdAt: new Date().toISOString(), updatedAt: null });
    const run = await evacuate(nova, { recorded: ['vm1', 'vm2'].map((id) => ({ id, name: id, outcome: 'evacuating' as const, from: HOST, calledAt })) });
    expect(nova.callCounts()).toEqual(new Map([['vm1', 1], ['vm2', 1]]));
    expect(byId(run.outcomes)).toEqual({ vm1: 'evacuated', vm2: 'evacuated' });
    expect(run.outcomes.every((o) => (o.calledAt ?? 0) > calledAt)).toBe(true);
  });

  it('an old migration from an earlier incident is not taken for this call', async () => {
    const nova = novaWith('vm1');
    nova.migrations.push({ id: '5', uuid: 'mig-5', instanceUuid: 'vm1', migrationType: 'evacuation', status: 'completed', sourceCompute: HOST, destCompute: 'cmp2', createdAt: '2020-01-01T00:00:00', updatedAt: null });
    await evacuate(nova, { recorded: [{ id: 'vm1', name: 'vm1', outcome: 'evacuating', from: HOST, calledAt: Date.now() - 1000 }] });
    expect(nova.callCounts()).toEqual(new Map([['vm1', 1]]));
  });

  it('a busy server on the host with no migration is not called again (something is under way)', async () => {
    const nova = novaWith(['vm1', { taskState: 'rebuilding' }]);
    // Nova finishes what was under way after nova-ha's first look at it.
    nova.before('listServersChangedSince', () => {
      if (nova.calls('listServersChangedSince').length > 1) Object.assign(nova.servers.get('vm1')!, { host: nova.target, taskState: null, updatedAt: Date.now() });
    });
    const run = await evacuate(nova, { recorded: [{ id: 'vm1', name: 'vm1', outcome: 'evacuating', from: HOST, calledAt: Date.now() - 1000 }] });
    expect(nova.callCounts().get('vm1')).toBeUndefined();
    expect(byId(run.outcomes)).toEqual({ vm1: 'evacuated' });
  });

  it('an instance recorded as called that has left the host is confirmed, not called again', async () => {
    const nova = novaWith('vm2');
    nova.server('vm1', nova.target);
    const run = await evacuate(nova, { recorded: [{ id: 'vm1', name: 'vm1', outcome: 'evacuating', from: HOST, calledAt: Date.now() - 1000 }] });
    expect(nova.callCounts()).toEqual(new Map([['vm2', 1]]));
    expect(byId(run.outcomes)).toEqual({ vm1: 'evacuated', vm2: 'evacuated' });
    expect(run.progress[0]).toEqual([0, 2]);
  });

  it('instances recorded as evacuated are neither called again nor re-recorded, and count as done', async () => {
    const nova = novaWith('vm2', ['out', { metadata: { nova_ha_evacuate: 'false' } }]);
    nova.server('vm1', nova.target);
    const recorded: InstanceOutcome[] = [{ id: 'vm1', name: 'vm1', outcome: 'evacuated', from: HOST, to: nova.target, calledAt: 1 }, { id: 'out', name: 'out', outcome: 'skipped', from: HOST, detail: 'opted out' }];
    const run = await evacuate(nova, { recorded });
    expect(nova.callCounts()).toEqual(new Map([['vm2', 1]]));
    expect(run.records.every((o) => o.id === 'vm2')).toBe(true);
    expectInOrder(run.records.map((o) => o.outcome), 'evacuating', 'evacuated');
    expect(byId(run.outcomes)).toEqual({ vm1: 'evacuated', out: 'skipped', vm2: 'evacuated' });
    expect(run.progress).toEqual([[1, 2], [2, 2]]);
  });

  it('killed after some calls and resumed from what was recorded: every instance called for exactly once', async () => {
    const nova = novaWith('vm1', 'vm2', 'vm3', 'vm4');
    const recorded = new Map<string, InstanceOutcome>();
    // The first worker is killed right after its second call reached Nova: from then on it neither
    // calls nor records anything. Nova is still rebuilding what it was called for.
    let alive = true;
    nova.before('evacuate', () => {
      if (nova.calls('evacuate').length === 2) alive = false;
    });
    const dying = new Proxy(nova, {
      get: (target, name, receiver) => {
        const value = Reflect.get(target, name, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => (alive ? (value as (...a: unknown[]) => unknown).apply(target, args) : Promise.reject(new Error('killed')));
      },
    });
    nova.behaviour = 'stays-rebuilding';
    const killed = evacuate(dying, {
      settings: { ...SETTINGS, concurrency: 4 },
      record: async (batch) => {
        if (!alive) throw new Error('killed');
        for (const o of batch) recorded.set(o.id, o);
      },
    });
    await expect(killed).rejects.toThrow('killed');
    expect(nova.calls('evacuate')).toHaveLength(2);
    expect([...recorded.values()].filter((o) => o.outcome === 'evacuating').length).toBeGreaterThanOrEqual(2);

    // The next worker resumes; Nova finishes each rebuild after nova-ha has looked at it once.
    nova.behaviour = 'completes';
    const looked = new Set<string>();
    nova.before('listServersChangedSince', () => {
      for (const server of nova.servers.values()) {
        if (server.taskState !== 'rebuilding') continue;
        if (looked.has(server.id)) Object.assign(server, { host: nova.target, taskState: null, updatedAt: Date.now() });
        else looked.add(server.id);
      }
    });
    const resumed = await evacuate(nova, { recorded: [...recorded.values()], settings: { ...SETTINGS, concurrency: 4 } });
    expect(nova.callCounts()).toEqual(new Map([['vm1', 1], ['vm2', 1], ['vm3', 1], ['vm4', 1]]));
    expect(byId(resumed.outcomes)).toEqual({ vm1: 'evacuated', vm2: 'evacuated', vm3: 'evacuated', vm4: 'evacuated' });
  });

  it('a run that no longer holds the host lock records nothing, calls nothing, and stops with the reason', async () => {
    const nova = novaWith('vm1', 'vm2');
    const records: InstanceOutcome[] = [];
    await expect(evacuate(nova, { stillOwner: () => false, record: async (batch) => void records.push(...batch) })).rejects.toThrow(/lost the lock of cmp1 before calling Nova/);
    expect(nova.calls('evacuate')).toEqual([]);
    expect(records).toEqual([]);
  });

  it('a run that loses the host lock during its calls makes no further call and stops instead of confirming', async () => {
    const nova = novaWith('vm1', 'vm2', 'vm3');
    let owner = true;
    // Lost while vm1's call, already checked, is on its way to Nova.
    nova.before('evacuate', () => {
      owner = false;
    });
    await expect(evacuate(nova, { stillOwner: () => owner })).rejects.toThrow(/lost the lock of cmp1 while confirming/);
    expect([...nova.callCounts()]).toEqual([['vm1', 1]]);
    expect(nova.calls('listServersChangedSince')).toEqual([]);
  });

  it('a refused call is retried up to [evacuation] retries, then reported failed with the reason', async () => {
    const nova = novaWith('vm1');
    nova.failNext('evacuate', new NovaRefused(409, 'Compute service of cmp1 is still in use.'));
    nova.failNext('evacuate', new NovaRefused(409, 'Compute service of cmp1 is still in use.'));
    const once = await evacuate(nova);
    expect(nova.calls('evacuate')).toHaveLength(1);
    expect(once.outcomes[0]).toMatchObject({ outcome: 'failed', detail: 'evacuation refused: Compute service of cmp1 is still in use.', calledAt: expect.any(Number) });
    const retried = await evacuate(nova, { settings: { ...SETTINGS, retries: 1 } });
    expect(nova.calls('evacuate')).toHaveLength(3);
    expect(retried.outcomes[0]).toMatchObject({ outcome: 'evacuated' });
  });

  it("an instance that ends in ERROR is reported failed with Nova's fault, and one that never settles times out", async () => {
    const nova = novaWith('vm1');
    nova.behaviour = 'errors';
    const errored = await evacuate(nova);
    const fault = 'No valid host was found. There are not enough hosts available.';
    expect(errored.outcomes[0]).toMatchObject({ outcome: 'failed', fault, detail: `ERROR on cmp1 after the evacuation: ${fault} (see: openstack server show vm1)` });
    const stuck = novaWith('vm2');
    stuck.behaviour = 'stays-rebuilding';
    const timedOut = await evacuate(stuck, { settings: { ...SETTINGS, instanceTimeout: 50 } });
    expect(timedOut.outcomes[0]).toMatchObject({ outcome: 'failed', detail: expect.stringMatching(/^not ACTIVE \(or SHUTOFF\) elsewhere within 0s \(last seen ACTIVE on cmp1, task rebuilding\)$/) });
    expect(stuck.calls('evacuate')).toHaveLength(1);
  });

  it('a stopped instance must come back SHUTOFF; live migration reports live-migrated', async () => {
    const nova = novaWith(['vm1', { status: 'SHUTOFF', vmState: 'stopped' }]);
    const run = await evacuate(nova);
    expect(run.outcomes[0]).toMatchObject({ outcome: 'evacuated', detail: expect.stringMatching(/^SHUTOFF on cmp9/) });
    const live = novaWith('vm2');
    const migrated = await evacuate(live, { kind: 'live-migration' });
    expect(live.calls('evacuate')).toEqual([]);
    expect(live.callCounts('liveMigrate')).toEqual(new Map([['vm2', 1]]));
    expect(migrated.outcomes[0]).toMatchObject({ outcome: 'live-migrated', to: live.target });
  });
});
