import { describe, expect, it } from 'vitest';
import { decide, stormOf, stormThreshold, type Action, type Cause, type Guard } from '../../lib/decision/policy.js';
import { HOPELESS_RESULTS, type RepairResult } from '../../lib/decision/model.js';
import { SETTINGS, ago, cluster, host, s, type ClusterShape, type HostShape } from '../support/observations.js';

interface Case {
  name: string;
  host: HostShape;
  cluster?: ClusterShape;
  settings?: Partial<typeof SETTINGS>;
  action: Action;
  cause?: Cause;
  guard?: Guard;
  repair?: string;
  alert?: string;
  phase?: string;
}

function check(c: Case): void {
  const decision = decide(host(c.host), cluster(c.cluster), { ...SETTINGS, ...c.settings });
  expect({ action: decision.action, ...(c.cause ? { cause: decision.cause } : {}), ...(c.guard !== undefined ? { guard: decision.guard } : {}), ...(c.repair ? { repair: decision.repair } : {}), ...(c.alert ? { alert: decision.alert } : {}), ...(c.phase ? { phase: decision.phase } : {}) }, decision.reason).toEqual({
    action: c.action,
    ...(c.cause ? { cause: c.cause } : {}),
    ...(c.guard !== undefined ? { guard: c.guard } : {}),
    ...(c.repair ? { repair: c.repair } : {}),
    ...(c.alert ? { alert: c.alert } : {}),
    ...(c.phase ? { phase: c.phase } : {}),
  });
  expect(decision.reason.length).toBeGreaterThan(5);
}

