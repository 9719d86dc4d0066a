/**
 * Retry when room returns (recovery/retry-left-behind.ts): a fenced host's instances left behind
 * (held for room, No valid host) are evacuated again once the room has grown, the backoff has
 * passed and attempts are left; each attempt recorded, one email when it starts and one with its
 * result, and an instance that left the host is never called for again.
 */
import { KEYS } from '../../lib/state/records.js';
import { afterEach, describe, expect, it } from 'vitest';
import { fenceAndEvacuate } from '../../lib/recovery/fence.js';
import { BACKOFF_CAP, leftBehind, mayRetry, retryDue, retryLeftBehind, type RetrySettings } from '../../lib/recovery/retry-left-behind.js';
import type { Decision } from '../../lib/decision/policy.js';
import { openIncident, withStep, type Incident } from '../../lib/state/incident.js';
import { FakeCloud, evaluateIn } from '../support/fake-cloud.js';
import { runWorker } from '../../lib/recovery/worker.js';
import { capacityOf, fenceRunOf, SHORT_HOST, shortOfRoomCloud } from '../support/short-of-room.js';

const HOST = SHORT_HOST;
const NOW = 10_000_000;
let cloud: FakeCloud;
afterEach(() => cloud?.dispose());

function shortOfRoom(): FakeCloud {
  cloud = shortOfRoomCloud();
  return cloud;
}
const deps = (c: FakeCloud) => ({ runtime: c.runtime, nova: c.nova, powerOff: (host: string) => c.bmc.powerOffVerified(host), readPower: (host: string) => c.bmc.readPower(host), capacity: capacityOf(c) });
const NO_WAIT: RetrySettings = { attempts: 5, backoffMs: 0 };

describe('retryDue: fenced, something left behind, attempts left, backoff over', () => {
  const fenced = (over: Partial<Incident> = {}): Incident => ({
    ...withStep(withStep(openIncident(HOST, 'node-unreachable', 'x', NOW - 100_000, 'ctl1'), { at: NOW - 90_000, step: 'evacuate', outcome: 'started', by: 'ctl1' }), { at: NOW - 60_000, step: 'evacuate', outcome: 'done', by: 'ctl1' }),
    phase: 'fenced',
    held: [{ id: 'p1', name: 'p1', reason: 'needs 1 vCPU more' }],
    ...over,
  });
  const settings: RetrySettings = { attempts: 3, backoffMs: 10_000 };

  it.each([
    ['held instances, backoff since the evacuation over', fenced(), settings, true],
    ['a failed instance counts as left behind', fenced({ held: [], instances: [{ id: 'x', name: 'x', outcome: 'failed', from: HOST }] }), settings, true],
    ['nothing left behind', fenced({ held: [] }), settings, false],
    ['not fenced (still evacuating)', fenced({ phase: 'evacuating' }), settings, false],
    ['closed', fenced({ closedAt: NOW }), settings, false],
    ['attempts used up', fenced({ retries: { attempts: 3, lastAt: 0 } }), settings, false],
    ['backoff since the evacuation not over', fenced(), { attempts: 3, backoffMs: 61_000 }, false],
    ['backoff doubled after one attempt: 20 s not over', fenced({ retries: { attempts: 1, lastAt: NOW - 15_000 } }), settings, false],
    ['backoff doubled after one attempt: over', fenced({ retries: { attempts: 1, lastAt: NOW - 20_000 } }), settings, true],
    ['a room read and found not grown 5 s ago: the next read waits the backoff', fenced({ roomCheckedAt: NOW - 5_000 }), settings, false],
    ['a room read and found not grown a backoff ago: read again', fenced({ roomCheckedAt: NOW - 10_000 }), settings, true],
    [`backoff capped at ${BACKOFF_CAP} times`, fenced({ retries: { attempts: 10, lastAt: NOW - BACKOFF_CAP * 10_000 } }), { attempts: 20, backoffMs: 10_000 }, true],
  ])('%s', (_name, incident, given, due) => {
    expect(retryDue(incident, given, NOW)).toBe(due);
  });

  it('the evaluation dispatches only a fenced host\'s worker', () => {
    const none = (guard?: string): Decision => ({ action: 'none', cause: 'node-unreachable', reason: 'x', ...(guard ? { guard } : {}) }) as Decision;
    expect(mayRetry(none('fenced'), fenced(), settings, NOW)).toBe(true);
    expect(mayRetry(none(), fenced(), settings, NOW)).toBe(false);
    expect(mayRetry(none('fenced'), undefined, settings, NOW)).toBe(false);
  });
});

