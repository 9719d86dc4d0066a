/**
 * The decision policy (lib/decision/policy.ts) decision by decision, whole: every field a decision
 * carries (action, cause, guard, alert, phase, the repair, what it would have done, when to look
 * again) and the sentence the operators read. policy.test.ts checks each row's action; these
 * tables pin what the worker records and what the email says, and the boundaries in time
 * (a window that has just passed, a report that came at the very moment of the request).
 */
import { describe, expect, it } from 'vitest';
import { classify, decide, settingsFromConfig, stormOf, stormThreshold, worseThan, type Decision, type PolicySettings } from '../../lib/decision/policy.js';
import type { Cause, HostObservation, RepairResult } from '../../lib/decision/model.js';
import { SETTINGS, ago, cluster, host, s, type ClusterShape, type HostShape } from '../support/observations.js';

interface Case {
  name: string;
  host: HostShape | HostObservation;
  cluster?: ClusterShape;
  settings?: Partial<PolicySettings>;
  decision: Decision;
}

const isObservation = (h: HostShape | HostObservation): h is HostObservation => 'networks' in h;
const decideCase = (c: Pick<Case, 'host' | 'cluster' | 'settings'>): Decision => decide(isObservation(c.host) ? c.host : host(c.host), cluster(c.cluster), { ...SETTINGS, ...c.settings });
const check = (c: Case): void => {
  expect(decideCase(c)).toEqual(c.decision);
};

const hung: HostShape = { mgmt: 'failed', storage: 'failed', tenant: 'failed' };
const HUNG = 'failed on every network while its power is on (hung or cut off)';
const STORAGE = 'its storage network is down';
const TENANT = 'its tenant network is down';
const API = "only Nova's API reports nova-compute down";
const POWER_LOST = 'down on every network and its power is off';
const SHUT_DOWN = 'shut down cleanly: its Consul agents left every cluster and its power is off';
const FENCING = ': fencing it and evacuating its instances';
const UNFENCE = 'it stays fenced until an operator runs "nova-ha unfence cmp1"';
const paused = { reason: 'switch work', since: ago(60) };
const storm: ClusterShape = { hosts: 20, failed: { storage: 3 } };
const STORM = 'storm: 3 hosts failed on the storage network (limit 2 of 20)';
const fenceOf = (cause: Cause, because: string): Decision => ({ action: 'fence', cause, phase: 'fencing', because, reason: `${because}${FENCING}` });
const with_ = (shape: HostShape, extra: Partial<HostObservation>): HostObservation => ({ ...host(shape), ...extra });

describe('before anything else: unknown records, maintenance, an isolated observer', () => {
  it.each<Case>([
    { name: 'an incident record that could not be read: nothing, and says which', host: { ...hung, incident: 'unknown' }, decision: { action: 'none', cause: 'unknown', guard: 'unknown-data', reason: 'its incident record could not be read from Consul; nothing is done on unknown data' } },
    { name: 'a maintenance flag that could not be read: nothing', host: { ...hung, maintenance: 'unknown' }, decision: { action: 'none', cause: 'unknown', guard: 'unknown-data', reason: 'its maintenance flag could not be read; nothing is done on unknown data' } },
    { name: 'in maintenance: never acted on, its row still named', host: { ...hung, maintenance: 'on' }, decision: { action: 'none', cause: 'node-unreachable', guard: 'maintenance', reason: 'in maintenance: never acted on' } },
    { name: 'in maintenance with a reason: the reason is shown', host: with_(hung, { maintenance: { state: 'on', reason: 'kernel upgrade' } }), decision: { action: 'none', cause: 'node-unreachable', guard: 'maintenance', reason: 'in maintenance (kernel upgrade): never acted on' } },
    { name: 'an observer not healthy on two networks names both, in order', host: hung, cluster: { observer: { tenant: 'unknown', storage: 'isolated' } }, decision: { action: 'none', cause: 'unknown', guard: 'observer-isolated', reason: 'this controller (ctl1) is not healthy on storage, tenant, so its view of the hosts cannot be trusted' } },
    { name: 'a pause switch that could not be read: nothing', host: hung, cluster: { paused: 'unknown' }, decision: { action: 'none', cause: 'unknown', guard: 'unknown-data', reason: 'the cluster-wide pause switch could not be read; nothing is done on unknown data' } },
  ])('$name', check);
});

describe('a fenced host stays fenced; the operators hear once that it is on again', () => {
  const fenced = { phase: 'fenced' as const, fenceStarted: true };
  it.each<Case>([
    { name: 'already told: nothing more', host: { incident: { ...fenced, seenOnWhileFenced: ago(60) } }, decision: { action: 'none', cause: 'healthy', guard: 'fenced', reason: `fenced by incident inc-1; ${UNFENCE}` } },
    { name: 'on and alive everywhere: told, with the evidence', host: { incident: fenced }, decision: { action: 'alert', cause: 'healthy', guard: 'fenced', alert: 'fenced-host-on', reason: `fenced by incident inc-1, but it is on again (its BMC reports power on, alive on mgmt, storage, tenant); nova-ha did not power it on. It stays forced down and disabled in Nova, so nothing is scheduled there, until an operator runs "nova-ha unfence cmp1"` } },
    { name: 'its BMC says on though it is down everywhere: told, the BMC the only evidence', host: { ...hung, incident: fenced }, decision: { action: 'alert', cause: 'node-unreachable', guard: 'fenced', alert: 'fenced-host-on', reason: `fenced by incident inc-1, but it is on again (its BMC reports power on); nova-ha did not power it on. It stays forced down and disabled in Nova, so nothing is scheduled there, until an operator runs "nova-ha unfence cmp1"` } },
    { name: 'its BMC says off but it is alive on mgmt: told, the network the only evidence', host: { storage: 'failed', tenant: 'failed', power: 'off', incident: fenced }, decision: { action: 'alert', cause: 'storage-network', guard: 'fenced', alert: 'fenced-host-on', reason: `fenced by incident inc-1, but it is on again (alive on mgmt); nova-ha did not power it on. It stays forced down and disabled in Nova, so nothing is scheduled there, until an operator runs "nova-ha unfence cmp1"` } },
    { name: 'BMC silent and down everywhere: nothing to tell', host: { ...hung, power: 'unknown', incident: fenced }, decision: { action: 'none', cause: 'power-unknown', guard: 'fenced', reason: `fenced by incident inc-1; ${UNFENCE}` } },
    { name: 'on again, its maintenance flag unreadable: nothing to tell', host: { maintenance: 'unknown', incident: fenced }, decision: { action: 'none', cause: 'healthy', guard: 'fenced', reason: `fenced by incident inc-1; ${UNFENCE}` } },
    { name: 'on again, the observer unsure of its own tenant network: nothing to tell', host: { incident: fenced }, cluster: { observer: { tenant: 'unknown' } }, decision: { action: 'none', cause: 'healthy', guard: 'fenced', reason: `fenced by incident inc-1; ${UNFENCE}` } },
  ])('$name', check);
});