// design.md section 4, one case per row (failures confirmed: they began an hour ago).
const matrix: Case[] = [
  { name: 'healthy: nothing to do', host: {}, action: 'none', cause: 'healthy' },
  { name: 'healthy with an open incident: close it as recovered', host: { incident: { phase: 'repairing', attempts: { 'restart-storage-network': ago(20) } } }, action: 'close', cause: 'healthy', phase: 'recovered', alert: 'recovered' },
  { name: 'mgmt down, storage up, tenant up: alert, never evacuate', host: { mgmt: 'failed' }, action: 'alert', cause: 'mgmt-network', alert: 'mgmt-network-down' },
  { name: 'mgmt down, storage up, tenant down: still the mgmt row', host: { mgmt: 'failed', tenant: 'failed' }, action: 'alert', cause: 'mgmt-network' },
  { name: 'tenant down only: alert', host: { tenant: 'failed' }, action: 'alert', cause: 'tenant-network', alert: 'tenant-network-down' },
  { name: 'tenant down with the opt-in drain: live-migrate', host: { tenant: 'failed' }, settings: { drainOnTenantFailure: true }, action: 'drain', cause: 'tenant-network' },
  { name: 'tenant down, drain already done: alert only', host: { tenant: 'failed', incident: { phase: 'held', attempts: { drain: ago(100) } } }, settings: { drainOnTenantFailure: true }, action: 'alert', cause: 'tenant-network' },
  { name: 'storage down: repair the storage network', host: { storage: 'failed' }, action: 'repair', cause: 'storage-network', repair: 'restart-storage-network', phase: 'repairing' },
  { name: 'storage and tenant down: storage row, repair', host: { storage: 'failed', tenant: 'failed' }, action: 'repair', cause: 'storage-network' },
  { name: 'storage down, repair given its time: wait', host: { storage: 'failed', incident: { phase: 'repairing', attempts: { 'restart-storage-network': ago(30) } } }, action: 'wait', cause: 'storage-network' },
  { name: 'storage down, repair failed: fence', host: { storage: 'failed', incident: { phase: 'repairing', attempts: { 'restart-storage-network': ago(61) } } }, action: 'fence', cause: 'storage-network', phase: 'fencing' },
  { name: 'storage and mgmt down: the repair cannot reach it, fence', host: { storage: 'failed', mgmt: 'failed' }, action: 'fence', cause: 'storage-network' },
  { name: '11. storage down long, mgmt down for a moment (a blip, e.g. the repair restarting interfaces): confirm mgmt before fencing', host: { storage: 'failed', mgmt: 'failed', since: { storage: ago(120), mgmt: ago(2) }, incident: { phase: 'repairing', attempts: { 'restart-storage-network': ago(5) } } }, action: 'wait', cause: 'storage-network', guard: 'confirming' },
  { name: '11. storage down long, mgmt down for the whole window: fence', host: { storage: 'failed', mgmt: 'failed', since: { storage: ago(120), mgmt: ago(11) } }, action: 'fence', cause: 'storage-network' },
  { name: 'all down, power on: hung or cut off, fence', host: { mgmt: 'failed', storage: 'failed', tenant: 'failed' }, action: 'fence', cause: 'node-unreachable', phase: 'fencing' },
  { name: 'all down, power off not by us: power on', host: { mgmt: 'failed', storage: 'failed', tenant: 'failed', power: 'off' }, action: 'repair', cause: 'power-lost', repair: 'power-on' },
  { name: 'all down after power-on, within boot timeout: wait', host: { mgmt: 'failed', storage: 'failed', tenant: 'failed', power: 'on', incident: { phase: 'repairing', attempts: { 'power-on': ago(100) } } }, action: 'wait', cause: 'power-lost' },
  { name: 'power-on failed (still off) after boot timeout: fence (verifiably off) and evacuate', host: { mgmt: 'failed', storage: 'failed', tenant: 'failed', power: 'off', incident: { phase: 'repairing', attempts: { 'power-on': ago(301) } } }, action: 'fence', cause: 'power-lost' },
  { name: 'powered on but not back after boot timeout: fence and evacuate', host: { mgmt: 'failed', storage: 'failed', tenant: 'failed', power: 'on', incident: { phase: 'repairing', attempts: { 'power-on': ago(301) } } }, action: 'fence', cause: 'power-lost' },
  { name: 'all down, BMC unreachable: alert, no evacuation', host: { mgmt: 'failed', storage: 'failed', tenant: 'failed', power: 'unknown' }, action: 'alert', cause: 'power-unknown', alert: 'power-unknown' },
  { name: 'only Nova thinks it is down, within the wait: wait and warn', host: { api: 'down', novaSince: ago(30) }, action: 'wait', cause: 'nova-api-only', alert: 'nova-api-warning' },
  { name: 'only Nova thinks it is down, past the wait: restart nova-compute', host: { api: 'down', novaSince: ago(61) }, action: 'repair', cause: 'nova-api-only', repair: 'restart-nova-compute' },
  { name: 'only Nova thinks it is down, restart did not help: hold for an operator, never fence', host: { api: 'down', novaSince: ago(300), incident: { phase: 'repairing', attempts: { 'restart-nova-compute': ago(61) } } }, action: 'hold', cause: 'nova-api-only', alert: 'needs-operator' },
  { name: 'nova-compute dead on the node: restart it', host: { node: 'down' }, action: 'repair', cause: 'nova-compute-dead', repair: 'restart-nova-compute' },
  { name: 'nova-compute dead on the node and in the API: restart it', host: { node: 'down', api: 'down' }, action: 'repair', cause: 'nova-compute-dead' },
  { name: 'nova-compute restart failed: fence', host: { node: 'down', incident: { phase: 'repairing', attempts: { 'restart-nova-compute': ago(61) } } }, action: 'fence', cause: 'nova-compute-dead' },
];

// "unknown means no action": one case per input that can be unknown.
const unknowns: Case[] = [
  { name: 'mgmt unknown', host: { mgmt: 'unknown', storage: 'failed' }, action: 'none', guard: 'unknown-data' },
  { name: 'storage unknown', host: { storage: 'unknown' }, action: 'none', guard: 'unknown-data' },
  { name: 'tenant unknown', host: { tenant: 'unknown', mgmt: 'failed', storage: 'failed' }, action: 'none', guard: 'unknown-data' },
  { name: 'nova-compute on the node unknown', host: { node: 'unknown' }, action: 'none', guard: 'unknown-data' },
  { name: 'nova-compute in the API unknown', host: { api: 'unknown' }, action: 'none', guard: 'unknown-data' },
  { name: 'maintenance flag unknown', host: { maintenance: 'unknown', storage: 'failed' }, action: 'none', guard: 'unknown-data' },
  { name: 'incident record unknown', host: { incident: 'unknown', storage: 'failed' }, action: 'none', guard: 'unknown-data' },
  { name: 'pause switch unknown', host: { storage: 'failed' }, cluster: { paused: 'unknown' }, action: 'none', guard: 'unknown-data' },
  { name: 'Nova API unreachable: no fencing, held and alerted', host: { mgmt: 'failed', storage: 'failed', tenant: 'failed' }, cluster: { nova: 'unknown' }, action: 'hold', guard: 'nova-unavailable', alert: 'nova-unavailable' },
  { name: 'Nova schedulers down: no fencing, held and alerted', host: { mgmt: 'failed', storage: 'failed', tenant: 'failed' }, cluster: { schedulers: 'down' }, action: 'hold', guard: 'nova-unavailable' },
  { name: 'power unknown while all down: alert only', host: { mgmt: 'failed', storage: 'failed', tenant: 'failed', power: 'unknown' }, action: 'alert', cause: 'power-unknown' },
];