describe('retryLeftBehind', () => {
  it('held for room, then a host enabled: the held ones evacuated by themselves, each instance called for once, two emails', async () => {
    const c = shortOfRoom();
    const first = await fenceAndEvacuate(deps(c), fenceRunOf(c));
    expect(leftBehind(first)).toBe(2);
    // The same room: nothing is tried, nothing recorded, no email.
    expect(await retryLeftBehind(deps(c), fenceRunOf(c), NO_WAIT)).toBeUndefined();
    const notes = c.notes.length;
    c.nova.service('cmp2');
    const after = (await retryLeftBehind(deps(c), fenceRunOf(c), NO_WAIT))!;
    expect(after.held).toBeUndefined();
    expect((after.instances ?? []).filter((o) => o.outcome === 'evacuated').map((o) => `${o.id}->${o.to}`).sort()).toEqual(['p1->cmp2', 'p2->cmp2', 'p3->cmp3', 'p4->cmp3', 'p5->cmp3', 'p6->cmp3']);
    expect([...c.nova.callCounts().values()].every((n) => n === 1)).toBe(true);
    expect(after.retries).toEqual({ attempts: 1, lastAt: expect.any(Number) });
    expect(after.room).toEqual({ cmp2: { VCPU: 2, MEMORY_MB: 4096, DISK_GB: 160 }, cmp3: { VCPU: 0, MEMORY_MB: 0, DISK_GB: 120 } });
    const retry = after.timeline.filter((e) => e.step === 'retry');
    expect(retry.map((e) => `${e.outcome}: ${e.detail}`)).toEqual([
      'started: attempt 1 of 5: room may have appeared: 2 usable compute hosts now, 1 before (cmp2 usable again); evacuating again the 2 instances left behind',
      'done: attempt 1: 2 more evacuated, 0 still left behind',
    ]);
    expect(after.phase).toBe('fenced');
    const sent = c.notes.slice(notes);
    expect(sent.map((n) => n.event)).toEqual(['capacity-retry', 'capacity-retry-result']);
    expect(sent[0]!.reason).toContain('Room may have appeared: 2 usable compute hosts now, 1 before (cmp2 usable again)');
    expect(sent[1]!.action).toBe('every instance evacuated');
    // Nothing left: no further attempt.
    expect(await retryLeftBehind(deps(c), fenceRunOf(c), NO_WAIT)).toBeUndefined();
  });

  it('No valid host from Nova (no estimate then): retried when room appears; only the ERROR ones are called again', async () => {
    const c = shortOfRoom();
    await fenceAndEvacuate({ ...deps(c), capacity: { ...capacityOf(c), ignored: 'the operator asked for every instance (--ignore-capacity)' } }, fenceRunOf(c));
    const failed = (await c.store.current(HOST))!.value.instances!.filter((o) => o.outcome === 'failed').map((o) => o.id).sort();
    expect(failed).toEqual(['p1', 'p2']);
    c.nova.service('cmp2');
    const after = (await retryLeftBehind(deps(c), fenceRunOf(c), NO_WAIT))!;
    expect(leftBehind(after)).toBe(0);
    const counts = c.nova.callCounts();
    expect(['p1', 'p2'].map((id) => counts.get(id))).toEqual([2, 2]);
    expect(['p3', 'p4', 'p5', 'p6'].map((id) => counts.get(id))).toEqual([1, 1, 1, 1]);
  });

  it('room grown but not enough: still held, the attempt counted, the result says what is left; then the backoff applies', async () => {
    const c = shortOfRoom();
    await fenceAndEvacuate(deps(c), fenceRunOf(c));
    c.nova.placementApi.extraUsage.set('cmp3', { VCPU: -1, MEMORY_MB: -2048 });
    const after = (await retryLeftBehind(deps(c), fenceRunOf(c), NO_WAIT))!;
    expect(after.held).toHaveLength(1);
    expect(after.timeline.findLast((e) => e.step === 'retry')).toMatchObject({ outcome: 'failed', detail: 'attempt 1: 1 more evacuated, 1 still left behind' });
    expect(c.notes.findLast((n) => n.event === 'capacity-retry-result')!.action).toBe('1 instances still left behind');
    c.nova.service('cmp2');
    expect(await retryLeftBehind(deps(c), fenceRunOf(c), { attempts: 5, backoffMs: 60_000 })).toBeUndefined();
  });

  it('room read and not grown: the read is recorded, and the next waits the backoff', async () => {
    const c = shortOfRoom();
    await fenceAndEvacuate(deps(c), fenceRunOf(c));
    const before = Date.now();
    expect(await retryLeftBehind(deps(c), fenceRunOf(c), NO_WAIT)).toBeUndefined();
    const incident = await fenceRunOf(c).change((i) => i);
    expect(incident.roomCheckedAt).toBeGreaterThanOrEqual(before);
    expect(retryDue(incident, { attempts: 5, backoffMs: 60_000 }, Date.now())).toBe(false);
  });

  it('room unknown: nothing is done', async () => {
    const c = shortOfRoom();
    await fenceAndEvacuate(deps(c), fenceRunOf(c));
    c.nova.service('cmp2');
    c.nova.placementApi.failure = new Error('HTTP 503');
    const calls = c.nova.calls('evacuate').length;
    expect(await retryLeftBehind(deps(c), fenceRunOf(c), NO_WAIT)).toBeUndefined();
    expect(c.nova.calls('evacuate')).toHaveLength(calls);
  });

  it('fenced stays fenced: a host on again before the retry is powered off again first', async () => {
    const c = shortOfRoom();
    await fenceAndEvacuate(deps(c), fenceRunOf(c));
    await c.bmc.powerOn(HOST);
    c.nova.service('cmp2');
    const after = (await retryLeftBehind(deps(c), fenceRunOf(c), NO_WAIT))!;
    expect(after.timeline.some((e) => e.step === 'power-off-again' && e.outcome === 'done')).toBe(true);
    expect(await c.bmc.readPower(HOST)).toBe('off');
  });
});

