/**
 * The evacuation engine's decisions in detail (recovery/evacuate.ts), against the simulated Nova
 * of test/support/fake-nova.ts (every call journaled): what a look asks Nova for (servers changed
 * since Nova's own time of the earliest call, less a margin), what each state a look sees comes
 * to, when a move counts as given up, which of Nova's migration records count as this incident's
 * when a run is resumed, what is written (never an empty write), what is read at the end for
 * the operators, and the messages the log shows. The broad invariant tests are in evacuate.test.ts
 * and evacuate-engine.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_LOOKS, evacuateInstances, evacuationSettings, type EvacuationReport, type EvacuationRun, type EvacuationSettings } from '../../lib/recovery/evacuate.js';
import type { InstanceOutcome } from '../../lib/state/incident.js';
import { createLogger } from '../../lib/shared/log.js';
import type { ActionResult, Migration } from '../../lib/systems/nova/index.js';
import { FakeNova, NovaRefused, type FakeServer } from '../support/fake-nova.js';
import { NovaSim } from '../support/nova-sim.js';

const HOST = 'cmp1';
const SETTINGS: EvacuationSettings = { concurrency: 1, mode: 'opt-out', selectKey: 'nova_ha_evacuate', priorityKey: 'nova_ha_priority', retries: 0, instanceTimeout: 5000 };
const FAST = { firstMs: 5, nextMs: 5, growth: 1, maxMs: 5 };
const MINUTE = 60_000;

/** A Nova with the fenced host forced down and servers on it. */
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

interface Logged extends Record<string, unknown> {
  readonly event: string;
  readonly level: string;
}

interface Outcome {
  readonly report?: EvacuationReport;
  readonly error?: Error;
  /** Every write of the engine to the incident, in order. */
  readonly writes: InstanceOutcome[][];
  readonly logs: Logged[];
  /** The final outcome of each instance. */
  readonly of: (id: string) => InstanceOutcome | undefined;
}

async function evacuate(nova: EvacuationRun['nova'], over: Partial<EvacuationRun> = {}): Promise<Outcome> {
  const writes: InstanceOutcome[][] = [];
  const lines: string[] = [];
  const log = createLogger({ component: 'test', level: 'debug', stream: { write: (line: string) => void lines.push(line) } });
  let report: EvacuationReport | undefined;
  let error: Error | undefined;
  try {
    report = await evacuateInstances({
      kind: 'evacuation',
      nova,
      host: HOST,
      since: Date.now() - MINUTE,
      settings: SETTINGS,
      log,
      recorded: [],
      record: async (batch) => {
        writes.push([...batch]);
        (nova as FakeNova).journal?.add({ system: 'incident', method: 'record', args: batch.map((o) => `${o.id}:${o.outcome}`) });
      },
      stillOwner: () => true,
      looks: FAST,
      ...over,
    });
  } catch (caught) {
    error = caught as Error;
  }
  const logs = lines.map((l) => JSON.parse(l) as Logged);
  return { ...(report ? { report } : {}), ...(error ? { error } : {}), writes, logs, of: (id) => report?.outcomes.find((o) => o.id === id) };
}

const migration = (over: Partial<Migration> & Pick<Migration, 'instanceUuid'>): Migration => ({ id: '70', uuid: 'mig-70', migrationType: 'evacuation', status: 'accepted', sourceCompute: HOST, destCompute: null, createdAt: new Date().toISOString().replace('Z', ''), updatedAt: null, ...over });
const calledBefore = (id: string, calledAt = Date.now() - 1000): InstanceOutcome => ({ id, name: id, outcome: 'evacuating', from: HOST, calledAt });
/** Nova, at a look, makes the server this (and says it changed now). */
const atLook = (nova: FakeNova, look: number, id: string, state: Partial<FakeServer>): void =>
  nova.before('listServersChangedSince', () => {
    if (nova.calls('listServersChangedSince').length === look) Object.assign(nova.servers.get(id)!, { ...state, updatedAt: Date.now() });
  });