const hung: HostShape = { mgmt: 'failed', storage: 'failed', tenant: 'failed' };

// The safety invariants (design.md section 6) that the policy owns.
const invariants: Case[] = [
  { name: '1. fence needs a fence method: held, never evacuated', host: hung, settings: { fencing: 'none' }, action: 'hold', guard: 'no-fence-method', alert: 'needs-operator' },
  { name: '3. observer isolated on storage: nothing', host: { storage: 'failed' }, cluster: { observer: { storage: 'isolated' } }, action: 'none', guard: 'observer-isolated' },
  { name: '3. observer state unknown: nothing', host: hung, cluster: { observer: { mgmt: 'unknown' } }, action: 'none', guard: 'observer-isolated' },
  { name: '3. storm: more hosts failed than the limit, hold', host: hung, cluster: { hosts: 20, failed: { mgmt: 3, storage: 3, tenant: 3 } }, action: 'hold', guard: 'storm' },
  { name: '3. storm counts Nova API down too (message bus outage)', host: { api: 'down', novaSince: ago(100) }, cluster: { hosts: 20, novaApiDown: 20 }, action: 'hold', guard: 'storm' },
  { name: '3. at the storm limit: act', host: hung, cluster: { hosts: 20, failed: { mgmt: 2, storage: 2, tenant: 2 } }, action: 'fence' },
  { name: '3. storm does not stop a fence already under way', host: { ...hung, incident: { phase: 'fencing', fenceStarted: true } }, cluster: { hosts: 20, failed: { mgmt: 10 } }, action: 'fence' },
  { name: '6. fenced stays fenced even when healthy again (the operators were told when it came back)', host: { incident: { phase: 'fenced', fenceStarted: true, seenOnWhileFenced: ago(60) } }, action: 'none', guard: 'fenced' },
  { name: '6. a fenced host seen on again: the operators are told, once; it stays fenced', host: { incident: { phase: 'fenced', fenceStarted: true } }, action: 'alert', guard: 'fenced', alert: 'fenced-host-on' },
  { name: '6. a fenced host whose BMC says on but still down everywhere: told too', host: { ...hung, power: 'on', incident: { phase: 'fenced', fenceStarted: true } }, action: 'alert', guard: 'fenced', alert: 'fenced-host-on' },
  { name: '6. a fenced host still off: nothing to tell', host: { ...hung, power: 'off', incident: { phase: 'fenced', fenceStarted: true } }, action: 'none', guard: 'fenced' },
  { name: '6. a fenced host on again, in maintenance: nothing to tell', host: { maintenance: 'on', incident: { phase: 'fenced', fenceStarted: true } }, action: 'none', guard: 'fenced' },
  { name: '3. a fenced host on again, seen by an isolated observer: nothing to tell', host: { incident: { phase: 'fenced', fenceStarted: true } }, cluster: { observer: { tenant: 'isolated' } }, action: 'none', guard: 'fenced' },
  { name: '6. fenced stays fenced: never powered on', host: { ...hung, power: 'off', incident: { phase: 'fenced', fenceStarted: true } }, action: 'none', guard: 'fenced' },
  { name: '6. a held fence that was started: an operator decides even when healthy', host: { incident: { phase: 'held', fenceStarted: true, hold: { reason: 'power off not verified', needsOperator: true } } }, action: 'none', guard: 'operator-hold' },
  { name: '7. maintenance (nova-ha flag or Consul): never acted on', host: { ...hung, maintenance: 'on' }, action: 'none', guard: 'maintenance' },
  { name: '6. paused during a fence: the fence keeps its phase and nothing else is done', host: { ...hung, power: 'off', incident: { phase: 'evacuating', fenceStarted: true } }, cluster: { paused: { reason: 'x', since: ago(60) } }, action: 'none', guard: 'paused' },
  { name: '6. a fence started but not held for an operator (e.g. held by a pause before): finished, never powered on', host: { ...hung, power: 'off', incident: { phase: 'held', fenceStarted: true, hold: { reason: 'paused', needsOperator: false } } }, action: 'fence' },
  { name: 'pause: no action, but alerts go on', host: hung, cluster: { paused: { reason: 'switch upgrade', since: ago(60) } }, action: 'hold', guard: 'paused', alert: 'paused-action' },
  { name: 'pause does not silence alert-only rows', host: { mgmt: 'failed' }, cluster: { paused: { reason: 'x', since: ago(60) } }, action: 'alert', alert: 'mgmt-network-down' },
  { name: 'quiet period after the observer starts: nothing', host: hung, cluster: { startedAgo: 30 }, action: 'none', guard: 'quiet-period' },
  { name: 'quiet period does not stop a fence under way', host: { ...hung, incident: { phase: 'evacuating', fenceStarted: true } }, cluster: { startedAgo: 30 }, action: 'fence' },
  { name: 'clean leave everywhere while powered on: someone stopped the agents, alert only', host: { mgmt: 'left', storage: 'left', tenant: 'left' }, action: 'alert', cause: 'agents-left' },
  { name: 'one agent left cleanly: alert, not a storage fault', host: { storage: 'left' }, action: 'alert', cause: 'agents-left' },
  { name: 'clean shutdown without maintenance, power off: power it back on and say so plainly', host: { mgmt: 'left', storage: 'left', tenant: 'left', power: 'off' }, action: 'repair', cause: 'shut-down', repair: 'power-on', alert: 'shut-down' },
  { name: 'clean shutdown, powered on but not back after the boot timeout: fence (verifiably off)', host: { mgmt: 'left', storage: 'left', tenant: 'left', power: 'off', incident: { phase: 'repairing', attempts: { 'power-on': ago(301) } } }, action: 'fence', cause: 'shut-down' },
  { name: 'power off but alive everywhere: inconsistent, alert only', host: { power: 'off' }, action: 'alert', cause: 'inconsistent' },
];

