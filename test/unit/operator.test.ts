/**
 * What an operator runs by hand, over a simulated cloud: fence and evacuate under the host's lock
 * (operator/as-operator.ts), never evacuating a host nobody says is fenced; and unfence
 * (operator/unfence.ts): only a fenced host, powered on if needed, healthy everywhere, Nova
 * cleaned up, then forced_down cleared and, once Nova reports the service up, only nova-ha's own
 * disable undone.
 */
import { describe, expect, it } from 'vitest';
import { asOperator, OperatorError, operatorEvacuate } from '../../lib/operator/as-operator.js';
import { unfence, UnfenceError, type UnfenceOptions } from '../../lib/operator/unfence.js';
import { DUMP_DEFERRED, fenceAndEvacuate } from '../../lib/recovery/fence.js';
import { openIncident, withStep, type Incident } from '../../lib/state/incident.js';
import { KEYS, type NovaServiceState } from '../../lib/state/records.js';
import { FakeCloud, cloudsDisposedAfterEach } from '../support/fake-cloud.js';
import { expectInOrder } from '../support/journal.js';

const HOST = 'cmp1';
const cloudOf = cloudsDisposedAfterEach();
const steps = (i: Incident | undefined): string[] => (i?.timeline ?? []).map((e) => `${e.step}:${e.outcome}`);
async function lockedByAnother(c: FakeCloud): Promise<string> {
  const session = await c.consul.mgmt.sessionCreate({ name: 'worker', ttl: '10s', lockDelay: '0s', nodeChecks: [], behavior: 'release' });
  await c.consul.mgmt.kvPut(c.key(KEYS.lock(HOST)), '{}', { acquire: session });
  return session;
}