describe('what a look concludes from the state Nova shows', () => {
  const cases: { name: string; end: Partial<FakeServer>; outcome: InstanceOutcome['outcome']; detail: string; to?: string; fault?: string }[] = [
    { name: 'ACTIVE on another host with no task: evacuated there', end: { host: 'cmp9', taskState: null }, outcome: 'evacuated', to: 'cmp9', detail: 'ACTIVE on cmp9, migration mig-1 accepted' },
    { name: 'SHUTOFF on another host with no task: evacuated there', end: { host: 'cmp9', taskState: null, status: 'SHUTOFF' }, outcome: 'evacuated', to: 'cmp9', detail: 'SHUTOFF on cmp9, migration mig-1 accepted' },
    { name: 'on another host but still in a task: not yet, and in time not at all', end: { host: 'cmp9', taskState: 'rebuild_spawning' }, outcome: 'failed', detail: 'not ACTIVE (or SHUTOFF) elsewhere within 0s (last seen ACTIVE on cmp9, task rebuild_spawning)' },
    { name: 'PAUSED on another host: not an evacuated instance', end: { host: 'cmp9', taskState: null, status: 'PAUSED' }, outcome: 'failed', detail: 'not ACTIVE (or SHUTOFF) elsewhere within 0s (last seen PAUSED on cmp9, task none)' },
    { name: 'ACTIVE with no host: not on another host', end: { host: null, taskState: null }, outcome: 'failed', detail: 'not ACTIVE (or SHUTOFF) elsewhere within 0s (last seen ACTIVE on null, task none)' },
    { name: "ERROR with no task: failed, with Nova's fault on one line", end: { status: 'ERROR', taskState: null, fault: { message: ' No valid host\n  was found.\t', code: 500 } }, outcome: 'failed', fault: 'No valid host was found.', detail: 'ERROR on cmp1 after the evacuation: No valid host was found. (see: openstack server show vm1)' },
    { name: 'ERROR with no host and no fault: failed, saying so', end: { status: 'ERROR', taskState: null, host: null, fault: null }, outcome: 'failed', detail: 'ERROR on no host after the evacuation (see: openstack server show vm1)' },
    { name: 'ERROR on the destination: failed, not evacuated', end: { status: 'ERROR', taskState: null, host: 'cmp9' }, outcome: 'failed', detail: 'ERROR on cmp9 after the evacuation (see: openstack server show vm1)' },
    { name: 'ERROR while still in a task: Nova is not done with it yet', end: { status: 'ERROR', taskState: 'rebuilding' }, outcome: 'failed', detail: 'not ACTIVE (or SHUTOFF) elsewhere within 0s (last seen ERROR on cmp1, task rebuilding)' },
    { name: 'DELETED: failed, deleted during the evacuation', end: { status: 'DELETED', taskState: null }, outcome: 'failed', detail: 'deleted during the evacuation' },
    { name: 'SOFT_DELETED: failed, deleted during the evacuation', end: { status: 'SOFT_DELETED', taskState: 'deleting' }, outcome: 'failed', detail: 'deleted during the evacuation' },
    { name: 'idle on the host with its move still accepted: waited for until the timeout', end: { taskState: null }, outcome: 'failed', detail: 'not ACTIVE (or SHUTOFF) elsewhere within 0s (last seen ACTIVE on cmp1, task none)' },
  ];
  it.each(cases)('$name', async (c) => {
    const nova = novaWith('vm1');
    nova.behaviour = 'stays-rebuilding';
    atLook(nova, 1, 'vm1', c.end);
    const run = await evacuate(nova, { settings: { ...SETTINGS, instanceTimeout: 60 } });
    const outcome = run.of('vm1')!;
    expect(outcome).toMatchObject({ outcome: c.outcome, detail: c.detail, from: HOST, calledAt: run.writes[0]![0]!.calledAt });
    expect(outcome.to).toBe(c.to);
    expect(outcome.fault).toBe(c.fault);
    expect('fault' in outcome).toBe(c.fault !== undefined);
    expect(nova.calls('evacuate')).toHaveLength(1);
  });

  it('rebuilding at the first look and ACTIVE elsewhere at the next: evacuated, well before its timeout', async () => {
    const nova = novaWith('vm1');
    nova.behaviour = 'stays-rebuilding';
    atLook(nova, 2, 'vm1', { host: 'cmp9', taskState: null });
    const run = await evacuate(nova);
    expect(run.of('vm1')).toMatchObject({ outcome: 'evacuated', to: 'cmp9' });
    expect(run.report!.looks).toBe(2);
  });

  it('the live migration of a running instance reports live-migrated, and its failures name the live migration', async () => {
    const nova = novaWith('vm1', 'vm2');
    nova.behaviour = 'stays-rebuilding';
    atLook(nova, 1, 'vm1', { host: 'cmp9', taskState: null });
    atLook(nova, 1, 'vm2', { status: 'ERROR', taskState: null });
    const three = novaWith('vm3');
    three.failNext('liveMigrate', new NovaRefused(400, 'vm3 is pinned'));
    const run = await evacuate(nova, { kind: 'live-migration', settings: { ...SETTINGS, concurrency: 2 } });
    expect(run.of('vm1')).toMatchObject({ outcome: 'live-migrated', to: 'cmp9' });
    expect(run.of('vm2')).toMatchObject({ outcome: 'failed', detail: 'ERROR on cmp1 after the live-migration (see: openstack server show vm2)' });
    expect(nova.calls('evacuate')).toEqual([]);
    expect(nova.calls('listMigrations')).toEqual([[{ type: 'live-migration', sourceCompute: HOST }]]);
    const refused = await evacuate(three, { kind: 'live-migration' });
    expect(refused.of('vm3')).toMatchObject({ outcome: 'failed', detail: 'live-migration refused: vm3 is pinned' });
  });
});