describe('cluster-wide guards over a host action', () => {
  it.each<Case>([
    { name: 'an alert-only row passes through a storm unchanged', host: { mgmt: 'failed' }, cluster: { hosts: 20, failed: { mgmt: 10 } }, decision: { action: 'alert', cause: 'mgmt-network', alert: 'mgmt-network-down', phase: 'held', needsOperator: false, reason: 'its management network is down: its instances still run and write, so it is never evacuated; operators alerted' } },
    { name: 'a confirming wait passes through the quiet period unchanged', host: { storage: 'failed', netSince: ago(4) }, cluster: { startedAgo: 30 }, decision: { action: 'wait', cause: 'storage-network', guard: 'confirming', phase: 'confirming', recheckInMs: s(6), reason: `${STORAGE} for 4.0s; confirming for 10s before acting` } },
    { name: 'paused: a repair is held, and says what it would have done', host: { storage: 'failed' }, cluster: { paused }, decision: { action: 'hold', cause: 'storage-network', repair: 'restart-storage-network', because: STORAGE, guard: 'paused', alert: 'paused-action', phase: 'held', needsOperator: false, reason: `nova-ha is paused (switch work): it would restart-storage-network because ${STORAGE}` } },
    { name: 'paused: a fence is held', host: hung, cluster: { paused }, decision: { action: 'hold', cause: 'node-unreachable', because: HUNG, guard: 'paused', alert: 'paused-action', phase: 'held', needsOperator: false, reason: `nova-ha is paused (switch work): it would fence and evacuate because ${HUNG}` } },
    { name: 'paused: a drain is held', host: { tenant: 'failed' }, cluster: { paused }, settings: { drainOnTenantFailure: true }, decision: { action: 'hold', cause: 'tenant-network', because: TENANT, guard: 'paused', alert: 'paused-action', phase: 'held', needsOperator: false, reason: `nova-ha is paused (switch work): it would live-migrate its instances away because ${TENANT}` } },
    { name: 'paused: a fence under way keeps its phase and resumes later', host: { incident: { phase: 'evacuating', fenceStarted: true } }, cluster: { paused }, decision: { action: 'none', cause: 'healthy', guard: 'paused', reason: 'nova-ha is paused (switch work): the fence of incident inc-1 (phase evacuating) resumes when nova-ha does' } },
    { name: 'quiet period: a repair waits, and says when the period ends', host: { storage: 'failed' }, cluster: { startedAgo: 30 }, decision: { action: 'none', cause: 'storage-network', guard: 'quiet-period', recheckInMs: s(90), reason: `this controller started 30s ago and does nothing during the first 2m; it would restart-storage-network because ${STORAGE}` } },
    { name: 'quiet period: a drain waits too', host: { tenant: 'failed' }, cluster: { startedAgo: 119 }, settings: { drainOnTenantFailure: true }, decision: { action: 'none', cause: 'tenant-network', guard: 'quiet-period', recheckInMs: s(1), reason: `this controller started 1m59s ago and does nothing during the first 2m; it would live-migrate its instances away because ${TENANT}` } },
    { name: 'quiet period over at its very end: the repair goes ahead', host: { storage: 'failed' }, cluster: { startedAgo: 120 }, decision: { action: 'repair', cause: 'storage-network', repair: 'restart-storage-network', phase: 'repairing', because: STORAGE, reason: `${STORAGE}: trying restart-storage-network` } },
    { name: 'storm: a repair is held, naming the storm', host: { storage: 'failed' }, cluster: storm, decision: { action: 'hold', cause: 'storage-network', guard: 'storm', phase: 'held', needsOperator: false, reason: `${STORM}: holding; it would restart-storage-network because ${STORAGE}` } },
    { name: 'no fence method: held for an operator', host: hung, settings: { fencing: 'none' }, decision: { action: 'hold', cause: 'node-unreachable', guard: 'no-fence-method', alert: 'needs-operator', phase: 'held', needsOperator: true, reason: `${HUNG}: it needs fencing but [fencing] method = none, so it is held for an operator` } },
    { name: 'no fence method does not stop a repair', host: { storage: 'failed' }, settings: { fencing: 'none' }, decision: { action: 'repair', cause: 'storage-network', repair: 'restart-storage-network', phase: 'repairing', because: STORAGE, reason: `${STORAGE}: trying restart-storage-network` } },
    { name: "Nova's API down: a fence is held until it answers", host: hung, cluster: { nova: 'down' }, decision: { action: 'hold', cause: 'node-unreachable', guard: 'nova-unavailable', alert: 'nova-unavailable', phase: 'held', needsOperator: false, reason: `${HUNG}: it needs fencing but Nova's API is down, so its instances could not be evacuated; held until Nova answers again` } },
    { name: "Nova's schedulers unknown: a fence is held", host: hung, cluster: { schedulers: 'unknown' }, decision: { action: 'hold', cause: 'node-unreachable', guard: 'nova-unavailable', alert: 'nova-unavailable', phase: 'held', needsOperator: false, reason: `${HUNG}: it needs fencing but Nova's schedulers are unknown, so its instances could not be evacuated; held until Nova answers again` } },
    { name: "Nova down does not stop a repair", host: { storage: 'failed' }, cluster: { nova: 'down', schedulers: 'down' }, decision: { action: 'repair', cause: 'storage-network', repair: 'restart-storage-network', phase: 'repairing', because: STORAGE, reason: `${STORAGE}: trying restart-storage-network` } },
    { name: 'a fence under way is finished with no fence method left and Nova down', host: { ...hung, incident: { phase: 'evacuating', fenceStarted: true } }, cluster: { nova: 'down' }, settings: { fencing: 'none' }, decision: { action: 'fence', cause: 'healthy', phase: 'evacuating', reason: 'resuming incident inc-1 from phase evacuating: a fence once started is finished, and the host is never powered on again' } },
  ])('$name', check);
});