// Time: confirmation window, flaps, resumption.
const transitions: Case[] = [
  { name: 'a failure younger than the confirmation window: wait (confirming)', host: { ...hung, netSince: ago(3) }, action: 'wait', guard: 'confirming', phase: 'confirming' },
  { name: 'a storage failure younger than the window: wait', host: { storage: 'failed', netSince: ago(9) }, action: 'wait', guard: 'confirming' },
  { name: 'a failure that cleared inside the window: incident closed silently', host: { incident: { phase: 'confirming' } }, action: 'close', phase: 'recovered' },
  { name: "right after nova-ha restarted nova-compute, Nova's API lagging is waited out without a new warning", host: { api: 'down', novaSince: ago(3), incident: { phase: 'repairing', attempts: { 'restart-nova-compute': ago(5) } } }, action: 'wait', cause: 'nova-api-only' },
  { name: "after a power-on, Nova's API lagging the boot is waited out within the boot timeout", host: { api: 'down', novaSince: ago(20), incident: { phase: 'repairing', attempts: { 'power-on': ago(40) } } }, action: 'wait', cause: 'nova-api-only' },
  { name: "healthy after nova-ha restarted nova-compute, but Nova's 'up' is the old process's last report: wait before closing", host: { reportedAt: ago(8), incident: { phase: 'repairing', attempts: { 'restart-nova-compute': ago(5) } } }, action: 'wait', cause: 'healthy' },
  { name: 'healthy and nova-compute has reported since the restart: close', host: { reportedAt: ago(1), incident: { phase: 'repairing', attempts: { 'restart-nova-compute': ago(5) } } }, action: 'close', phase: 'recovered' },
  { name: 'healthy after a restart, but the report came before the node saw the new process (the old one reporting on its way out): wait', host: { reportedAt: ago(3), novaNodeSince: ago(2), incident: { phase: 'repairing', attempts: { 'restart-nova-compute': ago(8) } } }, action: 'wait', cause: 'healthy' },
  { name: 'healthy after a power-on, no report since the power-on: wait before closing', host: { reportedAt: ago(200), incident: { phase: 'repairing', attempts: { 'power-on': ago(100) } } }, action: 'wait', cause: 'healthy' },
  { name: "healthy after a storage repair: Nova's last report does not matter", host: { reportedAt: ago(30), incident: { phase: 'repairing', attempts: { 'restart-storage-network': ago(20) } } }, action: 'close' },
  { name: 'the management network just came back and Nova still has nova-compute down: the API-down wait counts from its return', host: { api: 'down', novaSince: ago(120), mgmtBackSince: ago(15), incident: { phase: 'held', alerted: true } }, action: 'wait', cause: 'nova-api-only' },
  { name: 'the management network came back long ago and Nova still has nova-compute down: restart it', host: { api: 'down', novaSince: ago(120), mgmtBackSince: ago(61), incident: { phase: 'held', alerted: true } }, action: 'repair', repair: 'restart-nova-compute' },
  { name: 'a fence under way resumes even if the host looks healthy', host: { incident: { phase: 'forcing-down', fenceStarted: true } }, action: 'fence' },
  { name: 'a row change during repair (storage to all down) is confirmed again', host: { ...hung, netSince: ago(2), incident: { phase: 'repairing', attempts: { 'restart-storage-network': ago(30) } } }, action: 'wait', guard: 'confirming' },
];