describe('what a look asks Nova for', () => {
  it("servers changed since Nova's own time of the earliest accepted call, less a minute for Nova's clocks", async () => {
    const nova = novaWith(['vm1', { metadata: { nova_ha_priority: '2' } }], 'vm2');
    const novaNow = Date.now() - 7 * MINUTE;
    const acceptedAt: Record<string, number> = { vm1: novaNow + 3000, vm2: novaNow };
    // Nova's reply carries its own time of the call (its Date header).
    const withDate: EvacuationRun['nova'] = {
      listServersOnHost: (host) => nova.listServersOnHost(host),
      listServersChangedSince: (since) => nova.listServersChangedSince(since),
      getServer: (id) => nova.getServer(id),
      evacuate: async (id, options): Promise<ActionResult> => ({ ...(await nova.evacuate(id, options)), acceptedAt: acceptedAt[id] }),
      liveMigrate: (id, options) => nova.liveMigrate(id, options),
      listMigrations: (filter) => nova.listMigrations(filter),
      listAggregates: () => nova.listAggregates(),
      getImage: (id) => nova.getImage(id),
    };
    nova.behaviour = 'stays-rebuilding';
    atLook(nova, 1, 'vm1', { host: 'cmp9', taskState: null });
    atLook(nova, 1, 'vm2', { host: 'cmp9', taskState: null });
    const run = await evacuate(withDate, { settings: { ...SETTINGS, concurrency: 2 } });
    expect(run.error).toBeUndefined();
    expect(nova.calls('listServersChangedSince')).toEqual([[novaNow - MINUTE]]);
  });

  it("without Nova's time of a call, ten minutes further back by this node's clock", async () => {
    const nova = novaWith('vm1');
    const run = await evacuate(nova);
    const calledAt = run.writes[0]![0]!.calledAt!;
    expect(nova.calls('listServersChangedSince')).toEqual([[calledAt - 10 * MINUTE - MINUTE]]);
  });

  it("a resumed run looks from the creation time of the earlier call's migration", async () => {
    const nova = novaWith('vm1');
    const created = Date.now() - 20_000;
    nova.migrations.push(migration({ instanceUuid: 'vm1', createdAt: new Date(created).toISOString().replace('Z', '') }));
    nova.servers.get('vm1')!.taskState = 'rebuilding';
    atLook(nova, 1, 'vm1', { host: 'cmp9', taskState: null });
    await evacuate(nova, { recorded: [calledBefore('vm1')] });
    expect(nova.calls('listServersChangedSince')).toEqual([[created - MINUTE]]);
  });

  it('a resumed run with no migration record of an instance under way looks from ten minutes before its recorded call', async () => {
    const nova = novaWith(['vm1', { taskState: 'rebuilding' }]);
    const calledAt = Date.now() - 5000;
    atLook(nova, 1, 'vm1', { host: 'cmp9', taskState: null });
    await evacuate(nova, { recorded: [calledBefore('vm1', calledAt)] });
    expect(nova.calls('listServersChangedSince')).toEqual([[calledAt - 11 * MINUTE]]);
  });

  it('a look Nova fails is logged and made again later; meanwhile no instance is read by itself', async () => {
    const nova = novaWith('vm1');
    nova.failNext('listServersChangedSince', new NovaRefused(503, 'Service Unavailable'));
    const run = await evacuate(nova);
    expect(run.of('vm1')).toMatchObject({ outcome: 'evacuated' });
    expect(nova.calls('getServer')).toEqual([]);
    expect(run.report!.looks).toBe(2);
    expect(run.report!.calls).toEqual({ list: 3, get: 0, move: 1, migrations: 1 });
    expect(run.logs.filter((l) => l.event === 'move-look-failed')).toEqual([expect.objectContaining({ level: 'warning', step: 'evacuation', error: 'Service Unavailable', detail: 'looking again later' })]);
  });

  it('an instance a look misses is read by itself, and the log says how many and since when', async () => {
    const nova = novaWith('vm1', 'vm2');
    // vm2's rebuild is written by a Nova host whose clock is an hour behind.
    nova.before('evacuate', ([id]) => queueMicrotask(() => id === 'vm2' && void (nova.servers.get('vm2')!.updatedAt = Date.now() - 3_600_000)));
    const run = await evacuate(nova);
    expect(run.of('vm2')).toMatchObject({ outcome: 'evacuated', to: 'cmp9' });
    expect(nova.calls('getServer')).toEqual([['vm2']]);
    expect(run.report!.calls.get).toBe(1);
    const since = nova.calls('listServersChangedSince')[0]![0] as number;
    expect(run.logs.filter((l) => l.event === 'move-look-missed')).toEqual([expect.objectContaining({ level: 'warning', detail: `1 instances not in the list of servers changed since ${new Date(since).toISOString()}; reading them one by one (is a Nova host's clock behind?)` })]);
  });

  it('an instance neither a look nor its own read shows is last seen never', async () => {
    const nova = novaWith('vm1');
    nova.behaviour = 'stays-rebuilding';
    nova.before('listServersChangedSince', () => void (nova.servers.get('vm1')!.updatedAt = 0));
    nova.before('getServer', () => {
      throw new NovaRefused(500, 'cell down');
    });
    const run = await evacuate(nova, { settings: { ...SETTINGS, instanceTimeout: 30 } });
    expect(run.of('vm1')).toMatchObject({ outcome: 'failed', detail: 'not ACTIVE (or SHUTOFF) elsewhere within 0s (last seen never)' });
  });
});