describe('a fence once started', () => {
  it.each<Case>([
    { name: 'held without a hold record after the power-off was sent: resumed from fencing', host: { incident: { phase: 'held', fenceStarted: true } }, decision: { action: 'fence', cause: 'healthy', phase: 'fencing', reason: 'resuming incident inc-1 from phase held: a fence once started is finished, and the host is never powered on again' } },
    { name: 'in phase forcing-down: resumed in that phase', host: { incident: { phase: 'forcing-down', fenceStarted: false } }, decision: { action: 'fence', cause: 'healthy', phase: 'forcing-down', reason: 'resuming incident inc-1 from phase forcing-down: a fence once started is finished, and the host is never powered on again' } },
    { name: 'held for an operator (unverified): not resumed, it waits for them', host: { ...hung, incident: { cause: 'node-unreachable', phase: 'held', fenceStarted: true, hold: { reason: 'fence not verified', needsOperator: true } } }, decision: { action: 'none', cause: 'node-unreachable', guard: 'operator-hold', reason: 'incident inc-1 is held for an operator (fence not verified)' } },
    { name: 'held for an operator and healthy again: never closed as recovered, it waits for them', host: { incident: { cause: 'node-unreachable', phase: 'held', fenceStarted: true, hold: { reason: 'fence not verified', needsOperator: true } } }, decision: { action: 'none', cause: 'healthy', guard: 'operator-hold', reason: 'incident inc-1 is held for an operator (fence not verified)' } },
    { name: 'a recovered incident that once started a fence does not bypass the quiet period', host: { ...hung, incident: { phase: 'recovered', fenceStarted: true } }, cluster: { startedAgo: 30 }, decision: { action: 'none', cause: 'node-unreachable', guard: 'quiet-period', recheckInMs: s(90), reason: `this controller started 30s ago and does nothing during the first 2m; it would fence and evacuate because ${HUNG}` } },
  ])('$name', check);

  it('a resumed fence carries the crash dump still in progress', () => {
    const kdump = { from: '198.18.1.101', first: ago(15), last: ago(2), count: 2 };
    const d = decide(with_({ ...hung, incident: { phase: 'fencing', fenceStarted: true } }, { kdump }), cluster(), { ...SETTINGS, kdump: { intervalMs: s(10), firstMessageWaitMs: 0, timeoutMs: s(600) } });
    expect(d).toEqual({ action: 'fence', cause: 'healthy', phase: 'fencing', evidence: { kdump }, reason: 'resuming incident inc-1 from phase fencing: a fence once started is finished, and the host is never powered on again' });
  });
});

describe('held for an operator, healthy again without a fence', () => {
  it('closes, and tells the operators', () => {
    expect(decide(host({ incident: { cause: 'nova-api-only', phase: 'held', hold: { reason: 'restart did not help', needsOperator: true } } }), cluster(), SETTINGS)).toEqual({ action: 'close', cause: 'healthy', phase: 'recovered', alert: 'recovered', reason: 'healthy on every network and in Nova again: incident inc-1 closed as recovered' });
  });
});

