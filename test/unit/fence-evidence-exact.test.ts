/**
 * What may stand in for a BMC's word that a host is off (decision/fence-evidence.ts): the exact
 * decisions beyondTheBmc returns (action, phase, evidence, when to look again, the operator's
 * sentence), the edges of the watchdog's safe time and of a dump's quiet intervals, and the
 * evidence a resumed fence keeps.
 */
import { describe, expect, it } from 'vitest';
import { beyondTheBmc, currentEvidence, describeDump, describeSelfFence, dumpEnded, dumping, lastContact, selfFenceVerdict, type EvidenceSettings, type KdumpSettings } from '../../lib/decision/fence-evidence.js';
import type { HostObservation, KdumpObservation, WatchdogObservation } from '../../lib/decision/model.js';
import { ago, host, NOW, s, type HostShape } from '../support/observations.js';

const hung: HostShape = { mgmt: 'failed', storage: 'failed', tenant: 'failed' };
const armed = (timeoutS: number): WatchdogObservation => ({ state: 'armed', timeoutMs: s(timeoutS), detail: `armed timeout_ms=${s(timeoutS)}` });
const KDUMP: KdumpSettings = { intervalMs: s(10), firstMessageWaitMs: s(60), timeoutMs: s(600) };
const dumpMsgs = (lastAgo: number, count = 3): KdumpObservation => ({ from: '198.18.1.101', first: ago(lastAgo + 20), last: ago(lastAgo), count });
const obs = (shape: HostShape, extra: Partial<HostObservation> = {}): HostObservation => ({ ...host(shape), ...extra });
const row = (cause: 'node-unreachable' | 'power-unknown', sinceAgo: number) => ({ cause, since: ago(sinceAgo), reason: 'down on every network' });

describe('the watchdog verdict, and why it does not count', () => {
  const settings = { marginMs: s(5) };
  const verdict = (shape: HostShape, watchdog?: WatchdogObservation) => selfFenceVerdict(obs(shape, watchdog ? { watchdog } : {}), NOW, settings);

  it.each([
    ['a host alive on one network', { mgmt: 'failed', storage: 'failed' } as HostShape, armed(10), 'it is not failed on every network'],
    ['a watchdog nobody looked at', hung, undefined, 'its watchdog was not armed'],
    ['a watchdog that could not be read', hung, { state: 'unknown' } as WatchdogObservation, 'its watchdog state could not be read'],
    ['a watchdog not armed, with the check\'s words', hung, { state: 'not-armed', detail: 'no nova-ha-watchdog check' } as WatchdogObservation, 'its watchdog was not armed (no nova-ha-watchdog check)'],
    ['a watchdog not armed, without words', hung, { state: 'not-armed' } as WatchdogObservation, 'its watchdog was not armed'],
    ['a watchdog not armed, even with a timeout', hung, { state: 'not-armed', timeoutMs: s(10), detail: 'TTL expired' } as WatchdogObservation, 'its watchdog was not armed (TTL expired)'],
    ['an armed watchdog that did not publish its timeout', hung, { state: 'armed', detail: 'armed' } as WatchdogObservation, 'its watchdog was not armed (armed)'],
  ])('%s: not armed', (_name, shape, watchdog, why) => {
    expect(verdict(shape, watchdog)).toStrictEqual({ kind: 'not-armed', why });
  });

  it('one ms before the safe time it waits, with the same evidence', () => {
    const lastSeen = NOW - s(25) + 1;
    const v = selfFenceVerdict(obs({ ...hung, netSince: lastSeen }, { watchdog: armed(10) }), NOW, settings);
    expect(v).toStrictEqual({ kind: 'waiting', evidence: { lastContact: lastSeen, timeoutMs: s(10), marginMs: s(5), safeAt: NOW + 1 } });
  });

  it('the last contact is the latest of the networks\' failures', () => {
    const h = obs({ ...hung, netSince: ago(50), since: { storage: ago(40), mgmt: ago(60) } });
    expect(lastContact(h)).toBe(ago(40));
    expect(lastContact(obs({ ...hung, tenant: 'unknown' }))).toBeUndefined();
  });
});

