/**
 * The pure parts of fencing beyond ipmitool: the level plan, the watchdog's safe-time arithmetic,
 * the kdump verdict, and the policy rows they change (a host down everywhere whose BMC says on or
 * nothing).
 */
import { describe, expect, it } from 'vitest';
import { beyondTheBmc, currentEvidence, dumpEnded, dumping, lastContact, selfFenceSafeAt, selfFenceVerdict, type KdumpSettings } from '../../lib/decision/fence-evidence.js';
import { describeLevel, fencePlan, nextFenceStep } from '../../lib/decision/fence-plan.js';
import type { HostObservation } from '../../lib/decision/model.js';
import { decide, type PolicySettings } from '../../lib/decision/policy.js';
import { SETTINGS, ago, cluster, host, s, NOW, type HostShape } from '../support/observations.js';

const hung: HostShape = { mgmt: 'failed', storage: 'failed', tenant: 'failed' };
const armed = (timeoutS: number) => ({ state: 'armed' as const, timeoutMs: s(timeoutS), detail: `armed timeout_ms=${s(timeoutS)}` });
const WATCHDOG: PolicySettings = { ...SETTINGS, selfFence: { marginMs: s(30) } };
const KDUMP: KdumpSettings = { intervalMs: s(10), firstMessageWaitMs: 0, timeoutMs: s(600) };
const with_ = (shape: HostShape, extra: Partial<HostObservation>): HostObservation => ({ ...host(shape), ...extra });

describe('fence levels (Pacemaker fencing topology)', () => {
  it('method ipmi is one level; method agent takes the configured order; method none has none', () => {
    expect(fencePlan('ipmi', ['redfish'], NOW).levels).toEqual([{ kind: 'ipmi' }]);
    expect(fencePlan('agent', ['redfish', 'ipmi', 'pdu'], NOW).levels).toEqual([{ kind: 'agent', device: 'redfish' }, { kind: 'ipmi' }, { kind: 'agent', device: 'pdu' }]);
    expect(fencePlan('none', ['ipmi'], NOW).levels).toEqual([]);
  });

  it('the next level runs only when the one before did not verify the power off; the first that verifies ends it', () => {
    const plan = fencePlan('agent', ['ipmi', 'pdu'], NOW);
    expect(nextFenceStep(plan, [])).toMatchObject({ kind: 'level', index: 0, level: { kind: 'ipmi' } });
    expect(nextFenceStep(plan, [true])).toEqual({ kind: 'verified', by: 'ipmi' });
    expect(nextFenceStep(plan, [false])).toMatchObject({ kind: 'level', index: 1, level: { kind: 'agent', device: 'pdu' } });
    expect(nextFenceStep(plan, [false, true])).toEqual({ kind: 'verified', by: 'pdu' });
    expect(nextFenceStep(plan, [false, false])).toEqual({ kind: 'exhausted' });
    expect(describeLevel(plan, 1)).toBe('level 2 of 2 (pdu)');
  });

  it('the watchdog is a last level only once its safe time has passed', () => {
    const evidence = { lastContact: ago(100), timeoutMs: s(10), marginMs: s(5), safeAt: ago(75) };
    const safe = fencePlan('ipmi', [], NOW, evidence);
    expect(nextFenceStep(safe, [false])).toEqual({ kind: 'watchdog', evidence });
    expect(nextFenceStep(safe, [false, true])).toEqual({ kind: 'verified', by: 'watchdog' });
    expect(describeLevel(safe, 1)).toBe('level 2 of 2 (watchdog)');
    const early = fencePlan('ipmi', [], NOW, { ...evidence, safeAt: NOW + 1 });
    expect(nextFenceStep(early, [false])).toEqual({ kind: 'exhausted' });
  });
});

describe('watchdog safe time: last contact + 2 x timeout + margin', () => {
  it('is computed from the last network to fail, and only for a host failed on every network', () => {
    expect(selfFenceSafeAt(1_000_000, 60_000, 30_000)).toBe(1_150_000);
    const h = host({ ...hung, netSince: ago(50) });
    const staggered: HostObservation = { ...h, networks: { ...h.networks, tenant: { state: 'failed', since: ago(20) } } };
    expect(lastContact(staggered)).toBe(ago(20));
    expect(lastContact(host({ mgmt: 'failed', storage: 'failed' }))).toBeUndefined();
    expect(lastContact(host({ ...hung, tenant: 'left' }))).toBeUndefined();
  });

  it('counts a host as reset only when its watchdog was armed, and not before the safe time', () => {
    const settings = { marginMs: s(5) };
    expect(selfFenceVerdict(with_({ ...hung, netSince: ago(24) }, { watchdog: armed(10) }), NOW, settings)).toMatchObject({ kind: 'waiting', evidence: { safeAt: ago(24) + s(25) } });
    expect(selfFenceVerdict(with_({ ...hung, netSince: ago(25) }, { watchdog: armed(10) }), NOW, settings)).toMatchObject({ kind: 'safe', evidence: { lastContact: ago(25), timeoutMs: s(10), marginMs: s(5), safeAt: NOW } });
    expect(selfFenceVerdict(with_(hung, { watchdog: { state: 'not-armed', detail: 'nova-ha-watchdog critical: TTL expired' } }), NOW, settings)).toEqual({ kind: 'not-armed', why: 'its watchdog was not armed (nova-ha-watchdog critical: TTL expired)' });
    expect(selfFenceVerdict(with_(hung, { watchdog: { state: 'unknown' } }), NOW, settings).kind).toBe('not-armed');
    expect(selfFenceVerdict(host(hung), NOW, settings).kind).toBe('not-armed');
    expect(selfFenceVerdict(with_({ mgmt: 'failed', storage: 'failed' }, { watchdog: armed(10) }), NOW, settings).kind).toBe('not-armed');
  });
});