describe('a move Nova gave up: idle on the host twice, and only failed migration records', () => {
  /** After the call, Nova rolls the move back: the server idle on the host, its migrations as given. */
  function rolledBack(migrations: Partial<Migration>[], fault?: string, end: Partial<FakeServer> = {}): FakeNova {
    const nova = novaWith('vm1');
    nova.behaviour = 'stays-rebuilding';
    nova.before('listServersChangedSince', () => {
      if (nova.calls('listServersChangedSince').length !== 1) return;
      Object.assign(nova.servers.get('vm1')!, { taskState: null, updatedAt: Date.now(), fault: fault ? { message: fault, code: 500 } : null, ...end });
      nova.migrations.length = 0;
      for (const m of migrations) nova.migrations.push(migration({ instanceUuid: 'vm1', ...m }));
    });
    return nova;
  }

  it("reported failed at the second look that sees it idle, with the migration and Nova's fault, after one read of the migrations", async () => {
    const nova = rolledBack([{ id: '12', uuid: 'mig-12', status: 'failed' }], 'Rebuild\n failed:  disk busy');
    const run = await evacuate(nova);
    expect(run.of('vm1')).toMatchObject({ outcome: 'failed', fault: 'Rebuild failed: disk busy', detail: 'Nova gave the evacuation up (migration mig-12 failed); it is still on cmp1: Rebuild failed: disk busy (see: openstack server event list vm1)' });
    expect(run.report!.looks).toBe(2);
    expect(nova.calls('listMigrations')).toEqual([[{ type: 'evacuation', sourceCompute: HOST }]]);
  });

  it('a migration in error with no UUID (older Nova) is named by its ID; no fault, none recorded', async () => {
    const nova = rolledBack([{ id: '13', uuid: null, status: 'error' }]);
    const run = await evacuate(nova);
    const outcome = run.of('vm1')!;
    expect(outcome).toMatchObject({ outcome: 'failed', detail: 'Nova gave the evacuation up (migration 13 error); it is still on cmp1 (see: openstack server event list vm1)' });
    expect('fault' in outcome).toBe(false);
  });

  it('not given up while any of its migrations is still live, nor with no migration record at all: it waits until its timeout', async () => {
    for (const migrations of [[{ id: '14', uuid: 'mig-14', status: 'failed' }, { id: '15', uuid: 'mig-15', status: 'pre-migrating' }], []]) {
      const nova = rolledBack(migrations);
      const run = await evacuate(nova, { settings: { ...SETTINGS, instanceTimeout: 40 } });
      expect(run.of('vm1'), JSON.stringify(migrations)).toMatchObject({ outcome: 'failed', detail: 'not ACTIVE (or SHUTOFF) elsewhere within 0s (last seen ACTIVE on cmp1, task none)' });
    }
  });

  it('a server idle elsewhere (PAUSED on another host) is no rolled-back move, whatever its migrations say: it waits until its timeout', async () => {
    const nova = rolledBack([{ id: '17', uuid: 'mig-17', status: 'failed' }], undefined, { host: 'cmp9', status: 'PAUSED' });
    const run = await evacuate(nova, { settings: { ...SETTINGS, instanceTimeout: 40 } });
    expect(run.of('vm1')).toMatchObject({ outcome: 'failed', detail: 'not ACTIVE (or SHUTOFF) elsewhere within 0s (last seen PAUSED on cmp9, task none)' });
    expect(nova.calls('listMigrations')).toEqual([]);
  });

  it('a server still in a task on the host is not idle: with a failed migration all the same, Nova is not done with it; it waits until its timeout', async () => {
    const nova = rolledBack([{ id: '18', uuid: 'mig-18', status: 'failed' }], undefined, { taskState: 'rebuilding' });
    const run = await evacuate(nova, { settings: { ...SETTINGS, instanceTimeout: 40 } });
    expect(run.of('vm1')).toMatchObject({ outcome: 'failed', detail: 'not ACTIVE (or SHUTOFF) elsewhere within 0s (last seen ACTIVE on cmp1, task rebuilding)' });
    expect(nova.calls('listMigrations')).toEqual([]);
  });

  it("Nova failing to list the migrations of a suspect is no verdict: the next look asks again", async () => {
    const nova = rolledBack([{ id: '19', uuid: 'mig-19', status: 'failed' }]);
    nova.failNext('listMigrations', new NovaRefused(503, 'Service Unavailable'));
    const run = await evacuate(nova);
    expect(run.error).toBeUndefined();
    expect(run.of('vm1')).toMatchObject({ outcome: 'failed', detail: expect.stringMatching(/^Nova gave the evacuation up \(migration mig-19 failed\)/) });
    expect(run.report!.looks).toBe(3);
    expect(nova.calls('listMigrations')).toHaveLength(2);
  });

  it("another instance's failed migration is not this one's", async () => {
    const nova = rolledBack([{ id: '16', uuid: 'mig-16', status: 'failed', instanceUuid: 'vm7' }]);
    const run = await evacuate(nova, { settings: { ...SETTINGS, instanceTimeout: 40 } });
    expect(run.of('vm1')!.detail).toMatch(/^not ACTIVE/);
  });
});