describe('a dump in progress: a message within three intervals', () => {
  it('a message exactly three intervals ago still counts; the dump has ended only after that', () => {
    expect(dumpEnded(dumpMsgs(30), NOW, s(10))).toBe(false);
    expect(dumpEnded({ last: NOW - s(30) - 1 }, NOW, s(10))).toBe(true);
    expect(dumpEnded(null, NOW, s(10))).toBe(true);
    expect(dumping(obs(hung, { kdump: dumpMsgs(30) }), NOW, KDUMP)).toStrictEqual(dumpMsgs(30));
  });

  it('a host with no messages, or alive on a network, is not dumping', () => {
    expect(dumping(obs(hung), NOW, KDUMP)).toBeUndefined();
    expect(dumping(obs({ ...hung, storage: 'alive' }, { kdump: dumpMsgs(1) }), NOW, KDUMP)).toBeUndefined();
  });
});

describe('what the operator reads', () => {
  it('the safe time: last contact + 2 x timeout + margin = safe time', () => {
    expect(describeSelfFence({ lastContact: ago(100), timeoutMs: s(60), marginMs: s(30), safeAt: ago(100) + s(150) })).toBe('last contact 2026-11-25T09:58:20.000Z + 2 x 1m + margin 30s = 2026-11-25T10:00:50.000Z');
  });

  it('the dump: how many messages, from where, since when', () => {
    expect(describeDump({ from: '198.18.1.101', first: ago(20), last: ago(1), count: 1 })).toBe('1 fence_kdump message from 198.18.1.101 since 2026-11-25T09:59:40.000Z');
    expect(describeDump({ from: '198.18.1.101', first: ago(20), last: ago(1), count: 7 })).toBe('7 fence_kdump messages from 198.18.1.101 since 2026-11-25T09:59:40.000Z');
  });
});

