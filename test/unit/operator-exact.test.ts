/**
 * What an operator runs by hand, to the word (operator/as-operator.ts, operator/unfence.ts): the
 * incident an operator's request opens, a lost lock stopping every write, the fence's own power
 * handed on to a re-run evacuation, and unfence's steps, progress, Nova calls and messages.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { asOperator, OperatorError, operatorEvacuate } from '../../lib/operator/as-operator.js';
import { unfence, UnfenceError, type UnfenceNova, type UnfenceOptions } from '../../lib/operator/unfence.js';
import type { Effects } from '../../lib/recovery/effects.js';
import { DUMP_DEFERRED, fenceAndEvacuate } from '../../lib/recovery/fence.js';
import { openIncident, withStep, type Incident } from '../../lib/state/incident.js';
import { KEYS, type NovaPoll, type NovaServiceState } from '../../lib/state/records.js';
import { FakeCloud, cloudsDisposedAfterEach } from '../support/fake-cloud.js';

const HOST = 'cmp1';
const cloudOf = cloudsDisposedAfterEach();
afterEach(() => vi.useRealTimers());

describe('asOperator, exactly', () => {
  it('the lock says who, which process and why; the incident it opens says an operator asked', async () => {
    const c = cloudOf();
    const before = Date.now();
    const incident = await asOperator(c.runtime, HOST, 'evacuate', async (run) => {
      expect(JSON.parse(c.consul.mgmt.peekEntry(c.key(KEYS.lock(HOST)))!.Value!)).toMatchObject({ node: 'ctl1', pid: process.pid, host: HOST, purpose: 'evacuate' });
      return run.change((i) => i);
    });
    expect(incident).toMatchObject({ host: HOST, cause: 'operator', phase: 'detected', reason: 'evacuate requested by an operator' });
    expect(incident.openedAt).toBeGreaterThanOrEqual(before);
    expect(incident.timeline).toEqual([
      { at: incident.openedAt, step: 'detected', outcome: 'info', detail: 'evacuate requested by an operator', by: 'ctl1 (operator)' },
      { at: expect.any(Number), step: 'evacuate', outcome: 'info', detail: 'requested by an operator', by: 'ctl1 (operator)' },
    ]);
  });

  it('once the lock is lost, no change is written and the work learns it is no longer the owner', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const c = cloudOf();
    const session = await asOperator(c.runtime, HOST, 'fence', async (run) => {
      await run.change((i) => i);
      const held = c.consul.mgmt.peekEntry(c.key(KEYS.lock(HOST)))!.Session!;
      c.consul.mgmt.invalidateSession(held);
      await vi.advanceTimersByTimeAsync(3400);
      expect(run.stillOwner()).toBe(false);
      const writes = c.incidentWrites(HOST).length;
      await expect(run.change((i) => ({ ...i, alerted: true }))).rejects.toThrow(new OperatorError('lost the lock of cmp1'));
      await expect(run.change((i) => i)).rejects.toThrow(OperatorError);
      expect(c.incidentWrites(HOST)).toHaveLength(writes);
      return held;
    });
    expect(c.incident(HOST)?.alerted).toBe(false);
    expect(c.consul.mgmt.sessionIds()).not.toContain(session);
  });

  it('a change that fails does not stop the ones after it, which apply in the order asked', async () => {
    const c = cloudOf();
    const incident = await asOperator(c.runtime, HOST, 'fence', async (run) => {
      const first = run.change(() => {
        throw new Error('bad change');
      });
      const second = run.change((i) => withStep(i, { at: 1, step: 'a', outcome: 'done', by: 'x' }));
      const third = run.change((i) => withStep(i, { at: 2, step: 'b', outcome: 'done', by: 'x' }));
      await expect(first).rejects.toThrow('bad change');
      await second;
      return third;
    });
    expect(incident.timeline.map((e) => e.step)).toEqual(['detected', 'fence', 'a', 'b']);
    expect(c.incidentWrites(HOST)).toHaveLength(2);
  });
});

describe('operatorEvacuate, exactly', () => {
  it('an evacuation the operator vouches for opens its incident as an evacuate request', async () => {
    const c = cloudOf();
    const incident = await operatorEvacuate(c.runtime, { runtime: c.runtime, nova: c.nova }, HOST, true);
    expect(incident.reason).toBe('evacuate requested by an operator');
    expect(incident.timeline[1]).toMatchObject({ step: 'evacuate', detail: 'requested by an operator' });
  });

  it('another step that finished is no fence: only a verified power-off counts', async () => {
    const c = cloudOf();
    const repaired = withStep(openIncident(HOST, 'storage-network', 'x', Date.now(), 'ctl2'), { at: Date.now(), step: 'restart-storage-network', outcome: 'done', by: 'ctl2' });
    c.consul.mgmt.seed(c.key(KEYS.incident(HOST)), repaired);
    await expect(operatorEvacuate(c.runtime, { runtime: c.runtime, nova: c.nova }, HOST, false)).rejects.toThrow(`no verified power-off in incident ${repaired.id}`);
  });

  it('a power-off that failed is no fence of nova-ha\'s: refused without --confirm-fenced', async () => {
    const c = cloudOf();
    const failed = withStep(openIncident(HOST, 'node-unreachable', 'hung', Date.now(), 'ctl2'), { at: Date.now(), step: 'power-off', outcome: 'failed', by: 'ctl2' });
    c.consul.mgmt.seed(c.key(KEYS.incident(HOST)), failed);
    await expect(operatorEvacuate(c.runtime, { runtime: c.runtime, nova: c.nova }, HOST, false)).rejects.toThrow(`no verified power-off in incident ${failed.id}`);
  });

  it('after a crash dump deferred nova-ha\'s power-off, the re-run waits on the dump and powers off after it through nova-ha\'s own levels', async () => {
    const c = cloudOf();
    c.nova.server('vm1', HOST);
    const deferred = withStep({ ...openIncident(HOST, 'node-unreachable', 'hung', Date.now(), 'ctl2'), phase: 'evacuating', fenceStarted: true }, { at: Date.now(), step: 'power-off', outcome: 'done', detail: `${DUMP_DEFERRED} (2 fence_kdump messages)`, by: 'ctl2' });
    c.consul.mgmt.seed(c.key(KEYS.incident(HOST)), deferred);
    const calls: string[] = [];
    const incident = await operatorEvacuate(c.runtime, {
      runtime: c.runtime,
      nova: c.nova,
      readPower: async () => (calls.push('readPower'), calls.includes('powerOffAfterDump') ? 'off' : 'on'),
      powerOff: async () => (calls.push('powerOff'), { verified: true, after: 0, detail: 'off' }),
      powerOffAfterDump: async () => (calls.push('powerOffAfterDump'), { verified: true, after: 0, detail: 'off after the dump' }),
      dumping: async () => (calls.push('dumping'), false),
    }, HOST, false);
    expect(calls).toContain('dumping');
    expect(calls).toContain('powerOffAfterDump');
    expect(calls).not.toContain('powerOff');
    expect(incident.timeline.find((e) => e.step === 'power-off-after-dump' && e.outcome === 'done')?.detail).toBe('off after the dump');
  });

  const deferredDump = (c: FakeCloud): Incident => {
    const deferred = withStep({ ...openIncident(HOST, 'node-unreachable', 'hung', Date.now(), 'ctl2'), phase: 'evacuating', fenceStarted: true }, { at: Date.now(), step: 'power-off', outcome: 'done', detail: `${DUMP_DEFERRED} (2 fence_kdump messages)`, by: 'ctl2' });
    c.consul.mgmt.seed(c.key(KEYS.incident(HOST)), deferred);
    return deferred;
  };
  const cannot = `nova-ha cannot power ${HOST} off now ([fencing] method is none, or ipmi with no BMC configured): power it off yourself, then run nova-ha evacuate ${HOST} --confirm-fenced`;

  it('nova-ha\'s own fence needs both its power read and its power-off: a power-off alone is not used', async () => {
    const c = cloudOf();
    deferredDump(c);
    const calls: string[] = [];
    const incident = await operatorEvacuate(c.runtime, { runtime: c.runtime, nova: c.nova, powerOff: async () => (calls.push('powerOff'), { verified: true, after: 0, detail: 'off' }) }, HOST, false);
    expect(calls).toEqual([]);
    expect(incident.phase).toBe('held');
    expect(incident.timeline.find((e) => e.step === 'power-off-after-dump' && e.outcome === 'failed')?.detail).toBe(cannot);
  });

  it('nova-ha\'s own fence needs both its power read and its power-off: a power read alone is not used', async () => {
    const c = cloudOf();
    deferredDump(c);
    const calls: string[] = [];
    const incident = await operatorEvacuate(c.runtime, { runtime: c.runtime, nova: c.nova, readPower: async () => (calls.push('readPower'), 'on') }, HOST, false);
    expect(calls).toEqual([]);
    expect(incident.timeline.find((e) => e.step === 'power-off-after-dump' && e.outcome === 'failed')?.detail).toBe(cannot);
  });

  it('on the operator\'s word, a host nova-ha never fenced: its own power functions are not used', async () => {
    const c = cloudOf();
    c.nova.server('vm1', HOST);
    const calls: string[] = [];
    const incident = await operatorEvacuate(c.runtime, { runtime: c.runtime, nova: c.nova, readPower: async () => (calls.push('readPower'), 'on'), powerOff: async () => (calls.push('powerOff'), { verified: true, after: 0, detail: 'off' }) }, HOST, true);
    expect(calls).toEqual([]);
    expect(incident.phase).toBe('fenced');
  });
});

describe('unfence, exactly', () => {
  const options = (said: string[], progress: [number, number, string][] = [], timeoutMs = 5000): UnfenceOptions => ({ timeoutMs, say: (line) => said.push(line), progress: (done, total, what) => progress.push([done, total, what]) });

  async function fenced(c: FakeCloud): Promise<Incident> {
    c.nova.server('vm1', HOST);
    const incident = await asOperator(c.runtime, HOST, 'fence', (run) => fenceAndEvacuate({ runtime: c.runtime, nova: c.nova, powerOff: (h) => c.bmc.powerOffVerified(h) }, run));
    for (const m of c.nova.migrations) Object.assign(m, { status: 'completed' });
    c.novaView(HOST, { id: `svc-${HOST}`, state: 'down', since: 0, status: 'disabled', forcedDown: true });
    c.notes.length = 0;
    c.journal.entries.length = 0;
    return incident;
  }
  /** Effects without BMC access: nothing reads or changes the power. */
  const noPower = (c: FakeCloud): Effects => {
    const { readPower: _r, powerOn: _p, ...rest } = c.effects();
    return rest;
  };
  /** The host is up again (someone powered it on). */
  const upAgain = (c: FakeCloud): void => {
    c.bmc.power.set(HOST, 'on');
  };

  it('each step recorded and said, the progress shown, Nova asked for the incident\'s migrations only, and the operators told', async () => {
    const c = cloudOf();
    const incident = await fenced(c);
    upAgain(c);
    c.nova.migrations.push({ ...c.nova.migrations[0]!, id: '99', uuid: 'mig-99', status: 'error' }, { ...c.nova.migrations[0]!, id: '98', uuid: 'mig-98', status: 'failed' });
    const said: string[] = [];
    const progress: [number, number, string][] = [];
    const closed = (await unfence(c.runtime, c.effects(), c.nova, HOST, options(said, progress)))!;
    expect(said).toEqual([
      'waiting for cmp1 to be healthy on mgmt, storage, tenant with nova-compute running',
      'cmp1 is alive on every network and nova-compute runs',
      'waiting for Nova to clean up the instances evacuated from cmp1',
      'nova-compute service svc-cmp1 of cmp1: forced_down cleared',
      "waiting for Nova's API to report cmp1's nova-compute up",
      'nova-compute service svc-cmp1 of cmp1: up in Nova, enabled',
    ]);
    expect(progress).toEqual([[4, 4, 'networks alive + nova-compute running'], [1, 1, 'evacuation migrations completed']]);
    expect(c.nova.calls('listMigrations')).toEqual([[{ type: 'evacuation', sourceCompute: HOST, changesSince: new Date(incident.openedAt - 60_000).toISOString() }]]);
    expect(c.bmc.calls('powerOn')).toEqual([]);
    const unfenceSteps = closed.timeline.filter((e) => e.step.startsWith('unfence') || e.step === 'phase recovered');
    expect(unfenceSteps.map(({ step, outcome, detail, by }) => ({ step, outcome, detail, by }))).toEqual([
      { step: 'unfence healthy', outcome: 'done', detail: 'cmp1 is alive on every network and nova-compute runs', by: 'ctl1 (operator)' },
      { step: 'unfence nova', outcome: 'done', detail: 'nova-compute service svc-cmp1 of cmp1: forced_down cleared', by: 'ctl1 (operator)' },
      { step: 'unfence enable', outcome: 'done', detail: 'nova-compute service svc-cmp1 of cmp1: up in Nova, enabled', by: 'ctl1 (operator)' },
      { step: 'phase recovered', outcome: 'info', detail: 'unfenced by an operator', by: 'ctl1 (operator)' },
    ]);
    expect(closed.closedAt).toEqual(expect.any(Number));
    expect(c.notes).toEqual([{ host: HOST, event: 'unfenced', summary: 'back in service', action: 'unfenced by an operator', reason: 'cmp1 is healthy on every network, Nova cleaned up its evacuated instances, and its nova-compute service is enabled again.', incidentId: incident.id, timeline: closed.timeline, instances: closed.instances }]);
    expect(closed.instances).toHaveLength(1);
    expect(c.consul.mgmt.peekEntry(c.key(KEYS.lock(HOST)))?.Session).toBeUndefined();
  });

  it('a host nova-ha powered off is powered on first, and that is recorded and said', async () => {
    const c = cloudOf();
    await fenced(c);
    const said: string[] = [];
    const closed = (await unfence(c.runtime, c.effects(), c.nova, HOST, options(said)))!;
    expect(c.bmc.calls('powerOn')).toHaveLength(1);
    expect(said[0]).toBe('cmp1: chassis power on sent');
    expect(closed.timeline.find((e) => e.step === 'unfence power-on')).toMatchObject({ outcome: 'done', detail: 'cmp1: chassis power on sent', by: 'ctl1 (operator)' });
  });

  it('its refusals are UnfenceErrors, and an operator\'s request refused is an OperatorError, by name', async () => {
    const c = cloudOf();
    c.consul.mgmt.seed(c.key(KEYS.incident(HOST)), { ...openIncident(HOST, 'node-unreachable', 'x', Date.now(), 'ctl1'), phase: 'evacuating' });
    await expect(unfence(c.runtime, c.effects(), c.nova, HOST, options([]))).rejects.toMatchObject({ name: 'UnfenceError' });
    await expect(operatorEvacuate(c.runtime, { runtime: c.runtime, nova: c.nova }, HOST, false)).rejects.toMatchObject({ name: 'OperatorError' });
  });

  it('unfence holds the host\'s lock as an unfence, and refuses while a worker holds it, saying so', async () => {
    const c = cloudOf();
    let holder: unknown;
    c.nova.before('getComputeService', () => (holder ??= JSON.parse(c.consul.mgmt.peekEntry(c.key(KEYS.lock(HOST)))!.Value!)));
    await unfence(c.runtime, noPower(c), c.nova, HOST, options([]));
    expect(holder).toMatchObject({ node: 'ctl1', pid: process.pid, host: HOST, purpose: 'unfence' });
    const session = await c.consul.mgmt.sessionCreate({ name: 'worker', ttl: '10s', lockDelay: '0s', nodeChecks: [], behavior: 'release' });
    await c.consul.mgmt.kvPut(c.key(KEYS.lock(HOST)), '{}', { acquire: session });
    await expect(unfence(c.runtime, noPower(c), c.nova, HOST, options([]))).rejects.toThrow(new UnfenceError('a nova-ha worker is working on cmp1 right now; wait for it to finish (see: nova-ha status) and run unfence again'));
  });

  it('a host that becomes healthy while unfence waits: read again a second later, then it goes on', async () => {
    const c = cloudOf();
    c.member(HOST, 'critical');
    const progress: [number, number, string][] = [];
    const opts: UnfenceOptions = { timeoutMs: 5000, say: () => undefined, progress: (done, total, what) => {
      progress.push([done, total, what]);
      c.member(HOST, 'passing');
    } };
    await unfence(c.runtime, noPower(c), c.nova, HOST, opts);
    expect(progress.slice(0, 2)).toEqual([[0, 4, 'networks alive + nova-compute running'], [4, 4, 'networks alive + nova-compute running']]);
  });

  it('alive everywhere but nova-compute not running: not healthy', async () => {
    const c = cloudOf();
    c.consul.mgmt.node(HOST, { novaCompute: 'critical' });
    const progress: [number, number, string][] = [];
    await expect(unfence(c.runtime, noPower(c), c.nova, HOST, options([], progress, 0))).rejects.toThrow(/^cmp1 is not healthy after 0s \(alive on: mgmt, storage, tenant; nova-compute down\); nothing was changed in Nova$/);
    expect(progress[0]).toEqual([3, 4, 'networks alive + nova-compute running']);
  });

  it('a held incident may be unfenced too', async () => {
    const c = cloudOf();
    c.consul.mgmt.seed(c.key(KEYS.incident(HOST)), { ...openIncident(HOST, 'node-unreachable', 'x', Date.now(), 'ctl1'), phase: 'held' });
    const closed = await unfence(c.runtime, c.effects(), c.nova, HOST, options([]));
    expect(closed?.phase).toBe('recovered');
    expect(c.notes.at(-1)).toMatchObject({ summary: 'back in service', reason: 'cmp1 is healthy on every network, Nova cleaned up its evacuated instances, and its nova-compute service is enabled again.' });
    expect(closed?.instances).toBeUndefined();
    expect(c.notes.at(-1)?.instances).toEqual([]);
  });

  it('a host with no incident: Nova cleared and the poller document updated, nothing recorded, nobody emailed', async () => {
    const c = cloudOf();
    c.nova.service(HOST, { forcedDown: true, state: 'down', status: 'disabled', disabledReason: 'nova-ha: fenced by incident x' });
    const said: string[] = [];
    expect(await unfence(c.runtime, c.effects(), c.nova, HOST, options(said))).toBeUndefined();
    expect(c.nova.calls('listMigrations')).toEqual([[{ type: 'evacuation', sourceCompute: HOST }]]);
    expect(c.nova.calls('forceDown')).toEqual([[`svc-${HOST}`, false]]);
    expect(c.nova.calls('enableService')).toEqual([[`svc-${HOST}`]]);
    expect(said).toContain('cmp1 is alive on every network and nova-compute runs');
    expect(c.incidentWrites(HOST)).toEqual([]);
    expect(c.journal.of('consul:mgmt', 'kvGet').filter((e) => e.key === c.key(KEYS.incident(HOST)))).toHaveLength(1);
    expect(c.incident(HOST)).toBeUndefined();
    expect(c.notes).toEqual([]);
    expect(c.consul.mgmt.peek<NovaServiceState>(c.key(KEYS.novaHost(HOST)))).toMatchObject({ state: 'up', forcedDown: false, status: 'enabled' });
  });

  it('a service neither forced down nor disabled: nothing changed in Nova, and it says enabled', async () => {
    const c = cloudOf();
    const said: string[] = [];
    await unfence(c.runtime, noPower(c), c.nova, HOST, options(said));
    expect(c.nova.calls('forceDown')).toEqual([]);
    expect(c.nova.calls('enableService')).toEqual([]);
    expect(said).toContain('nova-compute service svc-cmp1 of cmp1: up in Nova, enabled');
  });

  it('a service disabled with no reason given is left disabled, and the email says so', async () => {
    const c = cloudOf();
    await fenced(c);
    upAgain(c);
    c.nova.service(HOST, { ...c.nova.services.get(HOST)!, disabledReason: null });
    const closed = (await unfence(c.runtime, c.effects(), c.nova, HOST, options([])))!;
    expect(c.nova.calls('enableService')).toEqual([]);
    expect(closed.timeline.find((e) => e.step === 'unfence enable')?.detail).toBe('nova-compute service svc-cmp1 of cmp1: up in Nova, left disabled (no reason given: not disabled by nova-ha)');
    expect(c.notes.at(-1)).toMatchObject({ summary: 'unfenced, still disabled', reason: 'cmp1 is healthy on every network, Nova cleaned up its evacuated instances, and its nova-compute service stays disabled (no reason given): it was not nova-ha that disabled it.' });
  });

  it('a host still reported down by Nova\'s API after forced_down is cleared: not enabled, the incident stays open, the poller document untouched', async () => {
    const c = cloudOf();
    const incident = await fenced(c);
    upAgain(c);
    const downNova: UnfenceNova = {
      listMigrations: (f) => c.nova.listMigrations(f!),
      listComputeServices: () => c.nova.listComputeServices(),
      listServersOnHost: (h) => c.nova.listServersOnHost(h),
      disableService: (id, reason) => c.nova.disableService(id, reason),
      removeHostFromAggregate: (id, h) => c.nova.removeHostFromAggregate(id, h),
      forceDown: (id, down) => c.nova.forceDown(id, down),
      enableService: (id) => c.nova.enableService(id),
      getComputeService: async (h) => ({ ...(await c.nova.getComputeService(h)), state: 'down' }),
    };
    await expect(unfence(c.runtime, c.effects(), downNova, HOST, options([], [], 0))).rejects.toThrow(new UnfenceError("Nova's API still reports cmp1's nova-compute down after forced_down was cleared; check nova-compute's log on cmp1, then run unfence again (the incident stays open and the service stays disabled)"));
    expect(c.nova.calls('forceDown')).toEqual([[`svc-${HOST}`, false]]);
    expect(c.nova.calls('enableService')).toEqual([]);
    expect(c.incident(HOST)?.id).toBe(incident.id);
    expect(c.consul.mgmt.peek<NovaServiceState>(c.key(KEYS.novaHost(HOST)))).toMatchObject({ state: 'down', forcedDown: true });
    expect(c.notes).toEqual([]);
  });

  it('enabled only once Nova\'s API reports the service up, and the poller\'s entry is what Nova says after the enable', async () => {
    const c = cloudOf();
    await fenced(c);
    upAgain(c);
    const order: string[] = [];
    let looksAfterCleared = 0;
    const slowNova: UnfenceNova = {
      listMigrations: (f) => c.nova.listMigrations(f!),
      listComputeServices: () => c.nova.listComputeServices(),
      listServersOnHost: (h) => c.nova.listServersOnHost(h),
      disableService: (id, reason) => c.nova.disableService(id, reason),
      removeHostFromAggregate: (id, h) => c.nova.removeHostFromAggregate(id, h),
      forceDown: async (id, down) => (order.push(`forceDown ${down}`), c.nova.forceDown(id, down)),
      enableService: async (id) => (order.push('enable'), c.nova.enableService(id)),
      getComputeService: async (h) => {
        const service = await c.nova.getComputeService(h);
        const cleared = order.includes('forceDown false');
        const state = cleared && ++looksAfterCleared > 2 ? 'up' : 'down';
        order.push(`look ${state}`);
        return { ...service, state };
      },
    };
    await unfence(c.runtime, c.effects(), slowNova, HOST, options([], [], 5000));
    expect(order).toEqual(['look down', 'forceDown false', 'look down', 'look down', 'look up', 'enable', 'look up']);
    expect(c.consul.mgmt.peek<NovaServiceState>(c.key(KEYS.novaHost(HOST)))).toMatchObject({ state: 'up', forcedDown: false, status: 'enabled' });
  });

  it('a host powered on but not healthy: the message says where it is alive and what nova-compute is', async () => {
    const c = cloudOf();
    c.member(HOST, 'critical', 'tenant');
    await expect(unfence(c.runtime, c.effects(), c.nova, HOST, options([], [], 0))).rejects.toThrow(/^cmp1 is not healthy after 0s \(alive on: mgmt, storage; nova-compute up\); nothing was changed in Nova$/);
  });

  it('a host no cluster knows: alive nowhere, nova-compute unknown', async () => {
    const c = cloudOf();
    const progress: [number, number, string][] = [];
    await expect(unfence(c.runtime, noPower(c), c.nova, 'cmp99', options([], progress, 1000))).rejects.toThrow(/^cmp99 is not healthy after 1s \(alive on: none; nova-compute unknown\); nothing was changed in Nova$/);
    // Read at the start and again a second later; a timer that fires a millisecond early (Node's
    // timers and Date.now() keep different clocks) makes one read more, as seen in a loaded run.
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(new Set(progress.map((p) => JSON.stringify(p)))).toEqual(new Set([JSON.stringify([0, 4, 'networks alive + nova-compute running'])]));
  });

  it('an enabled service is not enabled again, whatever reason an old disable left', async () => {
    const c = cloudOf();
    c.nova.service(HOST, { status: 'enabled', disabledReason: 'nova-ha: fenced by an old incident' });
    await unfence(c.runtime, noPower(c), c.nova, HOST, options([]));
    expect(c.nova.calls('enableService')).toEqual([]);
  });

  it('only this host\'s entry of the Nova poller\'s view is written: the other hosts\' entries and the poll summary are left as they were', async () => {
    const c = cloudOf();
    const poll = c.consul.mgmt.peek<NovaPoll>(c.key(KEYS.novaPoll));
    await unfence(c.runtime, noPower(c), c.nova, HOST, options([]));
    expect(c.keysWritten().filter((k) => k.startsWith(c.key(KEYS.views)))).toEqual([c.key(KEYS.novaHost(HOST))]);
    expect(c.consul.mgmt.peek<NovaPoll>(c.key(KEYS.novaPoll))).toEqual(poll);
  });

  it('with no poll summary yet, none is made: the host\'s entry alone is written', async () => {
    const c = cloudOf();
    await c.consul.mgmt.kvDelete(c.key(KEYS.novaPoll));
    expect(await unfence(c.runtime, noPower(c), c.nova, HOST, options([]))).toBeUndefined();
    expect(c.consul.mgmt.peek(c.key(KEYS.novaPoll))).toBeUndefined();
    expect(c.consul.mgmt.peek<NovaServiceState>(c.key(KEYS.novaHost(HOST)))).toMatchObject({ state: 'up', forcedDown: false });
  });
});