// A held incident must not hide a worse failure (issue 13, item 6).
const escalations: Case[] = [
  { name: 'tenant cut (alert only), then the host hangs: fenced, escalated and told', host: { ...hung, incident: { cause: 'tenant-network', phase: 'held', alerted: true, hold: { reason: 'tenant network down', needsOperator: false } } }, action: 'fence', cause: 'node-unreachable', alert: 'escalated' },
  { name: 'mgmt cut (alert only), then the power goes: powered on, escalated', host: { ...hung, power: 'off', incident: { cause: 'mgmt-network', phase: 'held', hold: { reason: 'mgmt network down', needsOperator: false } } }, action: 'repair', cause: 'power-lost', repair: 'power-on' },
  { name: 'held for an operator (nova-compute restart did not help), then the host hangs: fenced', host: { ...hung, incident: { cause: 'nova-api-only', phase: 'held', attempts: { 'restart-nova-compute': ago(7200) }, hold: { reason: 'restart did not help', needsOperator: true } } }, action: 'fence', cause: 'node-unreachable', alert: 'escalated' },
  { name: 'held for an operator, then nova-compute dies on the node: its own restart is tried first', host: { node: 'down', novaNodeSince: ago(30), incident: { cause: 'nova-api-only', phase: 'held', attempts: { 'restart-nova-compute': ago(7200) }, hold: { reason: 'restart did not help', needsOperator: true } } }, action: 'repair', cause: 'nova-compute-dead', repair: 'restart-nova-compute', alert: 'escalated' },
  { name: 'held for an operator, a worse failure not yet confirmed: still held (waiting)', host: { ...hung, netSince: ago(3), incident: { cause: 'nova-api-only', phase: 'held', hold: { reason: 'restart did not help', needsOperator: true } } }, action: 'wait', guard: 'confirming' },
  { name: 'held for an operator, the same failure again: still held', host: { api: 'down', novaSince: ago(900), incident: { cause: 'nova-api-only', phase: 'held', attempts: { 'restart-nova-compute': ago(600) }, hold: { reason: 'restart did not help', needsOperator: true } } }, action: 'none', guard: 'operator-hold' },
  { name: 'held for an operator, a milder failure: still held', host: { tenant: 'failed', incident: { cause: 'storage-network', phase: 'held', hold: { reason: 'x', needsOperator: true } } }, action: 'none', guard: 'operator-hold' },
  { name: 'an unverified fence held for an operator, the host now off: fenced as it is, never powered on', host: { ...hung, power: 'off', incident: { cause: 'storage-network', phase: 'held', fenceStarted: true, hold: { reason: 'fence not verified', needsOperator: true } } }, action: 'fence', cause: 'power-lost', alert: 'escalated' },
  { name: 'escalation still yields to maintenance', host: { ...hung, maintenance: 'on', incident: { cause: 'tenant-network', phase: 'held', hold: { reason: 'x', needsOperator: true } } }, action: 'none', guard: 'maintenance' },
  { name: 'escalation still yields to a pause (held, and told)', host: { ...hung, incident: { cause: 'tenant-network', phase: 'held', hold: { reason: 'x', needsOperator: true } } }, cluster: { paused: { reason: 'switch work', since: ago(60) } }, action: 'hold', guard: 'paused' },
  { name: 'escalation held by a storm is still recorded and told', host: { ...hung, incident: { cause: 'tenant-network', phase: 'held', hold: { reason: 'x', needsOperator: true } } }, cluster: { hosts: 20, failed: { mgmt: 5, storage: 5, tenant: 5 } }, action: 'hold', guard: 'storm', alert: 'escalated' },
];