describe('beyondTheBmc: the decision for a host down everywhere whose BMC says on or nothing', () => {
  const window = s(10);

  it('a dumping host: fenced now, instances evacuated while it dumps, the power-off after the dump (at most the timeout)', () => {
    const d = beyondTheBmc(row('node-unreachable', 30), obs(hung, { kdump: dumpMsgs(2, 1) }), NOW, { confirmationWindow: window, kdump: KDUMP });
    const because = 'down on every network, and it sends fence_kdump messages from its own address (1 fence_kdump message from 198.18.1.101 since 2026-11-25T09:59:38.000Z): its kernel crashed and is writing a dump';
    expect(d).toStrictEqual({ action: 'fence', cause: 'node-unreachable', phase: 'fencing', because, evidence: { kdump: dumpMsgs(2, 1) }, reason: `${because}; evacuating its instances now, and powering it off once the dump ends (at most 10m)` });
  });

  it('no message yet: waits for the first one until window + wait after the failure, then the matrix row stands', () => {
    const settings: EvidenceSettings = { confirmationWindow: window, kdump: KDUMP };
    expect(beyondTheBmc(row('node-unreachable', 30), obs(hung), NOW, settings)).toStrictEqual({
      action: 'wait', cause: 'node-unreachable', recheckInMs: s(40),
      reason: 'down on every network; waiting up to 1m for a fence_kdump message (a crash dump) before fencing it',
    });
    expect(beyondTheBmc(row('node-unreachable', 70), obs(hung), NOW - 1, settings)?.recheckInMs).toBe(1);
    expect(beyondTheBmc(row('node-unreachable', 70), obs(hung), NOW, settings)).toBeUndefined();
  });

  it('BMC silent and the watchdog armed: held (no operator needed) until the safe time, alerted, looked at again then', () => {
    const h = obs({ ...hung, power: 'unknown', netSince: ago(20) }, { watchdog: armed(10) });
    expect(beyondTheBmc(row('power-unknown', 20), h, NOW, { confirmationWindow: window, selfFence: { marginMs: s(30) } })).toStrictEqual({
      action: 'wait', cause: 'power-unknown', alert: 'self-fence-wait', phase: 'held', needsOperator: false, recheckInMs: s(30),
      reason: 'down on every network; its watchdog (timeout 10s) was armed, so a node cut off resets itself: it counts as fenced from 2026-11-25T10:00:30.000Z (last contact 2026-11-25T09:59:40.000Z + 2 x 10s + margin 30s = 2026-11-25T10:00:30.000Z), then its instances are evacuated',
    });
  });

  it('BMC silent, the safe time passed: fenced with the watchdog as evidence, the BMC tried first', () => {
    const h = obs({ ...hung, power: 'unknown', netSince: ago(60) }, { watchdog: armed(10) });
    const evidence = { lastContact: ago(60), timeoutMs: s(10), marginMs: s(30), safeAt: ago(10) };
    const because = 'down on every network, but its watchdog (timeout 10s) was armed, so a node cut off resets itself, and the safe time has passed (last contact 2026-11-25T09:59:00.000Z + 2 x 10s + margin 30s = 2026-11-25T09:59:50.000Z)';
    expect(beyondTheBmc(row('power-unknown', 60), h, NOW, { confirmationWindow: window, selfFence: { marginMs: s(30) } })).toStrictEqual({
      action: 'fence', cause: 'power-unknown', phase: 'fencing', because, evidence: { selfFence: evidence }, reason: `${because}: fencing it (the BMC is tried first) and evacuating its instances`,
    });
  });

  it('kdump configured but silent past its wait, BMC silent, watchdog armed: the watchdog still decides', () => {
    const h = obs({ ...hung, power: 'unknown', netSince: ago(100) }, { watchdog: armed(10) });
    expect(beyondTheBmc(row('power-unknown', 100), h, NOW, { confirmationWindow: window, kdump: KDUMP, selfFence: { marginMs: 0 } })?.evidence).toStrictEqual({ selfFence: { lastContact: ago(100), timeoutMs: s(10), marginMs: 0, safeAt: ago(80) } });
  });

  it('nothing beyond the BMC: no settings, or a watchdog that is not armed', () => {
    const h = obs({ ...hung, power: 'unknown', netSince: ago(100) }, { watchdog: { state: 'not-armed' } });
    expect(beyondTheBmc(row('power-unknown', 100), h, NOW, { confirmationWindow: window, selfFence: { marginMs: 0 } })).toBeUndefined();
    expect(beyondTheBmc(row('power-unknown', 100), obs({ ...hung, power: 'unknown' }, { watchdog: armed(10) }), NOW, { confirmationWindow: window })).toBeUndefined();
  });
});

describe('currentEvidence: what a resumed fence still has', () => {
  const h = obs({ ...hung, power: 'unknown', netSince: ago(60) }, { watchdog: armed(10), kdump: dumpMsgs(5) });
  const selfFence = { lastContact: ago(60), timeoutMs: s(10), marginMs: s(30), safeAt: ago(10) };

  it('the dump and the watchdog\'s passed safe time, each only when configured', () => {
    expect(currentEvidence(h, NOW, { confirmationWindow: 0, kdump: KDUMP, selfFence: { marginMs: s(30) } })).toStrictEqual({ kdump: dumpMsgs(5), selfFence });
    expect(currentEvidence(h, NOW, { confirmationWindow: 0, kdump: KDUMP })).toStrictEqual({ kdump: dumpMsgs(5) });
    expect(currentEvidence(h, NOW, { confirmationWindow: 0, selfFence: { marginMs: s(30) } })).toStrictEqual({ selfFence });
  });

  it('a safe time not yet passed, or a dump that ended, is no evidence', () => {
    expect(currentEvidence(h, NOW, { confirmationWindow: 0, selfFence: { marginMs: s(40) + 1 } })).toBeUndefined();
    expect(currentEvidence(h, NOW + s(26), { confirmationWindow: 0, kdump: KDUMP })).toBeUndefined();
  });
});