describe('escalation of a held incident', () => {
  const heldAs = (cause: Cause, extra: object = {}) => ({ cause, phase: 'held' as const, hold: { reason: 'x', needsOperator: false }, ...extra });
  const escalatedFence = (from: Cause, extra: Partial<Decision> = {}): Decision => ({ action: 'fence', cause: 'node-unreachable', phase: 'fencing', because: HUNG, escalatedFrom: from, alert: 'escalated', reason: `worse than the ${from} incident inc-1 was held for: ${HUNG}${FENCING}`, ...extra });
  it.each<Case>([
    { name: 'tenant held, then hung: fenced, escalated and told', host: { ...hung, incident: heldAs('tenant-network') }, decision: escalatedFence('tenant-network') },
    { name: 'a decision with its own alert keeps it (shut down while mgmt was held)', host: { mgmt: 'left', storage: 'left', tenant: 'left', power: 'off', incident: heldAs('mgmt-network') }, decision: { action: 'repair', cause: 'shut-down', repair: 'power-on', phase: 'repairing', because: SHUT_DOWN, alert: 'shut-down', escalatedFrom: 'mgmt-network', reason: `worse than the mgmt-network incident inc-1 was held for: ${SHUT_DOWN}, but it is not in maintenance, so nova-ha treats it as a power loss and powers it back on; if the shutdown was on purpose, run "nova-ha maintenance on cmp1" before the next one` } },
    { name: 'a power-on after the fence was started is a fence instead: never powered on', host: { ...hung, power: 'off', incident: { cause: 'storage-network', phase: 'held', fenceStarted: true, hold: { reason: 'fence not verified', needsOperator: true } } }, decision: { action: 'fence', cause: 'power-lost', phase: 'fencing', because: `${POWER_LOST} after its fence was started`, escalatedFrom: 'storage-network', alert: 'escalated', reason: `worse than the storage-network incident inc-1 was held for: ${POWER_LOST} after its fence was started${FENCING}` } },
    { name: 'a fence after the fence was started stays the plain fence, its reason unchanged', host: { ...hung, incident: { cause: 'storage-network', phase: 'held', fenceStarted: true, hold: { reason: 'fence not verified', needsOperator: true } } }, decision: escalatedFence('storage-network') },
    { name: 'a power-on with no fence started stays a power-on', host: { ...hung, power: 'off', incident: heldAs('mgmt-network') }, decision: { action: 'repair', cause: 'power-lost', repair: 'power-on', phase: 'repairing', because: POWER_LOST, escalatedFrom: 'mgmt-network', alert: 'escalated', reason: `worse than the mgmt-network incident inc-1 was held for: ${POWER_LOST}: trying power-on` } },
    { name: 'attempts before the worse failure began are for another failure: the power-on is tried', host: { ...hung, power: 'off', incident: heldAs('mgmt-network', { attempts: { 'power-on': ago(3601) } }) }, decision: { action: 'repair', cause: 'power-lost', repair: 'power-on', phase: 'repairing', because: POWER_LOST, escalatedFrom: 'mgmt-network', alert: 'escalated', reason: `worse than the mgmt-network incident inc-1 was held for: ${POWER_LOST}: trying power-on` } },
    { name: 'an attempt made the moment the worse failure began counts', host: { ...hung, power: 'off', incident: heldAs('mgmt-network', { attempts: { 'power-on': ago(3600) } }) }, decision: { action: 'fence', cause: 'power-lost', phase: 'fencing', because: `${POWER_LOST}, and power-on did not bring it back within 5m`, escalatedFrom: 'mgmt-network', alert: 'escalated', reason: `worse than the mgmt-network incident inc-1 was held for: ${POWER_LOST}, and power-on did not bring it back within 5m${FENCING}` } },
    { name: 'held by a storm: recorded and told', host: { ...hung, incident: heldAs('tenant-network') }, cluster: storm, decision: { action: 'hold', cause: 'node-unreachable', guard: 'storm', phase: 'held', needsOperator: false, escalatedFrom: 'tenant-network', alert: 'escalated', reason: `${STORM}: holding; it would fence and evacuate because ${HUNG}` } },
    { name: 'held by the quiet period: recorded and told', host: { ...hung, incident: heldAs('tenant-network') }, cluster: { startedAgo: 30 }, decision: { action: 'none', cause: 'node-unreachable', guard: 'quiet-period', recheckInMs: s(90), escalatedFrom: 'tenant-network', alert: 'escalated', reason: `this controller started 30s ago and does nothing during the first 2m; it would fence and evacuate because ${HUNG}` } },
    { name: "held by Nova's absence: recorded, the Nova alert kept", host: { ...hung, incident: heldAs('tenant-network') }, cluster: { nova: 'down' }, decision: { action: 'hold', cause: 'node-unreachable', guard: 'nova-unavailable', alert: 'nova-unavailable', phase: 'held', needsOperator: false, escalatedFrom: 'tenant-network', reason: `${HUNG}: it needs fencing but Nova's API is down, so its instances could not be evacuated; held until Nova answers again` } },
    { name: 'held by a pause: recorded, the pause alert kept', host: { ...hung, incident: heldAs('tenant-network') }, cluster: { paused }, decision: { action: 'hold', cause: 'node-unreachable', because: HUNG, guard: 'paused', alert: 'paused-action', phase: 'held', needsOperator: false, escalatedFrom: 'tenant-network', reason: `nova-ha is paused (switch work): it would fence and evacuate because ${HUNG}` } },
    { name: 'an incident not held does not escalate: a plain fence', host: { ...hung, incident: { cause: 'tenant-network', phase: 'repairing' } }, decision: fenceOf('node-unreachable', HUNG) },
    { name: 'a failure as bad as the one held for does not escalate', host: { tenant: 'failed', incident: heldAs('mgmt-network') }, decision: { action: 'alert', cause: 'tenant-network', alert: 'tenant-network-down', phase: 'held', needsOperator: false, reason: `${TENANT}: operators alerted` } },
  ])('$name', check);

  it.each<[Cause, Cause | undefined, boolean]>([
    ['node-unreachable', 'tenant-network', true],
    ['storage-network', 'nova-compute-dead', true],
    ['nova-compute-dead', 'nova-api-only', true],
    ['tenant-network', 'mgmt-network', false],
    ['tenant-network', 'storage-network', false],
    ['power-lost', 'node-unreachable', false],
    ['node-unreachable', undefined, false],
    ['healthy', 'unknown', false],
  ])('worseThan(%s, %s) is %s', (cause, than, worse) => {
    expect(worseThan(cause, than)).toBe(worse);
  });
});

describe('confirming a failure', () => {
  it.each<Case>([
    { name: 'a new failure: confirming, with the time left', host: { storage: 'failed', netSince: ago(4) }, decision: { action: 'wait', cause: 'storage-network', guard: 'confirming', phase: 'confirming', recheckInMs: s(6), reason: `${STORAGE} for 4.0s; confirming for 10s before acting` } },
    { name: 'a confirming incident stays confirming', host: { storage: 'failed', netSince: ago(4), incident: { phase: 'confirming' } }, decision: { action: 'wait', cause: 'storage-network', guard: 'confirming', phase: 'confirming', recheckInMs: s(6), reason: `${STORAGE} for 4.0s; confirming for 10s before acting` } },
    { name: 'a detected incident moves to confirming', host: { storage: 'failed', netSince: ago(4), incident: { phase: 'detected' } }, decision: { action: 'wait', cause: 'storage-network', guard: 'confirming', phase: 'confirming', recheckInMs: s(6), reason: `${STORAGE} for 4.0s; confirming for 10s before acting` } },
    { name: 'a new row during a repair is confirmed without moving the incident back to confirming', host: { ...hung, netSince: ago(2), incident: { phase: 'repairing', attempts: { 'restart-storage-network': ago(30) } } }, decision: { action: 'wait', cause: 'node-unreachable', guard: 'confirming', recheckInMs: s(8), reason: `${HUNG} for 2.0s; confirming for 10s before acting` } },
    { name: 'confirmed the moment the window has passed', host: { storage: 'failed', netSince: ago(10) }, decision: { action: 'repair', cause: 'storage-network', repair: 'restart-storage-network', phase: 'repairing', because: STORAGE, reason: `${STORAGE}: trying restart-storage-network` } },
    { name: 'a host coming back from a power-unknown hold, tenant first: the new shape is confirmed, not fenced at once', host: { mgmt: 'failed', storage: 'failed', power: 'unknown', since: { mgmt: ago(40), storage: ago(40) }, backSince: { tenant: ago(1) }, incident: { phase: 'held', cause: 'power-unknown', hold: { reason: 'nothing is evacuated without verified fencing', needsOperator: false } } }, decision: { action: 'wait', cause: 'storage-network', guard: 'confirming', recheckInMs: s(9), reason: `${STORAGE} for 1.0s; confirming for 10s before acting` } },
    { name: 'the attempts of a closed incident do not count', host: { storage: 'failed', incident: { phase: 'recovered', attempts: { 'restart-storage-network': ago(30) } } }, decision: { action: 'repair', cause: 'storage-network', repair: 'restart-storage-network', phase: 'repairing', because: STORAGE, reason: `${STORAGE}: trying restart-storage-network` } },
  ])('$name', check);
});