describe('asOperator', () => {
  it('runs the work holding the host lock, in an incident opened as the operator\'s', async () => {
    const c = cloudOf();
    const result = await asOperator(c.runtime, HOST, 'fence', async (run, incident) => {
      expect(incident).toBeUndefined();
      expect(run.stillOwner()).toBe(true);
      expect(c.consul.mgmt.peekEntry(c.key(KEYS.lock(HOST)))?.Session).toBeTruthy();
      expect(JSON.parse(c.consul.mgmt.peekEntry(c.key(KEYS.lock(HOST)))!.Value!)).toMatchObject({ node: 'ctl1', host: HOST, purpose: 'fence' });
      return run.change((i) => i);
    });
    expect(result).toMatchObject({ cause: 'operator', reason: 'fence requested by an operator' });
    expect(result.timeline.map((e) => [e.step, e.by])).toEqual([['detected', 'ctl1 (operator)'], ['fence', 'ctl1 (operator)']]);
    expect(c.consul.mgmt.peekEntry(c.key(KEYS.lock(HOST)))?.Session).toBeUndefined();
  });

  it('refuses while a worker holds the host, touching nothing', async () => {
    const c = cloudOf();
    await lockedByAnother(c);
    let ran = false;
    await expect(asOperator(c.runtime, HOST, 'fence', async () => (ran = true))).rejects.toThrow(new OperatorError('a nova-ha worker is working on cmp1 right now; wait for it (see: nova-ha status) and try again'));
    expect(ran).toBe(false);
    expect(c.incident(HOST)).toBeUndefined();
  });

  it('releases the lock when the work fails', async () => {
    const c = cloudOf();
    await expect(asOperator(c.runtime, HOST, 'fence', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(c.consul.mgmt.peekEntry(c.key(KEYS.lock(HOST)))?.Session).toBeUndefined();
  });

  it('hands the work the open incident, and changes that one', async () => {
    const c = cloudOf();
    const open = openIncident(HOST, 'node-unreachable', 'hung', Date.now(), 'ctl2');
    c.consul.mgmt.seed(c.key(KEYS.incident(HOST)), open);
    const seen = await asOperator(c.runtime, HOST, 'evacuate', async (run, incident) => {
      await run.change((i) => ({ ...i, alerted: true }));
      return incident;
    });
    expect(seen).toEqual(open);
    expect(c.incident(HOST)).toMatchObject({ id: open.id, cause: 'node-unreachable', alerted: true });
  });
});

describe('operatorEvacuate', () => {
  it('refuses a host nova-ha did not fence unless the operator confirms it is fenced: nothing asked of Nova', async () => {
    const c = cloudOf();
    c.nova.server('vm1', HOST);
    await expect(operatorEvacuate(c.runtime, { runtime: c.runtime, nova: c.nova }, HOST, false)).rejects.toThrow(/^cmp1 is not fenced by nova-ha \(no verified power-off in any open incident\); fence it first \(nova-ha fence cmp1\), or, if you powered it off or isolated it yourself, say so with --confirm-fenced$/);
    const started = withStep(openIncident(HOST, 'node-unreachable', 'hung', Date.now(), 'ctl2'), { at: Date.now(), step: 'power-off', outcome: 'started', by: 'ctl2' });
    c.consul.mgmt.seed(c.key(KEYS.incident(HOST)), started);
    await expect(operatorEvacuate(c.runtime, { runtime: c.runtime, nova: c.nova }, HOST, false)).rejects.toThrow(`no verified power-off in incident ${started.id}`);
    expect(c.journal.of('nova')).toEqual([]);
    expect(c.journal.of('bmc')).toEqual([]);
  });

  it('confirmed by the operator: forced down, evacuated, disabled; the power left alone', async () => {
    const c = cloudOf();
    c.nova.server('vm1', HOST);
    const incident = await operatorEvacuate(c.runtime, { runtime: c.runtime, nova: c.nova }, HOST, true);
    expect(incident.phase).toBe('fenced');
    expect(incident.timeline.find((e) => e.step === 'power-off' && e.outcome === 'done')?.detail).toBe('fenced by the operator (--confirm-fenced); nova-ha did not touch the power');
    expect(c.journal.of('bmc')).toEqual([]);
    expect(c.nova.callCounts()).toEqual(new Map([['vm1', 1]]));
  });

  it('on a host nova-ha fenced: evacuates again what is still there (no --confirm-fenced needed), nothing twice', async () => {
    const c = cloudOf();
    c.nova.server('vm1', HOST);
    c.nova.server('vm2', HOST);
    c.nova.failNext('evacuate');
    await asOperator(c.runtime, HOST, 'fence', (run) => fenceAndEvacuate({ runtime: c.runtime, nova: c.nova, powerOff: (h) => c.bmc.powerOffVerified(h) }, run));
    expect(c.nova.servers.get('vm1')!.host).toBe(HOST);
    const again = await operatorEvacuate(c.runtime, { runtime: c.runtime, nova: c.nova }, HOST, false);
    expect(again.phase).toBe('fenced');
    expect(c.nova.callCounts()).toEqual(new Map([['vm1', 2], ['vm2', 1]]));
    expect(c.bmc.calls('powerOffVerified')).toHaveLength(1);
  });

  it('on a host nova-ha fenced that is on again: powered off again through nova-ha\'s own power, never on the operator\'s word', async () => {
    const c = cloudOf();
    c.nova.server('vm1', HOST);
    c.nova.failNext('evacuate');
    const power = { readPower: (h: string) => c.bmc.readPower(h), powerOff: (h: string) => c.bmc.powerOffVerified(h) };
    await asOperator(c.runtime, HOST, 'fence', (run) => fenceAndEvacuate({ runtime: c.runtime, nova: c.nova, ...power }, run));
    c.bmc.power.set(HOST, 'on');
    c.bmc.powerOff.set(HOST, 'stays-on');
    const again = await operatorEvacuate(c.runtime, { runtime: c.runtime, nova: c.nova, ...power }, HOST, true);
    expect(again.phase).toBe('held');
    expect(again.timeline.filter((e) => e.step === 'power-off-again').map((e) => e.outcome)).toEqual(['started', 'failed']);
    expect(c.bmc.calls('powerOffVerified')).toHaveLength(2);
    expect(c.nova.callCounts()).toEqual(new Map([['vm1', 1]]));
  });

  it('a crash dump\'s deferred power-off is never taken on the operator\'s word, nor done without a way to power off', async () => {
    const c = cloudOf();
    c.nova.server('vm1', HOST);
    const deferred = withStep({ ...openIncident(HOST, 'node-unreachable', 'hung', Date.now(), 'ctl2'), phase: 'evacuating', fenceStarted: true }, { at: Date.now(), step: 'power-off', outcome: 'done', detail: `${DUMP_DEFERRED} (2 fence_kdump messages)`, by: 'ctl2' });
    c.consul.mgmt.seed(c.key(KEYS.incident(HOST)), deferred);
    const incident = await operatorEvacuate(c.runtime, { runtime: c.runtime, nova: c.nova }, HOST, false);
    expect(incident.phase).toBe('held');
    expect(incident.timeline.find((e) => e.step === 'power-off-after-dump' && e.outcome === 'failed')?.detail).toBe(`nova-ha cannot power ${HOST} off now ([fencing] method is none, or ipmi with no BMC configured): power it off yourself, then run nova-ha evacuate ${HOST} --confirm-fenced`);
  });
});

describe('unfence', () => {
  const say: string[] = [];
  const options = (timeoutMs = 5000): UnfenceOptions => ({ timeoutMs, say: (line) => say.push(line), progress: () => undefined });

  /** A host nova-ha fenced: off, forced down, disabled by nova-ha, its instance evacuated (Nova done cleaning up). */
  async function fenced(c: FakeCloud): Promise<Incident> {
    c.nova.server('vm1', HOST);
    const incident = await asOperator(c.runtime, HOST, 'fence', (run) => fenceAndEvacuate({ runtime: c.runtime, nova: c.nova, powerOff: (h) => c.bmc.powerOffVerified(h) }, run));
    expect(incident.phase).toBe('fenced');
    for (const m of c.nova.migrations) Object.assign(m, { status: 'completed' });
    c.novaView(HOST, { id: `svc-${HOST}`, state: 'down', since: 0, status: 'disabled', forcedDown: true });
    // The host comes back once it is powered on.
    c.member(HOST, 'critical');
    c.bmc.journal.entries.length = 0;
    return incident;
  }
  const effects = (c: FakeCloud) => {
    const base = c.effects();
    return { ...base, powerOn: async (host: string) => {
      await base.powerOn!(host);
      c.member(host, 'passing');
    } };
  };

  it('powers it on, waits for it, clears forced_down, enables it, closes the incident, in that order', async () => {
    const c = cloudOf();
    const incident = await fenced(c);
    c.journal.entries.length = 0;
    const closed = await unfence(c.runtime, effects(c), c.nova, HOST, options());
    expect(closed).toMatchObject({ id: incident.id, phase: 'recovered', closedAt: expect.any(Number) });
    expectInOrder(c.journal.entries.map((e) => `${e.system}.${e.method}`), 'bmc.readPower', 'bmc.powerOn', 'nova.listMigrations', 'nova.forceDown', 'nova.enableService');
    expect(c.nova.calls('forceDown')).toEqual([[`svc-${HOST}`, false]]);
    const service = c.nova.services.get(HOST)!;
    expect([service.forcedDown, service.status]).toEqual([false, 'enabled']);
    expectInOrder(steps(closed), 'unfence power-on:done', 'unfence healthy:done', 'unfence nova:done', 'unfence enable:done', 'phase recovered:info');
    expect(c.incident(HOST)).toBeUndefined();
    expect((await c.store.history(HOST))[0]!.id).toBe(incident.id);
    // The Nova poller's document says up at once: an evaluation must not take it for still forced down.
    expect(c.consul.mgmt.peek<NovaServiceState>(c.key(KEYS.novaHost(HOST)))).toMatchObject({ state: 'up', forcedDown: false, status: 'enabled' });
    expect(c.notes.map((n) => [n.event, n.summary])).toEqual([['fenced', 'failed'], ['unfenced', 'back in service']]);
  });

  it('leaves a disable that is not nova-ha\'s own in place, and says so', async () => {
    const c = cloudOf();
    await fenced(c);
    c.nova.service(HOST, { ...c.nova.services.get(HOST)!, disabledReason: 'RMA ticket 4711' });
    const closed = await unfence(c.runtime, effects(c), c.nova, HOST, options());
    expect(c.nova.calls('enableService')).toEqual([]);
    expect(closed!.timeline.find((e) => e.step === 'unfence enable')?.detail).toMatch(/left disabled \(RMA ticket 4711: not disabled by nova-ha\)/);
    expect(c.notes.at(-1)).toMatchObject({ event: 'unfenced', summary: 'unfenced, still disabled' });
  });

  it('refuses an incident that is not fenced or held, and while a worker holds the host', async () => {
    const c = cloudOf();
    c.consul.mgmt.seed(c.key(KEYS.incident(HOST)), { ...openIncident(HOST, 'node-unreachable', 'x', Date.now(), 'ctl1'), phase: 'evacuating' });
    await expect(unfence(c.runtime, effects(c), c.nova, HOST, options())).rejects.toThrow(/^cmp1's incident cmp1-\d{8}T\d{6}Z is in phase evacuating, not fenced; let it finish first$/);
    await lockedByAnother(c);
    await expect(unfence(c.runtime, effects(c), c.nova, HOST, options())).rejects.toThrow(UnfenceError);
    expect(c.journal.of('nova')).toEqual([]);
    expect(c.journal.of('bmc')).toEqual([]);
  });

  it('a host that does not come back: nothing changed in Nova, the incident stays open', async () => {
    const c = cloudOf();
    const incident = await fenced(c);
    c.journal.entries.length = 0;
    await expect(unfence(c.runtime, c.effects(), c.nova, HOST, options(0))).rejects.toThrow(/^cmp1 is not healthy after 0s \(alive on: none; nova-compute unknown\); nothing was changed in Nova$/);
    expect(c.nova.calls('forceDown')).toEqual([]);
    expect(c.nova.calls('enableService')).toEqual([]);
    expect(c.incident(HOST)?.id).toBe(incident.id);
  });

  it('Nova not done cleaning up the evacuated instances: nothing changed in Nova', async () => {
    const c = cloudOf();
    await fenced(c);
    for (const m of c.nova.migrations) Object.assign(m, { status: 'done' });
    await expect(unfence(c.runtime, effects(c), c.nova, HOST, options(0))).rejects.toThrow(/^Nova has completed 0 of 1 evacuation migrations from cmp1/);
    expect(c.nova.calls('forceDown')).toEqual([]);
  });

  it('powered off with no BMC access to power it on: a clear refusal', async () => {
    const c = cloudOf();
    await fenced(c);
    const { powerOn: _powerOn, ...noPowerOn } = c.effects();
    await expect(unfence(c.runtime, noPowerOn, c.nova, HOST, options())).rejects.toThrow('cmp1 is powered off and no BMC access is configured to power it on');
  });
});