describe('a resumed run: which of Nova\'s migration records say the earlier call reached Nova', () => {
  const resumed = async (createdAt: string | null, over: Partial<Migration> = {}, since = Date.now() - MINUTE): Promise<FakeNova> => {
    const nova = novaWith('vm1');
    nova.migrations.push(migration({ instanceUuid: 'vm1', status: 'accepted', createdAt, ...over }));
    // If not called again, Nova finishes the earlier call at the first look.
    atLook(nova, 1, 'vm1', { host: 'cmp9', taskState: null });
    const run = await evacuate(nova, { recorded: [calledBefore('vm1')], since, settings: { ...SETTINGS, instanceTimeout: 200 } });
    expect(run.of('vm1')!.outcome).toBe('evacuated');
    return nova;
  };
  const iso = (at: number): string => new Date(at).toISOString();
  const withOffset = (at: number, hours: number): string => new Date(at + hours * 3_600_000).toISOString().replace('Z', `${hours < 0 ? '-' : '+'}${String(Math.abs(hours)).padStart(2, '0')}:00`);

  it.each([
    { name: 'Nova time with no zone (UTC)', createdAt: () => iso(Date.now()).replace('Z', '') },
    { name: 'with Z', createdAt: () => iso(Date.now()) },
    { name: 'with an offset', createdAt: () => withOffset(Date.now(), 2) },
    { name: 'with a negative offset without a colon', createdAt: () => withOffset(Date.now(), -5).replace(/:00$/, '00') },
    { name: "up to a minute before the incident opened (Nova's clock behind)", createdAt: () => iso(Date.now() - 50_000), since: () => Date.now() },
    { name: 'with no creation time', createdAt: () => null },
    { name: 'with a creation time that cannot be read', createdAt: () => 'yesterday' },
  ])('a live migration created $name is this incident\'s: not called again', async ({ createdAt, since }) => {
    const nova = await resumed(createdAt(), {}, since?.());
    expect(nova.calls('evacuate')).toEqual([]);
  });

  it.each([
    { name: 'long before the incident, with no zone', createdAt: '2020-01-01T00:00:00.123456' },
    { name: 'long before the incident, with Z', createdAt: '2020-01-01T00:00:00Z' },
    { name: 'long before the incident, with an offset', createdAt: '2020-01-01T00:00:00+00:00' },
    { name: 'long before the incident, with an offset without a colon', createdAt: '2020-01-01T00:00:00-0500' },
    { name: 'over a minute before the incident opened', createdAt: iso(Date.now() - 2 * MINUTE), since: Date.now() },
  ])('a migration created $name is not this incident\'s: called again, once', async ({ createdAt, since }) => {
    const nova = await resumed(createdAt, {}, since);
    expect(nova.callCounts()).toEqual(new Map([['vm1', 1]]));
  });

  it.each([
    { name: 'a migration in error', over: { status: 'error' } },
    { name: "another instance's migration", over: { instanceUuid: 'vm2' } },
  ])('$name does not stop a call that never reached Nova: called again, once', async ({ over }) => {
    const nova = await resumed(iso(Date.now()), over);
    expect(nova.callCounts()).toEqual(new Map([['vm1', 1]]));
  });

  it('what an earlier run called for is checked against the host\'s migrations of this kind, read once', async () => {
    const nova = await resumed(iso(Date.now()));
    expect(nova.calls('listMigrations')[0]).toEqual([{ type: 'evacuation', sourceCompute: HOST }]);
  });

  it('the log says which earlier call is confirmed rather than repeated, and why', async () => {
    const nova = novaWith('vm1', ['vm2', { taskState: 'rebuilding' }]);
    const calledAt = Date.parse('2026-01-02T03:04:05.000Z');
    nova.migrations.push(migration({ instanceUuid: 'vm1', id: '21', uuid: null, status: 'pre-migrating' }));
    atLook(nova, 1, 'vm1', { host: 'cmp9', taskState: null });
    atLook(nova, 1, 'vm2', { host: 'cmp9', taskState: null });
    const run = await evacuate(nova, { recorded: [calledBefore('vm1', calledAt), calledBefore('vm2', calledAt)] });
    expect(nova.calls('evacuate')).toEqual([]);
    expect(run.logs.filter((l) => l.event === 'move-resumed').map((l) => [l['instance'], l['step'], l['detail']])).toEqual([
      ['vm1', 'evacuation', 'called at 2026-01-02T03:04:05.000Z by an earlier run; Nova has migration 21 (pre-migrating): confirming, not calling again'],
      ['vm2', 'evacuation', 'called at 2026-01-02T03:04:05.000Z by an earlier run; Nova has it under way: confirming, not calling again'],
    ]);
    expect(run.of('vm1')!.calledAt).toBe(calledAt);
  });
});