describe('kdump: a dump in progress', () => {
  const record = (lastAgo: number, count = 3) => ({ from: '198.18.1.101', first: ago(lastAgo + 20), last: ago(lastAgo), count });

  it('is a host failed on every network with a message within three intervals', () => {
    expect(dumping(with_(hung, { kdump: record(29) }), NOW, KDUMP)).toEqual(record(29));
    expect(dumping(with_(hung, { kdump: record(31) }), NOW, KDUMP)).toBeUndefined();
    expect(dumping(with_({ mgmt: 'failed', storage: 'failed' }, { kdump: record(1) }), NOW, KDUMP)).toBeUndefined();
    expect(dumping(with_(hung, { kdump: null }), NOW, KDUMP)).toBeUndefined();
    expect(dumpEnded(record(31), NOW, s(10))).toBe(true);
    expect(dumpEnded(undefined, NOW, s(10))).toBe(true);
  });
});

describe('policy: a host down everywhere, beyond its BMC', () => {
  it('BMC unknown, no watchdog: held and alerted, as before', () => {
    const d = decide(host({ ...hung, power: 'unknown' }), cluster(), WATCHDOG);
    expect([d.action, d.cause, d.alert, d.evidence]).toEqual(['alert', 'power-unknown', 'power-unknown', undefined]);
    const off = decide(with_({ ...hung, power: 'unknown' }, { watchdog: armed(10) }), cluster(), SETTINGS);
    expect(off.action).toBe('alert');
  });

  it('BMC unknown, watchdog armed: waits until the safe time, then fences with it as the last level', () => {
    const waiting = decide(with_({ ...hung, power: 'unknown', netSince: ago(20) }, { watchdog: armed(10) }), cluster(), WATCHDOG);
    expect([waiting.action, waiting.phase, waiting.alert, waiting.recheckInMs]).toEqual(['wait', 'held', 'self-fence-wait', s(30)]);
    expect(waiting.reason).toMatch(/counts as fenced from 2026-11-25T10:00:30.000Z/);
    const safe = decide(with_({ ...hung, power: 'unknown', netSince: ago(50) }, { watchdog: armed(10) }), cluster(), WATCHDOG);
    expect([safe.action, safe.phase, safe.evidence?.selfFence?.safeAt]).toEqual(['fence', 'fencing', NOW]);
  });

  it('the safe time still passes through every guard of a fence', () => {
    const safe = with_({ ...hung, power: 'unknown', netSince: ago(50) }, { watchdog: armed(10) });
    expect(decide(safe, cluster({ hosts: 20, failed: { mgmt: 3, storage: 3, tenant: 3 } }), WATCHDOG).guard).toBe('storm');
    expect(decide(safe, cluster(), { ...WATCHDOG, fencing: 'none' }).guard).toBe('no-fence-method');
    expect(decide(safe, cluster({ nova: 'down' }), WATCHDOG).guard).toBe('nova-unavailable');
  });

  it('a watchdog does not change a host whose BMC answers: fenced through the BMC at once', () => {
    const d = decide(with_(hung, { watchdog: armed(10) }), cluster(), WATCHDOG);
    expect([d.action, d.cause, d.evidence]).toEqual(['fence', 'node-unreachable', undefined]);
  });

  it('kdump: a dumping host is fenced with the power-off deferred, whatever its BMC says', () => {
    const settings = { ...SETTINGS, kdump: KDUMP };
    for (const power of ['on', 'unknown'] as const) {
      const d = decide(with_({ ...hung, power }, { kdump: { from: '198.18.1.101', first: ago(15), last: ago(2), count: 2 } }), cluster(), settings);
      expect([d.action, d.phase, d.evidence?.kdump?.from]).toEqual(['fence', 'fencing', '198.18.1.101']);
      expect(d.reason).toMatch(/powering it off once the dump ends/);
    }
  });

  it('kdump: messages that stopped, or a host alive anywhere, change nothing', () => {
    const settings = { ...SETTINGS, kdump: KDUMP };
    const stopped = decide(with_(hung, { kdump: { from: '198.18.1.101', first: ago(100), last: ago(40), count: 5 } }), cluster(), settings);
    expect([stopped.action, stopped.evidence]).toEqual(['fence', undefined]);
    const alive = decide(with_({ mgmt: 'failed', storage: 'failed' }, { kdump: { from: '198.18.1.101', first: ago(10), last: ago(1), count: 2 } }), cluster(), settings);
    expect([alive.action, alive.evidence]).toEqual(['fence', undefined]);
  });

  it('kdump: the first message may be waited for after the confirmation window', () => {
    const settings = { ...SETTINGS, kdump: { ...KDUMP, firstMessageWaitMs: s(60) } };
    const d = decide(host({ ...hung, netSince: ago(30) }), cluster(), settings);
    expect([d.action, d.recheckInMs]).toEqual(['wait', s(40)]);
    expect(decide(host({ ...hung, netSince: ago(71) }), cluster(), settings).action).toBe('fence');
  });

  it('a fence under way keeps the evidence that still holds when it is resumed', () => {
    const resumed = with_({ ...hung, power: 'unknown', netSince: ago(50), incident: { phase: 'fencing', fenceStarted: true } }, { watchdog: armed(10) });
    expect(decide(resumed, cluster(), WATCHDOG).evidence?.selfFence?.safeAt).toBe(NOW);
    expect(currentEvidence(resumed, NOW, { confirmationWindow: s(10) })).toBeUndefined();
    expect(beyondTheBmc({ cause: 'node-unreachable', since: ago(50), reason: 'x' }, resumed, NOW, { confirmationWindow: s(10), selfFence: { marginMs: 0 } })).toBeUndefined();
  });
});