describe('the decision matrix, whole decisions', () => {
  it.each<Case>([
    { name: 'healthy, no incident: nothing', host: {}, decision: { action: 'none', cause: 'healthy', reason: 'healthy' } },
    { name: 'nova-compute unknown on the node: nothing, the cause said unknown', host: { node: 'unknown' }, decision: { action: 'none', cause: 'unknown', guard: 'unknown-data', reason: "nova-compute's state on the node is unknown (its check is missing or not reporting)" } },
    { name: 'mgmt and tenant down: the mgmt alert mentions the tenant network', host: { mgmt: 'failed', tenant: 'failed' }, decision: { action: 'alert', cause: 'mgmt-network', alert: 'mgmt-network-down', phase: 'held', needsOperator: false, reason: 'its management network is down (and its tenant network): its instances still run and write, so it is never evacuated; operators alerted' } },
    { name: 'tenant down: alert', host: { tenant: 'failed' }, decision: { action: 'alert', cause: 'tenant-network', alert: 'tenant-network-down', phase: 'held', needsOperator: false, reason: `${TENANT}: operators alerted` } },
    { name: 'tenant down with the drain on: drain, held', host: { tenant: 'failed' }, settings: { drainOnTenantFailure: true }, decision: { action: 'drain', cause: 'tenant-network', alert: 'tenant-network-down', phase: 'held', needsOperator: false, because: TENANT, reason: `${TENANT}: live-migrating its instances away (opt-in drain)` } },
    { name: 'tenant down, drained before (drain since turned off): alert, saying so', host: { tenant: 'failed', incident: { phase: 'held', attempts: { drain: ago(100) } } }, decision: { action: 'alert', cause: 'tenant-network', alert: 'tenant-network-down', phase: 'held', needsOperator: false, reason: `${TENANT}: operators alerted (drain already done)` } },
    { name: 'BMC silent: alert', host: { ...hung, power: 'unknown' }, decision: { action: 'alert', cause: 'power-unknown', alert: 'power-unknown', phase: 'held', needsOperator: false, reason: 'failed on every network and its BMC does not answer: nothing is evacuated without verified fencing; operators alerted' } },
    { name: 'an agent left: alert named after the cause', host: { storage: 'left' }, decision: { action: 'alert', cause: 'agents-left', alert: 'agents-left', phase: 'held', needsOperator: false, reason: 'its Consul agent left storage cleanly: someone stopped it; operators alerted, nothing done' } },
    { name: 'off but alive: inconsistent, alert named after the cause', host: { power: 'off' }, decision: { action: 'alert', cause: 'inconsistent', alert: 'inconsistent', phase: 'held', needsOperator: false, reason: 'the BMC reports power off while the host is alive on every network (wrong BMC address?); operators alerted, nothing done' } },
    { name: 'storage down, mgmt down for a moment: mgmt confirmed first', host: { storage: 'failed', mgmt: 'failed', since: { storage: ago(120), mgmt: ago(2) } }, decision: { action: 'wait', cause: 'storage-network', guard: 'confirming', recheckInMs: s(8), reason: `${STORAGE}, and its management network has been down for 2.0s; confirming that for 10s before fencing` } },
    { name: 'storage down, mgmt down for exactly the window: fenced', host: { storage: 'failed', mgmt: 'failed', since: { storage: ago(120), mgmt: ago(10) } }, decision: fenceOf('storage-network', `${STORAGE}, and with the management network down too the repair request cannot reach it`) },
    { name: 'storage repair given its time: wait, and when to look again', host: { storage: 'failed', incident: { phase: 'repairing', attempts: { 'restart-storage-network': ago(30) } } }, decision: { action: 'wait', cause: 'storage-network', recheckInMs: s(30), reason: `${STORAGE}; restart-storage-network was tried 30s ago, waiting up to 1m for it to recover` } },
    { name: 'storage repair timed out to the millisecond: fenced', host: { storage: 'failed', incident: { phase: 'repairing', attempts: { 'restart-storage-network': ago(60) } } }, decision: fenceOf('storage-network', `${STORAGE}, and restart-storage-network did not bring it back within 1m`) },
    { name: 'nova-compute dead: restarted', host: { node: 'down' }, decision: { action: 'repair', cause: 'nova-compute-dead', repair: 'restart-nova-compute', phase: 'repairing', because: 'nova-compute is not running on the node', reason: 'nova-compute is not running on the node: trying restart-nova-compute' } },
    { name: 'power lost: powered on', host: { ...hung, power: 'off' }, decision: { action: 'repair', cause: 'power-lost', repair: 'power-on', phase: 'repairing', because: POWER_LOST, reason: `${POWER_LOST}: trying power-on` } },
    { name: 'power lost, power-on given the boot time', host: { ...hung, power: 'off', incident: { phase: 'repairing', attempts: { 'power-on': ago(100) } } }, decision: { action: 'wait', cause: 'power-lost', recheckInMs: s(200), reason: `${POWER_LOST}; power-on was tried 1m40s ago, waiting up to 5m for it to recover` } },
    { name: 'shut down: powered on, and told plainly', host: { mgmt: 'left', storage: 'left', tenant: 'left', power: 'off' }, decision: { action: 'repair', cause: 'shut-down', repair: 'power-on', phase: 'repairing', because: SHUT_DOWN, alert: 'shut-down', reason: `${SHUT_DOWN}, but it is not in maintenance, so nova-ha treats it as a power loss and powers it back on; if the shutdown was on purpose, run "nova-ha maintenance on cmp1" before the next one` } },
    { name: 'shut down, powered on and booting: a plain wait, no second shut-down alert', host: { mgmt: 'left', storage: 'left', tenant: 'left', power: 'off', incident: { phase: 'repairing', attempts: { 'power-on': ago(100) } } }, decision: { action: 'wait', cause: 'shut-down', recheckInMs: s(200), reason: `${SHUT_DOWN}; power-on was tried 1m40s ago, waiting up to 5m for it to recover` } },
    { name: 'on but unreachable after our power-on: booting, waited for as a power loss', host: { ...hung, incident: { phase: 'repairing', attempts: { 'power-on': ago(100) } } }, decision: { action: 'wait', cause: 'power-lost', recheckInMs: s(200), reason: `${HUNG}; power-on was tried 1m40s ago, waiting up to 5m for it to recover` } },
    { name: 'on but unreachable: fenced', host: hung, decision: fenceOf('node-unreachable', HUNG) },
  ])('$name', check);
});