describe('held incidents escalate on a strictly worse failure', () => {
  it.each(escalations)('$name', check);

  it('records what the incident was held as', () => {
    const decision = decide(host({ ...hung, incident: { cause: 'tenant-network', phase: 'held', hold: { reason: 'x', needsOperator: false } } }), cluster(), SETTINGS);
    expect(decision.escalatedFrom).toBe('tenant-network');
    expect(decision.reason).toMatch(/worse than the tenant-network incident inc-1 was held for/);
    const stormHeld = decide(host({ ...hung, incident: { cause: 'tenant-network', phase: 'held', hold: { reason: 'x', needsOperator: true } } }), cluster({ hosts: 20, failed: { mgmt: 5 } }), SETTINGS);
    expect(stormHeld.escalatedFrom).toBe('tenant-network');
  });

  it('an incident without a known cause (a hand-written simulate file) never escalates', () => {
    expect(decide(host({ ...hung, incident: { phase: 'held', hold: { reason: 'x', needsOperator: true } } }), cluster(), SETTINGS).guard).toBe('operator-hold');
  });
});

describe('decision matrix (design.md section 4)', () => {
  it.each(matrix)('$name', check);
});
describe('unknown means no action', () => {
  it.each(unknowns)('$name', check);
});
describe('safety invariants owned by the policy', () => {
  it.each(invariants)('$name', check);
});
describe('transitions', () => {
  it.each(transitions)('$name', check);

  it('a link that flaps faster than the confirmation window never leads to action', () => {
    // The failure restarts its clock at every flap: the window is never filled.
    for (const failedFor of [1, 4, 9]) {
      const decision = decide(host({ storage: 'failed', netSince: ago(failedFor) }), cluster(), SETTINGS);
      expect(decision.action).toBe('wait');
      const back = decide(host({ incident: { phase: 'confirming' } }), cluster(), SETTINGS);
      expect(back.action).toBe('close');
      expect(back.alert).toBeUndefined();
    }
  });

  it("no Nova-API warning right after nova-ha's own restart", () => {
    const decision = decide(host({ api: 'down', novaSince: ago(3), incident: { phase: 'repairing', attempts: { 'restart-nova-compute': ago(5) } } }), cluster(), SETTINGS);
    expect(decision.alert).toBeUndefined();
  });

  it('tells when to look again', () => {
    const decision = decide(host({ storage: 'failed', netSince: ago(4) }), cluster(), SETTINGS);
    expect(decision.recheckInMs).toBe(s(6));
  });
});