describe('who starts a retry: the evaluation dispatches, the worker of the fenced host runs it', () => {
  /** A fenced incident of cmp1 whose evacuation ended a minute ago with one instance held. */
  const fencedLongAgo = async (c: FakeCloud): Promise<void> => {
    const at = Date.now() - 60_000;
    let incident = withStep(openIncident(HOST, 'node-unreachable', 'failed on every network', at - 10_000, 'ctl1'), { at: at - 5_000, step: 'power-off', outcome: 'done', by: 'ctl1' });
    incident = withStep(incident, { at, step: 'evacuate', outcome: 'done', by: 'ctl1' });
    incident = { ...incident, phase: 'fenced', phaseSince: at, fenceStarted: true, held: [{ id: 'p1', name: 'p1', reason: 'needs 1 vCPU more' }], room: {} };
    await c.store.change(HOST, () => incident);
  };
  /** A cloud whose HOST was fenced a minute ago with an instance held, its retry backoff 10 s. */
  const fencedCloud = async (): Promise<FakeCloud> => {
    const c = new FakeCloud({ config: { capacity: { retry_backoff: '10s' } } });
    cloud = c;
    c.hung(HOST, 'off');
    await c.bmc.powerOffVerified(HOST);
    await fencedLongAgo(c);
    return c;
  };

  it('the evaluation starts the fenced host\'s worker once the backoff is over, and not while the controller is isolated', async () => {
    const c = await fencedCloud();
    const { evaluation, spawned } = await evaluateIn(c);
    expect(evaluation.decisions.get(HOST)).toMatchObject({ action: 'none', guard: 'fenced' });
    expect(spawned).toEqual([HOST]);
    c.consul.tenant.node('ctl1', { serfHealth: 'critical' });
    expect((await evaluateIn(c)).spawned).toEqual([]);
  });

  it('the evaluation starts no retry while a storm is on or nova-ha is paused', async () => {
    const c = await fencedCloud();
    await c.runtime.kv.write(c.runtime.kv.key(KEYS.pause), { reason: 'test', since: Date.now(), by: 'test' });
    expect((await evaluateIn(c)).spawned).not.toContain(HOST);
    await c.runtime.kv.delete(c.runtime.kv.key(KEYS.pause));
    expect((await evaluateIn(c)).spawned).toEqual([HOST]);
    for (const other of ['cmp2', 'cmp3']) c.hung(other);
    const { evaluation, spawned } = await evaluateIn(c);
    expect(evaluation.storm).toBeDefined();
    expect(spawned).not.toContain(HOST);
  });

  it('the worker of a fenced host with room grown evacuates the held instance', async () => {
    const c = shortOfRoom();
    for (const id of ['p2', 'p3', 'p4', 'p5', 'p6']) c.nova.servers.get(id)!.host = 'cmp4';
    c.hung(HOST, 'off');
    await c.bmc.powerOffVerified(HOST);
    await fencedLongAgo(c);
    const effects = c.effects({ retryLeftBehind: (run) => retryLeftBehind(deps(c), run, NO_WAIT) });
    expect(await runWorker(c.runtime, effects, HOST, c.observer, { pollMs: 10 })).toBe('done');
    const incident = c.incident(HOST)!;
    expect(incident.retries?.attempts).toBe(1);
    expect(incident.held).toBeUndefined();
    expect(c.nova.callCounts()).toEqual(new Map([['p1', 1]]));
    expect(incident.timeline.findLast((e) => e.step === 'retry')).toMatchObject({ outcome: 'done', detail: 'attempt 1: 1 more evacuated, 0 still left behind' });
  });
});