describe("Nova's API alone reports nova-compute down", () => {
  const apiDown = (novaSince: number, attempts: object | undefined): HostShape => ({ api: 'down', novaSince, ...(attempts ? { incident: { phase: 'repairing', attempts } } : {}) });
  it.each<Case>([
    { name: 'right after our restart: the lag is waited out, no warning', host: apiDown(ago(20), { 'restart-nova-compute': ago(25) }), decision: { action: 'wait', cause: 'nova-api-only', recheckInMs: s(35), reason: `${API}: Nova's API has not seen it back yet, 25s after restart-nova-compute; waiting up to 1m` } },
    { name: 'after our power-on: the boot time is waited out', host: apiDown(ago(20), { 'power-on': ago(40) }), decision: { action: 'wait', cause: 'nova-api-only', recheckInMs: s(260), reason: `${API}: Nova's API has not seen it back yet, 40s after power-on; waiting up to 5m` } },
    { name: 'the latest repair counts (power-on first, the restart later)', host: apiDown(ago(20), { 'power-on': ago(100), 'restart-nova-compute': ago(30) }), decision: { action: 'wait', cause: 'nova-api-only', recheckInMs: s(30), reason: `${API}: Nova's API has not seen it back yet, 30s after restart-nova-compute; waiting up to 1m` } },
    { name: 'the latest repair counts (listed first, the earlier restart after it)', host: apiDown(ago(20), { 'power-on': ago(30), 'restart-nova-compute': ago(100) }), decision: { action: 'wait', cause: 'nova-api-only', recheckInMs: s(270), reason: `${API}: Nova's API has not seen it back yet, 30s after power-on; waiting up to 5m` } },
    { name: 'a drain is no repair whose lag is waited out', host: apiDown(ago(120), { 'restart-nova-compute': ago(100), drain: ago(5) }), decision: { action: 'hold', cause: 'nova-api-only', alert: 'needs-operator', phase: 'held', needsOperator: true, reason: `${API}, and restart-nova-compute did not bring it back within 1m; its instances still run, so it is held for an operator rather than fenced` } },
    { name: 'the lag window just over: the API-down wait goes on, with its warning', host: apiDown(ago(30), { 'restart-nova-compute': ago(60) }), decision: { action: 'wait', cause: 'nova-api-only', alert: 'nova-api-warning', recheckInMs: s(30), reason: `${API} for 30s while it runs on the node; waiting 1m for it to recover before restarting it` } },
    { name: 'a new warning: confirming, with the time left', host: apiDown(ago(30), undefined), decision: { action: 'wait', cause: 'nova-api-only', alert: 'nova-api-warning', phase: 'confirming', recheckInMs: s(30), reason: `${API} for 30s while it runs on the node; waiting 1m for it to recover before restarting it` } },
    { name: 'the wait over to the millisecond: restarted', host: apiDown(ago(60), undefined), decision: { action: 'repair', cause: 'nova-api-only', repair: 'restart-nova-compute', phase: 'repairing', because: API, reason: `${API}: trying restart-nova-compute` } },
  ])('$name', check);
});

describe("the node's report and the resend of a request", () => {
  const report = (result: RepairResult, at: number) => ({ result, detail: 'stor0 up, 0 of 3 storage servers reachable', at });
  const storage = (attemptAgo: number, extra: object = {}): HostShape => ({ storage: 'failed', incident: { phase: 'repairing', attempts: { 'restart-storage-network': ago(attemptAgo) }, ...extra } });
  const DUE = { reportDueMs: s(10) };
  const RESEND = (waited: string) => ({ action: 'repair' as const, cause: 'storage-network' as const, repair: 'restart-storage-network' as const, phase: 'repairing' as const, because: STORAGE, reason: `${STORAGE}; no report from the node ${waited} after restart-storage-network was asked for (Consul delivers events best effort): asking once more, still waiting up to 1m from the first request` });
  const wait = (waited: string, recheck: number): Decision => ({ action: 'wait', cause: 'storage-network', recheckInMs: recheck, reason: `${STORAGE}; restart-storage-network was tried ${waited} ago, waiting up to 1m for it to recover` });
  it.each<Case>([
    { name: 'refused: fenced at once, with the node\'s words', host: storage(25, { reports: { 'restart-storage-network': report('refused', ago(20)) } }), decision: fenceOf('storage-network', `${STORAGE}, and the node refused restart-storage-network (stor0 up, 0 of 3 storage servers reachable), 25s after it was asked for`) },
    { name: 'failed: fenced at once, with the node\'s words', host: storage(25, { reports: { 'restart-storage-network': report('failed', ago(20)) } }), decision: fenceOf('storage-network', `${STORAGE}, and restart-storage-network failed on the node (stor0 up, 0 of 3 storage servers reachable), 25s after it was asked for`) },
    { name: 'still broken: fenced at once, with the node\'s words', host: storage(25, { reports: { 'restart-storage-network': report('still-broken', ago(20)) } }), decision: fenceOf('storage-network', `${STORAGE}, and restart-storage-network ran but did not help: the node reports stor0 up, 0 of 3 storage servers reachable, 25s after it was asked for`) },
    { name: 'a report made at the very moment of the request counts', host: storage(25, { reports: { 'restart-storage-network': report('still-broken', ago(25)) } }), decision: fenceOf('storage-network', `${STORAGE}, and restart-storage-network ran but did not help: the node reports stor0 up, 0 of 3 storage servers reachable, 25s after it was asked for`) },
    { name: 'a hopeless report after the timeout: the timeout is the reason given', host: storage(61, { reports: { 'restart-storage-network': report('still-broken', ago(20)) } }), decision: fenceOf('storage-network', `${STORAGE}, and restart-storage-network did not bring it back within 1m`) },
    { name: 'a hopeless report with the timeout just reached: the timeout is the reason given', host: storage(60, { reports: { 'restart-storage-network': report('refused', ago(20)) } }), decision: fenceOf('storage-network', `${STORAGE}, and restart-storage-network did not bring it back within 1m`) },
    { name: 'no report when due: asked once more', host: storage(12, { requestsSent: { 'restart-storage-network': 1 } }), settings: DUE, decision: RESEND('12s') },
    { name: 'no report at the very moment it is due: asked once more', host: storage(10), settings: DUE, decision: RESEND('10s') },
    { name: 'no count of requests recorded: taken as one, asked once more', host: storage(12), settings: DUE, decision: RESEND('12s') },
    { name: 'a report that helped nothing yet (ran): no resend, wait out the timeout', host: storage(12, { reports: { 'restart-storage-network': report('ran', ago(5)) } }), settings: DUE, decision: wait('12s', s(48)) },
    { name: 'a resend due after the timeout: looked at when the timeout ends', host: storage(12), settings: { reportDueMs: s(90) }, decision: wait('12s', s(48)) },
    { name: 'a resend not yet due: looked at when it falls due', host: storage(6), settings: DUE, decision: wait('6.0s', s(4)) },
  ])('$name', check);

  it('a report filed under power-on never cuts the boot wait short (no node answers for a power-on)', () => {
    const h = host({ ...hung, power: 'off', incident: { phase: 'repairing', attempts: { 'power-on': ago(100) }, reports: { 'power-on': report('still-broken', ago(50)) } as never } });
    expect(decide(h, cluster(), { ...SETTINGS, ...DUE })).toEqual({ action: 'wait', cause: 'power-lost', recheckInMs: s(200), reason: `${POWER_LOST}; power-on was tried 1m40s ago, waiting up to 5m for it to recover` });
  });
});