// Issue 15.4 and 19: the node's verified report on a repair can only end the wait early, towards
// the same fence (or, for nova-api-only, hold) the repair timeout would have reached.
const report = (result: RepairResult, at = ago(20)) => ({ result, detail: `the node's evidence (${result})`, at });
const storageRepair = (result: RepairResult, at?: number): HostShape => ({ storage: 'failed', incident: { phase: 'repairing', attempts: { 'restart-storage-network': ago(25) }, reports: { 'restart-storage-network': report(result, at) } } });
const novaRestart = (result: RepairResult): HostShape => ({ node: 'down', incident: { phase: 'repairing', attempts: { 'restart-nova-compute': ago(25) }, reports: { 'restart-nova-compute': report(result) } } });
const apiRestart = (result: RepairResult): HostShape => ({ api: 'down', novaSince: ago(300), incident: { phase: 'repairing', attempts: { 'restart-nova-compute': ago(25) }, reports: { 'restart-nova-compute': report(result) } } });
const reports: Case[] = [
  { name: 'storage repair refused by the node: fence at once, not after the timeout', host: storageRepair('refused'), action: 'fence', cause: 'storage-network', phase: 'fencing' },
  { name: 'storage repair command failed on the node: fence at once', host: storageRepair('failed'), action: 'fence', cause: 'storage-network' },
  { name: 'storage repair ran but the node still cannot reach storage: fence at once', host: storageRepair('still-broken'), action: 'fence', cause: 'storage-network' },
  { name: 'storage repair ran, nothing checked: wait out the timeout as before', host: storageRepair('ran'), action: 'wait', cause: 'storage-network' },
  { name: 'storage repair ran and the node reached storage: still only waiting for the health state', host: storageRepair('works'), action: 'wait', cause: 'storage-network' },
  { name: 'a hopeless report older than the attempt (an earlier failure) changes nothing', host: storageRepair('still-broken', ago(40)), action: 'wait', cause: 'storage-network' },
  { name: 'a hopeless report while the host is healthy again: close, never fence', host: { incident: { phase: 'repairing', attempts: { 'restart-storage-network': ago(25) }, reports: { 'restart-storage-network': report('still-broken') } } }, action: 'close', cause: 'healthy' },
  { name: 'a hopeless report while storage and mgmt are down: mgmt is still confirmed first', host: { storage: 'failed', mgmt: 'failed', since: { storage: ago(120), mgmt: ago(2) }, incident: { phase: 'repairing', attempts: { 'restart-storage-network': ago(25) }, reports: { 'restart-storage-network': report('still-broken') } } }, action: 'wait', guard: 'confirming' },
  { name: 'a hopeless report while the cloud is in a storm: held, like the fence it would be', host: storageRepair('still-broken'), cluster: { hosts: 4, failed: { storage: 2 } }, action: 'hold', guard: 'storm' },
  { name: 'a hopeless report with fencing off: held for an operator, as after the timeout', host: storageRepair('still-broken'), settings: { fencing: 'none' }, action: 'hold', guard: 'no-fence-method' },
  { name: 'a hopeless report while paused: held', host: storageRepair('still-broken'), cluster: { paused: { reason: 'upgrade', since: ago(60) } }, action: 'hold', guard: 'paused' },
  { name: 'nova-compute restart refused: fence at once', host: novaRestart('refused'), action: 'fence', cause: 'nova-compute-dead' },
  { name: 'nova-compute died again within the settle time: fence at once', host: novaRestart('still-broken'), action: 'fence', cause: 'nova-compute-dead' },
  { name: 'nova-compute restarted and stayed up on the node: wait for the health state', host: novaRestart('works'), action: 'wait', cause: 'nova-compute-dead' },
  { name: 'Nova-API-only restart failed on the node: held for an operator at once, never fenced', host: apiRestart('failed'), action: 'hold', cause: 'nova-api-only', alert: 'needs-operator' },
  { name: 'Nova-API-only restart ran: still waiting for Nova', host: apiRestart('works'), action: 'wait', cause: 'nova-api-only' },
  { name: 'a storage report never shortens a nova-compute wait', host: { node: 'down', incident: { phase: 'repairing', attempts: { 'restart-nova-compute': ago(25) }, reports: { 'restart-storage-network': report('still-broken') } } }, action: 'wait', cause: 'nova-compute-dead' },
  { name: 'power-on has no node report: a report under another repair never cuts the boot wait', host: { mgmt: 'failed', storage: 'failed', tenant: 'failed', power: 'on', incident: { phase: 'repairing', attempts: { 'power-on': ago(100), 'restart-storage-network': ago(200) }, reports: { 'restart-storage-network': report('still-broken', ago(150)) } } }, action: 'wait', cause: 'power-lost' },
];