describe('what is written, and when', () => {
  it('a skipped instance is recorded with the host it stays on and why, without a call time', async () => {
    const nova = novaWith(['out', { metadata: { nova_ha_evacuate: 'no' } }]);
    const run = await evacuate(nova);
    expect(run.writes).toEqual([[{ id: 'out', name: 'out', outcome: 'skipped', from: HOST, detail: 'opted out (metadata nova_ha_evacuate=no)' }]]);
    expect(nova.calls('evacuate')).toEqual([]);
  });

  it('a run with nothing to call or confirm writes nothing and needs no lock to say so', async () => {
    const nova = novaWith();
    nova.server('vm1', nova.target);
    const recorded: InstanceOutcome[] = [{ id: 'vm1', name: 'vm1', outcome: 'evacuated', from: HOST, to: 'cmp9', calledAt: 1 }];
    const progress: [number, number][] = [];
    const run = await evacuate(nova, { recorded, stillOwner: () => false, progress: (done, total) => void progress.push([done, total]) });
    expect(run.error).toBeUndefined();
    expect(run.writes).toEqual([]);
    expect(run.report!.outcomes).toEqual(recorded);
    expect(progress).toEqual([[1, 1]]);
    expect(run.report).not.toHaveProperty('callSpreadMs');
  });

  it('no write is ever empty: the call batch, each settlement and the annotation carry instances', async () => {
    const nova = novaWith('vm1', 'vm2', ['out', { metadata: { nova_ha_evacuate: 'off' } }]);
    nova.behaviour = 'stays-rebuilding';
    atLook(nova, 2, 'vm1', { host: 'cmp9', taskState: null });
    atLook(nova, 3, 'vm2', { host: 'cmp9', taskState: null });
    const run = await evacuate(nova);
    expect(run.writes.map((w) => w.map((o) => `${o.id}:${o.outcome}`))).toEqual([['out:skipped', 'vm1:evacuating', 'vm2:evacuating'], ['vm1:evacuated'], ['vm2:evacuated'], ['vm1:evacuated', 'vm2:evacuated']]);
  });

  it('a resumed run whose every instance is under way writes nothing before its first look', async () => {
    const nova = novaWith(['vm1', { taskState: 'rebuilding' }]);
    atLook(nova, 1, 'vm1', { host: 'cmp9', taskState: null });
    const run = await evacuate(nova, { recorded: [calledBefore('vm1')] });
    expect(run.writes.map((w) => w.map((o) => `${o.id}:${o.outcome}`))).toEqual([['vm1:evacuated']]);
  });
});

describe('a refused call, tried again', () => {
  it('is tried again after reading the server: the log says which attempt failed and why; the report counts the read', async () => {
    const nova = novaWith('vm1');
    nova.failNext('evacuate', new NovaRefused(409, 'Compute service of cmp1 is still in use.'));
    const run = await evacuate(nova, { settings: { ...SETTINGS, retries: 2 } });
    expect(run.of('vm1')).toMatchObject({ outcome: 'evacuated' });
    expect(nova.calls('evacuate')).toHaveLength(2);
    expect(run.report!.calls).toMatchObject({ get: 1, move: 2 });
    expect(run.logs.filter((l) => l.event === 'move-retry').map((l) => [l.level, l['instance'], l['attempt'], l['error']])).toEqual([['warning', 'vm1', 1, 'Compute service of cmp1 is still in use.']]);
    expect(run.logs.filter((l) => l.event === 'move-called').map((l) => [l['instance'], l['request'], l['confirmed_by']])).toEqual([['vm1', 'req-1', 'response']]);
  });

  it('a server the read shows busy after a refused call is confirmed, not called again (the call went through after all)', async () => {
    const nova = novaWith('vm1');
    nova.before('evacuate', () => Object.assign(nova.servers.get('vm1')!, { taskState: 'rebuilding', updatedAt: Date.now() }));
    nova.failNext('evacuate', new NovaRefused(504, 'Gateway Timeout'));
    atLook(nova, 1, 'vm1', { host: 'cmp9', taskState: null });
    const run = await evacuate(nova, { settings: { ...SETTINGS, retries: 1 } });
    expect(nova.calls('evacuate')).toHaveLength(1);
    expect(run.of('vm1')).toMatchObject({ outcome: 'evacuated', to: 'cmp9' });
    const calledAt = run.writes[0]![0]!.calledAt!;
    expect(nova.calls('listServersChangedSince')[0]).toEqual([calledAt - 11 * MINUTE]);
  });

  it('a server read with no host after a refused call (its cell unreachable) is not taken for evacuated: it is called again', async () => {
    const nova = novaWith('vm1');
    nova.failNext('evacuate', new NovaRefused(503, 'Service Unavailable'));
    // Nova lists it with only its ID while its cell is unreachable, and fully again once it is back.
    nova.before('getServer', () => void (nova.servers.get('vm1')!.partial = true));
    nova.before('evacuate', () => void (nova.servers.get('vm1')!.partial = false));
    const run = await evacuate(nova, { settings: { ...SETTINGS, retries: 1 } });
    expect(nova.calls('evacuate')).toHaveLength(2);
    expect(run.of('vm1')).toMatchObject({ outcome: 'evacuated', to: 'cmp9', detail: 'ACTIVE on cmp9, migration mig-1 done' });
  });

  it('a server that cannot be read after a refused call is called again', async () => {
    const nova = novaWith('vm1');
    nova.failNext('evacuate', new NovaRefused(503, 'Service Unavailable'));
    nova.failNext('getServer', new NovaRefused(503, 'Service Unavailable'));
    const run = await evacuate(nova, { settings: { ...SETTINGS, retries: 1 } });
    expect(nova.calls('evacuate')).toHaveLength(2);
    expect(run.of('vm1')).toMatchObject({ outcome: 'evacuated' });
  });
});