describe('closing an incident', () => {
  const CLOSED = 'healthy on every network and in Nova again: incident inc-1 closed as recovered';
  it.each<Case>([
    { name: 'confirming, never told, nothing tried: closed silently', host: { incident: { phase: 'confirming' } }, decision: { action: 'close', cause: 'healthy', phase: 'recovered', reason: CLOSED } },
    { name: 'alerted: the recovery is told too', host: { incident: { phase: 'confirming', alerted: true } }, decision: { action: 'close', cause: 'healthy', phase: 'recovered', alert: 'recovered', reason: CLOSED } },
    { name: 'repairing: told', host: { incident: { phase: 'repairing' } }, decision: { action: 'close', cause: 'healthy', phase: 'recovered', alert: 'recovered', reason: CLOSED } },
    { name: 'held: told', host: { incident: { phase: 'held' } }, decision: { action: 'close', cause: 'healthy', phase: 'recovered', alert: 'recovered', reason: CLOSED } },
    { name: 'something was tried (a drain): told', host: { incident: { phase: 'confirming', attempts: { drain: ago(100) } } }, decision: { action: 'close', cause: 'healthy', phase: 'recovered', alert: 'recovered', reason: CLOSED } },
    { name: "after a restart, Nova's last report came before it: wait for the next report", host: { reportedAt: ago(8), incident: { phase: 'repairing', attempts: { 'restart-nova-compute': ago(5) } } }, decision: { action: 'wait', cause: 'healthy', reason: 'healthy on every network and nova-compute runs, but its last report to Nova (8.0s ago) came before restart-nova-compute took effect; incident inc-1 closes at its first report since' } },
    { name: 'after a restart, a report at the very moment of the restart: closed', host: { reportedAt: ago(5), incident: { phase: 'repairing', attempts: { 'restart-nova-compute': ago(5) } } }, decision: { action: 'close', cause: 'healthy', phase: 'recovered', alert: 'recovered', reason: CLOSED } },
    { name: 'after a restart, Nova gives no report time: closed', host: { incident: { phase: 'repairing', attempts: { 'restart-nova-compute': ago(5) } } }, decision: { action: 'close', cause: 'healthy', phase: 'recovered', alert: 'recovered', reason: CLOSED } },
    { name: 'after a power-on then a storage repair, the storage repair is the latest: closed', host: { reportedAt: ago(200), incident: { phase: 'repairing', attempts: { 'power-on': ago(100), 'restart-storage-network': ago(20) } } }, decision: { action: 'close', cause: 'healthy', phase: 'recovered', alert: 'recovered', reason: CLOSED } },
  ])('$name', check);
});