// A request whose report is overdue is sent once more: Consul user events are gossiped, best effort.
const DUE = { reportDueMs: s(10) };
const silent = (sentAgo: number, sent?: number): HostShape => ({ storage: 'failed', incident: { phase: 'repairing', attempts: { 'restart-storage-network': ago(sentAgo) }, ...(sent !== undefined ? { requestsSent: { 'restart-storage-network': sent } } : {}) } });
const overdue: Case[] = [
  { name: 'no report when it is due: the storage repair is asked for once more', host: silent(12, 1), settings: DUE, action: 'repair', repair: 'restart-storage-network', cause: 'storage-network', phase: 'repairing' },
  { name: 'no report yet, not due: wait', host: silent(6, 1), settings: DUE, action: 'wait', cause: 'storage-network' },
  { name: 'no report after the resend: wait out the timeout, never a third request', host: silent(30, 2), settings: DUE, action: 'wait', cause: 'storage-network' },
  { name: 'no report and the timeout passed: fence, as before', host: silent(61, 2), settings: DUE, action: 'fence', cause: 'storage-network' },
  { name: 'a report came (works): no resend, wait for the health state', host: { ...silent(12, 1), incident: { phase: 'repairing', attempts: { 'restart-storage-network': ago(12) }, requestsSent: { 'restart-storage-network': 1 }, reports: { 'restart-storage-network': report('works', ago(5)) } } }, settings: DUE, action: 'wait', cause: 'storage-network' },
  { name: 'only a report from an earlier failure: overdue, asked once more', host: { ...silent(12, 1), incident: { phase: 'repairing', attempts: { 'restart-storage-network': ago(12) }, requestsSent: { 'restart-storage-network': 1 }, reports: { 'restart-storage-network': report('still-broken', ago(40)) } } }, settings: DUE, action: 'repair', repair: 'restart-storage-network' },
  { name: 'a nova-compute restart with no report: asked once more', host: { node: 'down', incident: { phase: 'repairing', attempts: { 'restart-nova-compute': ago(12) }, requestsSent: { 'restart-nova-compute': 1 } } }, settings: DUE, action: 'repair', repair: 'restart-nova-compute', cause: 'nova-compute-dead' },
  { name: 'power-on has no node to answer: the boot wait is never a resend', host: { mgmt: 'failed', storage: 'failed', tenant: 'failed', power: 'on', incident: { phase: 'repairing', attempts: { 'power-on': ago(30) } } }, settings: DUE, action: 'wait', cause: 'power-lost' },
  { name: 'resends off (no reportDueMs): wait out the timeout', host: silent(30, 1), action: 'wait', cause: 'storage-network' },
];

describe("the node's report on a repair", () => {
  it.each(reports)('$name', check);
  it.each(overdue)('$name', check);

  it('an overdue resend is looked at when it falls due', () => {
    expect(decide(host(silent(6, 1)), cluster(), { ...SETTINGS, ...DUE }).recheckInMs).toBe(s(4));
    expect(decide(host(silent(30, 2)), cluster(), { ...SETTINGS, ...DUE }).recheckInMs).toBe(s(30));
  });

  it("the fence's reason carries the node's evidence", () => {
    const decision = decide(host(storageRepair('still-broken')), cluster(), SETTINGS);
    expect(decision.reason).toMatch(/restart-storage-network ran but did not help: the node reports the node's evidence \(still-broken\)/);
    expect(decision.because).toMatch(/25s after it was asked for/);
  });

  it('every hopeless result escalates to what the timeout would have: the same action, cause and phase', () => {
    for (const shape of [storageRepair, novaRestart, apiRestart]) {
      const timedOut = shape('ran');
      const afterTimeout = decide(host({ ...timedOut, incident: { ...(timedOut.incident as object), attempts: Object.fromEntries(Object.keys((timedOut.incident as { attempts: object }).attempts).map((k) => [k, ago(61)])) } }), cluster(), SETTINGS);
      for (const result of HOPELESS_RESULTS) {
        const early = decide(host(shape(result)), cluster(), SETTINGS);
        expect([early.action, early.cause, early.phase, early.needsOperator], `${result}`).toEqual([afterTimeout.action, afterTimeout.cause, afterTimeout.phase, afterTimeout.needsOperator]);
      }
    }
  });
});

describe('storm limit', () => {
  it('a percentage is a share of all hosts, at least one', () => {
    expect(stormThreshold({ percent: 10 }, 1000)).toBe(100);
    expect(stormThreshold({ percent: 10 }, 4)).toBe(1);
    expect(stormThreshold({ count: 3 }, 4)).toBe(3);
  });
  it('names the network over the limit', () => {
    expect(stormOf(cluster({ hosts: 4, failed: { storage: 2 } }), { percent: 10 })).toMatch(/2 hosts failed on the storage network/);
    expect(stormOf(cluster({ hosts: 4, failed: { storage: 1 } }), { percent: 10 })).toBeUndefined();
  });
});