describe('the end of a run: each move\'s own record, and the report', () => {
  it("annotates each instance with the migration to the host it landed on, by UUID or else by ID, in one read and one write", async () => {
    const nova = novaWith('vm1', 'vm2');
    nova.before('listMigrations', () => {
      nova.migrations.length = 0;
      nova.migrations.push(
        migration({ instanceUuid: 'vm1', id: '1', uuid: 'mig-old', status: 'failed', destCompute: 'cmp5' }),
        migration({ instanceUuid: 'vm1', id: '2', uuid: 'mig-new', status: 'done', destCompute: 'cmp9' }),
        migration({ instanceUuid: 'vm2', id: '3', uuid: null, status: 'completed', destCompute: 'cmp9' }),
      );
    });
    const run = await evacuate(nova, { settings: { ...SETTINGS, concurrency: 2 } });
    expect(run.of('vm1')!.detail).toBe('ACTIVE on cmp9, migration mig-new done');
    expect(run.of('vm2')!.detail).toBe('ACTIVE on cmp9, migration 3 completed');
    expect(nova.calls('listMigrations')).toEqual([[{ type: 'evacuation', sourceCompute: HOST }]]);
    expect(run.writes.at(-1)!.map((o) => o.detail)).toEqual(['ACTIVE on cmp9, migration mig-new done', 'ACTIVE on cmp9, migration 3 completed']);
  });

  it('no migration to be found, or Nova failing to list them, costs only the annotation', async () => {
    const none = novaWith('vm1');
    none.before('listMigrations', () => void (none.migrations.length = 0));
    const unannotated = await evacuate(none);
    expect(unannotated.of('vm1')).toMatchObject({ outcome: 'evacuated', detail: 'ACTIVE on cmp9' });
    expect(unannotated.writes.map((w) => w.map((o) => o.outcome))).toEqual([['evacuating'], ['evacuated']]);
    const failing = novaWith('vm1');
    failing.failNext('listMigrations', new NovaRefused(500, 'boom'));
    const run = await evacuate(failing);
    expect(run.error).toBeUndefined();
    expect(run.of('vm1')).toMatchObject({ outcome: 'evacuated', detail: 'ACTIVE on cmp9' });
  });

  it('a run that lost the host lock after its last look does not read the migrations for the annotation', async () => {
    const nova = novaWith('vm1');
    let owner = true;
    nova.before('listServersChangedSince', () => void (owner = false));
    const run = await evacuate(nova, { stillOwner: () => owner });
    expect(run.of('vm1')).toMatchObject({ outcome: 'evacuated', detail: 'ACTIVE on cmp9' });
    expect(nova.calls('listMigrations')).toEqual([]);
  });

  it('the report: calls by kind, looks, and the spread of the accepted calls (none without a call, 0 for one, more for two one after the other)', async () => {
    const one = novaWith('vm1');
    const single = await evacuate(one);
    expect(single.report).toMatchObject({ calls: { list: 2, get: 0, move: 1, migrations: 1 }, looks: 1, callSpreadMs: 0 });
    expect(single.logs.map((l) => l.event).filter((e) => e.startsWith('move-look'))).toEqual([]);
    expect(single.logs.filter((l) => l.event === 'move-report')).toEqual([expect.objectContaining({ level: 'info', step: 'evacuation', detail: '1 calls over 0.0 s, 1 looks', calls: { list: 2, get: 0, move: 1, migrations: 1 } })]);

    const skippedOnly = await evacuate(novaWith(['out', { metadata: { nova_ha_evacuate: 'no' } }]));
    expect(skippedOnly.report).not.toHaveProperty('callSpreadMs');
    expect(skippedOnly.logs.find((l) => l.event === 'move-report')!['detail']).toBe('0 calls over -, 0 looks');

    const sim = new NovaSim(HOST, 2);
    sim.postMs = 20;
    const two = await evacuate(sim, { settings: { ...SETTINGS, concurrency: 1 } });
    expect(two.report!.callSpreadMs).toBeGreaterThan(0);
    expect(two.logs.find((l) => l.event === 'move-report')!['detail']).toMatch(/^2 calls over 0\.\d s, \d+ looks$/);
  });
});

describe('settings and schedule', () => {
  it('evacuationSettings: [evacuation] options as the engine reads them', () => {
    const config = { evacuation: { concurrency: 7, mode: 'opt-in' as const, select_key: 'ha', priority_key: 'rank', retries: 3, instance_timeout: 900_000 } };
    expect(evacuationSettings(config)).toEqual({ concurrency: 7, mode: 'opt-in', selectKey: 'ha', priorityKey: 'rank', retries: 3, instanceTimeout: 900_000 });
  });

  it('the default looks: the first 2 s after the first call, then every 1 s growing by a quarter up to 2 s', () => {
    expect(DEFAULT_LOOKS).toEqual({ firstMs: 2000, nextMs: 1000, growth: 1.25, maxMs: 2000 });
  });
});