describe('classify: which row of the matrix', () => {
  const onNetworks = (shape: HostShape): HostObservation => host(shape);
  it.each<[string, HostObservation, ReturnType<typeof classify>]>([
    ['unknown on two networks, named in order', onNetworks({ storage: 'unknown', tenant: 'unknown', mgmt: 'failed' }), { cause: 'unknown', since: 0, reason: 'its state on storage, tenant is unknown (no leader, or the cluster could not be asked)' }],
    ['off while alive everywhere: since the power changed', { ...onNetworks({}), power: { state: 'off', since: ago(77) } }, { cause: 'inconsistent', since: ago(77), reason: 'the BMC reports power off while the host is alive on every network (wrong BMC address?)' }],
    ['nova-compute unknown on the node', onNetworks({ node: 'unknown' }), { cause: 'unknown', since: 0, reason: "nova-compute's state on the node is unknown (its check is missing or not reporting)" }],
    ['nova-compute down on the node: since its check changed', onNetworks({ node: 'down', novaSince: ago(42) }), { cause: 'nova-compute-dead', since: ago(42), reason: 'nova-compute is not running on the node' }],
    ["nova-compute unknown in Nova's API", onNetworks({ api: 'unknown' }), { cause: 'unknown', since: 0, reason: "nova-compute's state in Nova's API is unknown (the API could not be asked)" }],
    ['down in the API only, mgmt long back: since the API said so', onNetworks({ api: 'down', novaSince: ago(42) }), { cause: 'nova-api-only', since: ago(42), reason: API }],
    ['down in the API only, mgmt back later: since mgmt came back', onNetworks({ api: 'down', novaSince: ago(120), mgmtBackSince: ago(15) }), { cause: 'nova-api-only', since: ago(15), reason: API }],
    ['healthy', onNetworks({}), { cause: 'healthy', since: 0, reason: 'healthy' }],
    ['left everywhere and off: shut down, since the last network went', onNetworks({ mgmt: 'left', storage: 'left', tenant: 'left', power: 'off', since: { mgmt: ago(50), storage: ago(30), tenant: ago(40) } }), { cause: 'shut-down', since: ago(30), reason: SHUT_DOWN }],
    ['down everywhere (one left) and off: power lost', onNetworks({ mgmt: 'left', storage: 'failed', tenant: 'failed', power: 'off', since: { mgmt: ago(50), storage: ago(60), tenant: ago(40) } }), { cause: 'power-lost', since: ago(40), reason: POWER_LOST }],
    ['down everywhere, one left, power on: agents stopped', onNetworks({ mgmt: 'left', storage: 'failed', tenant: 'failed', since: { mgmt: ago(50), storage: ago(20), tenant: ago(40) } }), { cause: 'agents-left', since: ago(20), reason: 'its Consul agents left mgmt cleanly while the power is on: someone stopped them' }],
    ['left everywhere, BMC silent: agents stopped', onNetworks({ mgmt: 'left', storage: 'left', tenant: 'left', power: 'unknown' }), { cause: 'agents-left', since: ago(3600), reason: 'its Consul agents left mgmt, storage, tenant cleanly while the power is unknown: someone stopped them' }],
    ['failed everywhere, power on: since the last network failed', onNetworks({ ...hung, since: { mgmt: ago(50), storage: ago(30), tenant: ago(40) } }), { cause: 'node-unreachable', since: ago(30), reason: HUNG }],
    ['failed everywhere, BMC silent', onNetworks({ ...hung, power: 'unknown' }), { cause: 'power-unknown', since: ago(3600), reason: 'failed on every network and its BMC does not answer' }],
    ['one left, one failed: agents stopped, since the leave', onNetworks({ storage: 'left', tenant: 'failed', since: { storage: ago(100), tenant: ago(20) } }), { cause: 'agents-left', since: ago(100), reason: 'its Consul agent left storage cleanly: someone stopped it' }],
    ['two agents left, mgmt alive: both named', onNetworks({ storage: 'left', tenant: 'left' }), { cause: 'agents-left', since: ago(3600), reason: 'its Consul agent left storage, tenant cleanly: someone stopped it' }],
    ['storage and tenant failed: the storage row, since storage failed', onNetworks({ storage: 'failed', tenant: 'failed', since: { storage: ago(100), tenant: ago(20) } }), { cause: 'storage-network', since: ago(100), reason: STORAGE }],
    ['mgmt failed: since mgmt failed', onNetworks({ mgmt: 'failed', since: { mgmt: ago(70) } }), { cause: 'mgmt-network', since: ago(70), reason: 'its management network is down' }],
    ['tenant failed: since tenant failed', onNetworks({ tenant: 'failed', since: { tenant: ago(70) } }), { cause: 'tenant-network', since: ago(70), reason: TENANT }],
    ['back from failing everywhere, tenant first: the storage row, since tenant came back', onNetworks({ mgmt: 'failed', storage: 'failed', since: { mgmt: ago(40), storage: ago(40) }, backSince: { tenant: ago(3) } }), { cause: 'storage-network', since: ago(3), reason: STORAGE }],
    ['storage failed, mgmt back before tenant: since the first network back', onNetworks({ storage: 'failed', since: { storage: ago(60) }, backSince: { mgmt: ago(5), tenant: ago(2) } }), { cause: 'storage-network', since: ago(5), reason: STORAGE }],
    ['storage failed after the host came back: since storage failed', onNetworks({ storage: 'failed', since: { storage: ago(20) }, backSince: { mgmt: ago(50), tenant: ago(50) } }), { cause: 'storage-network', since: ago(20), reason: STORAGE }],
    ['mgmt still failed, storage and tenant back: the mgmt row, since the first network back', onNetworks({ mgmt: 'failed', since: { mgmt: ago(90) }, backSince: { storage: ago(4), tenant: ago(6) } }), { cause: 'mgmt-network', since: ago(6), reason: 'its management network is down' }],
  ])('%s', (_name, h, row) => {
    expect(classify(h)).toEqual(row);
  });
});

describe('the storm limit', () => {
  it.each<[string, Parameters<typeof stormThreshold>[0], number, number]>([
    ['a count is the count', { count: 3 }, 4, 3],
    ['a count of zero is zero, not a share', { count: 0 }, 40, 0],
    ['ten percent of 1000', { percent: 10 }, 1000, 100],
    ['a share is rounded down', { percent: 50 }, 7, 3],
    ['ten percent of 15 is one', { percent: 10 }, 15, 1],
    ['a share is at least one host', { percent: 10 }, 4, 1],
    ['no count nor percentage: every host', {}, 7, 7],
  ])('%s', (_name, limit, hosts, threshold) => {
    expect(stormThreshold(limit, hosts)).toBe(threshold);
  });

  it('names every network (and the API) over the limit, in order, with the limit', () => {
    expect(stormOf(cluster({ hosts: 20, failed: { mgmt: 3, storage: 2, tenant: 5 }, novaApiDown: 4 }), { percent: 10 })).toBe("storm: 3 hosts failed on the mgmt network, 5 hosts failed on the tenant network, 4 hosts failed on the Nova's API (limit 2 of 20)");
  });

  it('at the limit is no storm', () => {
    expect(stormOf(cluster({ hosts: 20, failed: { mgmt: 2, storage: 2, tenant: 2 }, novaApiDown: 2 }), { percent: 10 })).toBeUndefined();
  });
});

describe('settingsFromConfig', () => {
  const config = (watchdog: boolean, kdump: boolean) => ({
    policy: { confirmation_window: 1, api_down_wait: 2, repair_timeout: 3, boot_timeout: 4, startup_quiet_period: 5, storm_limit: { count: 6 } },
    fencing: { method: 'agent' },
    evacuation: { live_migrate_on_tenant_failure: true },
    remediation: { settle_time: 7000 },
    watchdog: { enabled: watchdog, margin: 8 },
    kdump: { enabled: kdump, interval: 9, first_message_wait: 10, timeout: 11 },
  }) as unknown as Parameters<typeof settingsFromConfig>[0];
  const common = { confirmationWindow: 1, apiDownWait: 2, repairTimeout: 3, bootTimeout: 4, startupQuietPeriod: 5, stormLimit: { count: 6 }, fencing: 'agent', drainOnTenantFailure: true, reportDueMs: 12_000 };

  it('maps each option; the report is due the settle time plus the grace after a request', () => {
    expect(settingsFromConfig(config(false, false))).toEqual(common);
    expect('selfFence' in settingsFromConfig(config(false, false))).toBe(false);
    expect('kdump' in settingsFromConfig(config(false, false))).toBe(false);
  });

  it('the watchdog and kdump settings only when enabled', () => {
    expect(settingsFromConfig(config(true, true))).toEqual({ ...common, selfFence: { marginMs: 8 }, kdump: { intervalMs: 9, firstMessageWaitMs: 10, timeoutMs: 11 } });
  });
});