describe('when, by the clock (fake timers: no real waiting)', () => {
  const T0 = Date.parse('2026-06-01T00:00:00.000Z');
  afterEach(() => {
    vi.useRealTimers();
  });
  /** Runs the engine on a fake clock until it ends (at most `ms` of fake time). */
  async function onFakeClock(nova: FakeNova, over: Partial<EvacuationRun>, ms = 120_000): Promise<Outcome> {
    vi.useFakeTimers({ now: T0 });
    const done = evacuate(nova, over);
    await vi.advanceTimersByTimeAsync(ms);
    return done;
  }

  it('the looks start late and back off: the first firstMs after the call, then nextMs growing by growth up to maxMs', async () => {
    const nova = novaWith('vm1');
    nova.behaviour = 'stays-rebuilding';
    const looks: number[] = [];
    nova.before('listServersChangedSince', () => {
      looks.push(Date.now() - T0);
      if (Date.now() - T0 >= 12_000) Object.assign(nova.servers.get('vm1')!, { host: 'cmp9', taskState: null, updatedAt: Date.now() });
    });
    const run = await onFakeClock(nova, { looks: { firstMs: 1000, nextMs: 1000, growth: 2, maxMs: 4000 }, settings: { ...SETTINGS, instanceTimeout: 60_000 } });
    expect(looks).toEqual([1000, 2000, 4000, 8000, 12_000]);
    expect(run.of('vm1')).toMatchObject({ outcome: 'evacuated', to: 'cmp9' });
    expect(run.report!.looks).toBe(5);
  });

  it('an instance not settled when [evacuation] instance_timeout has passed since its call is failed at that look, not later', async () => {
    const nova = novaWith('vm1');
    nova.behaviour = 'stays-rebuilding';
    const looks: number[] = [];
    nova.before('listServersChangedSince', () => void looks.push(Date.now() - T0));
    const run = await onFakeClock(nova, { looks: { firstMs: 1000, nextMs: 1000, growth: 1, maxMs: 1000 }, settings: { ...SETTINGS, instanceTimeout: 5000 } });
    expect(looks).toEqual([1000, 2000, 3000, 4000, 5000]);
    expect(run.of('vm1')).toMatchObject({ outcome: 'failed', detail: 'not ACTIVE (or SHUTOFF) elsewhere within 5s (last seen ACTIVE on cmp1, task rebuilding)' });
  });

  it('an instance timed out is settled by its timeout: its migrations are not read for it again at that look', async () => {
    const nova = novaWith('vm1');
    nova.behaviour = 'stays-rebuilding';
    nova.before('listServersChangedSince', () => {
      const look = nova.calls('listServersChangedSince').length;
      // Idle on the host from the first look; its move still accepted until the look of its timeout.
      Object.assign(nova.servers.get('vm1')!, { taskState: null, updatedAt: Date.now() });
      if (look === 3) Object.assign(nova.migrations[0]!, { status: 'failed' });
    });
    const run = await onFakeClock(nova, { looks: { firstMs: 1000, nextMs: 1000, growth: 1, maxMs: 1000 }, settings: { ...SETTINGS, instanceTimeout: 3000 } });
    expect(run.report!.looks).toBe(3);
    expect(nova.calls('listMigrations')).toHaveLength(1);
    expect(run.of('vm1')).toMatchObject({ outcome: 'failed', detail: 'not ACTIVE (or SHUTOFF) elsewhere within 3s (last seen ACTIVE on cmp1, task none)' });
  });

  it('a resumed run looks at once at what an earlier run called for long ago, even with a new call just made', async () => {
    const nova = novaWith(['vm1', { taskState: 'rebuilding' }], 'vm2');
    nova.behaviour = 'stays-rebuilding';
    const looks: number[] = [];
    nova.before('listServersChangedSince', () => {
      looks.push(Date.now() - T0);
      for (const id of ['vm1', 'vm2']) Object.assign(nova.servers.get(id)!, { host: 'cmp9', taskState: null, updatedAt: Date.now() });
    });
    const run = await onFakeClock(nova, { recorded: [calledBefore('vm1', T0 - 30_000)], looks: { firstMs: 2000, nextMs: 1000, growth: 1, maxMs: 1000 } });
    expect(nova.callCounts()).toEqual(new Map([['vm2', 1]]));
    expect(looks).toEqual([0]);
    expect(run.of('vm1')!.outcome).toBe('evacuated');
  });

  it('a refused call is tried again after 1 s, then 2, 4, 8, 16 s, and never more than 30 s later', async () => {
    const nova = novaWith('vm1');
    const calls: number[] = [];
    nova.before('evacuate', () => void calls.push(Date.now() - T0));
    for (let n = 0; n < 6; n++) nova.failNext('evacuate', new NovaRefused(409, 'Compute service of cmp1 is still in use.'));
    const run = await onFakeClock(nova, { settings: { ...SETTINGS, retries: 6 } });
    expect(calls).toEqual([0, 1000, 3000, 7000, 15_000, 31_000, 61_000]);
    expect(run.of('vm1')).toMatchObject({ outcome: 'evacuated' });
    expect(nova.calls('getServer')).toHaveLength(6);
  });
});
