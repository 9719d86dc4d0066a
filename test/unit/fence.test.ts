/**
 * The fence workflow's decisions (recovery/fence.ts) with Nova, the BMC and Consul simulated and
 * every call journaled: only a power-off the BMC confirms unlocks force-down and evacuation; each
 * step is recorded before and after it runs; a resumed fence skips what finished and never
 * evacuates an instance twice; a failed Nova step leaves the incident to be resumed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { disabledReason, fenceAndEvacuate } from '../../lib/recovery/fence.js';
import type { FenceRun } from '../../lib/recovery/effects.js';
import { openIncident, withStep, type Incident } from '../../lib/state/incident.js';
import { FakeCloud } from '../support/fake-cloud.js';
import { NovaRefused } from '../support/fake-nova.js';
import { expectInOrder, type JournalEntry } from '../support/journal.js';

const HOST = 'cmp1';
let cloud: FakeCloud;
afterEach(() => cloud?.dispose());

function setUp(servers = ['vm1', 'vm2', 'vm3'], config: ConstructorParameters<typeof FakeCloud>[0] = {}): FakeCloud {
  cloud = new FakeCloud(config);
  for (const id of servers) cloud.nova.server(id, HOST);
  return cloud;
}

/** A fence run as the worker makes it: an incident opened if there is none, changed with check-and-set, only while the lock is held. */
function runOf(c: FakeCloud, stillOwner: () => boolean = () => true): FenceRun {
  return {
    host: HOST,
    change: async (mutate) => {
      if (!stillOwner()) throw new Error(`lost the lock of ${HOST}; stopping before changing its incident`);
      return (await c.store.change(HOST, (current) => mutate(current ?? openIncident(HOST, 'node-unreachable', 'failed on every network', Date.now(), c.runtime.node))))!;
    },
    stillOwner,
  };
}

const fence = (c: FakeCloud, over: { rerunEvacuation?: boolean; stillOwner?: () => boolean } = {}): Promise<Incident> =>
  fenceAndEvacuate({ runtime: c.runtime, nova: c.nova, powerOff: (host) => c.bmc.powerOffVerified(host), ...(over.rerunEvacuation ? { rerunEvacuation: true } : {}) }, runOf(c, over.stillOwner));

const steps = (i: Incident): string[] => i.timeline.map((e) => `${e.step}:${e.outcome}`);
/**
 * A label per journal entry: incident writes as the steps they added and the instance outcomes
 * they changed ("write vm1:evacuating,vm2:evacuating"), calls as system.method.
 */
function labels(c: FakeCloud): string[] {
  let seen = 0;
  let instances = new Map<string, string>();
  return c.journal.entries.map((e: JournalEntry) => {
    if (e.system === 'consul:mgmt' && e.method === 'kvPut' && e.key === c.key('incidents', HOST)) {
      const incident = e.value as Incident;
      const added = incident.timeline.slice(seen).filter((t) => !t.step.startsWith('phase ')).map((t) => `${t.step}:${t.outcome}`);
      seen = incident.timeline.length;
      const now = new Map((incident.instances ?? []).map((o) => [o.id, JSON.stringify(o)]));
      const changed = (incident.instances ?? []).filter((o) => instances.get(o.id) !== now.get(o.id)).map((o) => `${o.id}:${o.outcome}`);
      instances = now;
      return `write ${[...added, ...changed].join(',')}`;
    }
    return `${e.system}.${e.method}`;
  });
}
/** Nova calls that change something; reads (the service lookup, server lists) are not among them. */
const NOVA_CHANGES = ['forceDown', 'forceDownAndDisable', 'evacuate', 'disableService', 'enableService', 'liveMigrate'];
const novaActions = (c: FakeCloud): string[] => c.journal.entries.filter((e) => e.system === 'nova' && NOVA_CHANGES.includes(e.method)).map((e) => e.method);
/** Nova calls other than the compute service's lookup, which may run while the BMC powers off. */
const novaBeyondLookup = (c: FakeCloud): string[] => c.journal.of('nova').map((e) => e.method).filter((m) => m !== 'getComputeService');

describe('fence: only a verified power-off unlocks the rest', () => {
  it('verified: powered off, forced down, evacuated, disabled, fenced, in that order, each recorded before and after', async () => {
    const c = setUp();
    const incident = await fence(c);
    expect(incident.phase).toBe('fenced');
    expect(incident.fenceStarted).toBe(true);
    expectInOrder(steps(incident), 'power-off:started', 'power-off:done', 'force-down:started', 'force-down:done', 'evacuate:started', 'evacuate:done', 'disable:started', 'disable:done', 'phase fenced:info');
    // Force-down and disable are one call; the whole batch is recorded after the host's list and before the first call.
    const order = labels(c);
    expectInOrder(order, 'write power-off:started', 'bmc.powerOffVerified', 'write power-off:done', 'write force-down:started', 'nova.forceDownAndDisable', 'write force-down:done', 'write evacuate:started', 'nova.listServersOnHost', 'write vm1:evacuating,vm2:evacuating,vm3:evacuating', 'nova.evacuate', 'write evacuate:done', 'write disable:started', 'write disable:done');
    expect(incident.timeline.find((e) => e.step === 'disable' && e.outcome === 'done')?.detail).toBe('disabled with the force-down');
    expect(c.nova.calls('disableService')).toEqual([]);
    // No change in Nova before the power-off was verified and recorded (present: checked in order above).
    const verified = order.indexOf('write power-off:done');
    expect(c.journal.entries.findIndex((e) => e.system === 'nova' && NOVA_CHANGES.includes(e.method))).toBeGreaterThan(verified);
    expect(c.journal.entries.slice(0, verified).filter((e) => e.system === 'nova' && e.method !== 'getComputeService')).toEqual([]);
    expect(c.nova.callCounts()).toEqual(new Map([['vm1', 1], ['vm2', 1], ['vm3', 1]]));
    expect(incident.instances!.map((o) => o.outcome)).toEqual(['evacuated', 'evacuated', 'evacuated']);
    const service = c.nova.services.get(HOST)!;
    expect([service.forcedDown, service.status, service.disabledReason]).toEqual([true, 'disabled', disabledReason(incident)]);
    expect(disabledReason(incident)).toBe(`nova-ha: fenced by incident ${incident.id}; run "nova-ha unfence" to return it to service`);
    expect(c.notes.map((n) => n.event)).toEqual(['fenced']);
    expect(c.notes[0]!.reason).toMatch(/Power-off: .*the BMC reported off.*every instance was evacuated.*nova-ha unfence cmp1$/);
    expect(c.bmc.calls('powerOn')).toEqual([]);
  });

  it('"fence started" is recorded before the power-off is sent', async () => {
    const c = setUp();
    let seenAtPowerOff: Incident | undefined;
    const incident = await fenceAndEvacuate({ runtime: c.runtime, nova: c.nova, powerOff: async (host) => ((seenAtPowerOff = c.incident(host)), c.bmc.powerOffVerified(host)) }, runOf(c));
    expect(seenAtPowerOff?.fenceStarted).toBe(true);
    expect(seenAtPowerOff?.phase).toBe('fencing');
    expect(steps(seenAtPowerOff!).at(-1)).toBe('power-off:started');
    expect(incident.phase).toBe('fenced');
  });

  it.each(['stays-on', 'silent'] as const)('a BMC that does not confirm the power-off (%s): held for an operator, nothing forced down or evacuated', async (behaviour) => {
    const c = setUp();
    c.bmc.powerOff.set(HOST, behaviour);
    const incident = await fence(c);
    expect(incident.phase).toBe('held');
    expect(incident.hold).toEqual({ reason: expect.stringMatching(/^fence not verified: the BMC did not report power off within 60000 ms.*; nothing was evacuated$/), needsOperator: true });
    expect(incident.fenceStarted).toBe(true);
    expect(steps(incident)).toContain('power-off:failed');
    // At most the service lookup, a read, ran while the BMC was asked.
    expect(novaBeyondLookup(c)).toEqual([]);
    expect(c.notes.map((n) => [n.event, n.action])).toEqual([['fence-failed', 'held for an operator; nothing evacuated']]);
  });

  it('a power-off that throws is not verified either', async () => {
    const c = setUp();
    const incident = await fenceAndEvacuate({ runtime: c.runtime, nova: c.nova, powerOff: async () => Promise.reject(new Error('ipmitool is not installed')) }, runOf(c));
    expect(incident.phase).toBe('held');
    expect(incident.hold?.reason).toMatch(/ipmitool is not installed/);
    expect(novaActions(c)).toEqual([]);
  });
});

describe('fence: resumed by another worker', () => {
  /** An incident as a dead worker left it: these steps recorded done. */
  async function leftAt(c: FakeCloud, done: string[], phase: Incident['phase']): Promise<void> {
    await runOf(c).change((i) => done.reduce<Incident>((acc, step) => withStep(withStep(acc, { at: Date.now(), step, outcome: 'started', by: 'ctl2' }), { at: Date.now(), step, outcome: 'done', by: 'ctl2' }), { ...i, phase, fenceStarted: true }));
    c.journal.entries.length = 0;
  }

  it('skips the power-off recorded done and never powers the host on', async () => {
    const c = setUp();
    c.bmc.power.set(HOST, 'off');
    await leftAt(c, ['power-off'], 'forcing-down');
    const incident = await fence(c);
    expect(incident.phase).toBe('fenced');
    expect(steps(incident).filter((s) => s === 'power-off:started')).toHaveLength(1);
    expect(c.bmc.calls('powerOn')).toEqual([]);
    // Disabled in the same call as the force-down: no disable call after the evacuation.
    expect(novaActions(c)).toEqual(['forceDownAndDisable', 'evacuate', 'evacuate', 'evacuate']);
  });

  it('skips force-down and evacuation recorded done: no instance is called for again', async () => {
    const c = setUp();
    await leftAt(c, ['power-off', 'force-down', 'evacuate'], 'evacuating');
    const incident = await fence(c);
    expect(incident.phase).toBe('fenced');
    // The force-down recorded without "and disabled" (an older nova-ha's): the disable step still disables.
    expect(novaActions(c)).toEqual(['disableService']);
  });

  it('a Nova step that fails leaves the incident in its phase, tells the operators, and the next run finishes it without repeating the power-off', async () => {
    const c = setUp();
    c.nova.failNext('forceDownAndDisable', new NovaRefused(503, 'Service Unavailable'));
    const first = await fence(c);
    expect(first.phase).toBe('forcing-down');
    expect(steps(first)).toEqual(expect.arrayContaining(['power-off:done', 'force-down:failed']));
    expect(novaActions(c)).toEqual(['forceDownAndDisable']);
    expect(c.notes.map((n) => n.event)).toEqual(['evacuation-interrupted']);
    expect(c.notes[0]!.reason).toMatch(/^cmp1 is powered off \(verified\), but Service Unavailable\. nova-ha retries at the next evaluation\.$/);

    const second = await fence(c);
    expect(second.phase).toBe('fenced');
    expect(c.bmc.calls('powerOffVerified')).toHaveLength(1);
    expect(steps(second).filter((s) => s === 'power-off:started')).toHaveLength(1);
    expect(c.nova.callCounts()).toEqual(new Map([['vm1', 1], ['vm2', 1], ['vm3', 1]]));
  });

  it('killed during the evacuation and resumed: every instance called for exactly once', async () => {
    const c = setUp(['vm1', 'vm2', 'vm3', 'vm4'], { config: { evacuation: { concurrency: '1' } } });
    let owner = true;
    c.nova.before('evacuate', () => {
      if (c.nova.calls('evacuate').length === 2) owner = false;
    });
    await expect(fence(c, { stillOwner: () => owner })).rejects.toThrow(/lost the lock/);
    expect(c.incident(HOST)!.phase).toBe('evacuating');
    expect(c.nova.calls('evacuate')).toHaveLength(2);
    owner = true;
    const second = await fence(c);
    expect(second.phase).toBe('fenced');
    expect(c.nova.callCounts()).toEqual(new Map([['vm1', 1], ['vm2', 1], ['vm3', 1], ['vm4', 1]]));
  });

  it('a run that lost the host lock stops before the next step and changes nothing in Nova', async () => {
    const c = setUp();
    let owner = true;
    const run = runOf(c, () => owner);
    // The lock is lost after the power-off was recorded done: the next step must not start.
    const incident = await fenceAndEvacuate({ runtime: c.runtime, nova: c.nova, powerOff: (host) => c.bmc.powerOffVerified(host) }, { ...run, change: async (mutate) => {
      const next = await run.change(mutate);
      if (next.timeline.at(-1)?.step === 'power-off' && next.timeline.at(-1)?.outcome === 'done') owner = false;
      return next;
    } });
    expect(incident.phase).toBe('fencing');
    expect(steps(incident).at(-1)).toBe('power-off:done');
    expect(novaActions(c)).toEqual([]);
    // The service lookup, a read, runs during the power-off; nothing else was asked of Nova.
    expect(novaBeyondLookup(c)).toEqual([]);
    expect(c.notes.map((n) => n.event)).toEqual(['evacuation-interrupted']);
    expect(c.notes[0]!.reason).toMatch(/lost the host lock before force-down/);
  });
});

describe('fence: what the operators are told', () => {
  it("instances that failed are named with their reason and Nova's fault, and the email says fenced with failures", async () => {
    const c = setUp(['vm1']);
    c.nova.behaviour = 'errors';
    const incident = await fence(c);
    expect(incident.phase).toBe('fenced');
    expect(steps(incident)).toContain('evacuate:done');
    // The counts, then the engine's own figures (calls, looks, reads).
    expect(incident.timeline.find((e) => e.step === 'evacuate' && e.outcome === 'done')?.detail).toMatch(/^0 evacuated, 0 skipped, 1 failed, of 1; 1 calls over /);
    const fault = 'No valid host was found. There are not enough hosts available.';
    expect(incident.instances).toEqual([expect.objectContaining({ id: 'vm1', outcome: 'failed', fault })]);
    expect(c.notes.map((n) => [n.event, n.action])).toEqual([['evacuation-failed', 'fenced; 0 of 1 instances evacuated, 1 failed']]);
    expect(c.notes[0]!.reason).toContain(`these instances need an operator: vm1 (ERROR on cmp1 after the evacuation: ${fault}`);
  });

  it('power-lost incidents say so in the summary', async () => {
    const c = setUp([]);
    await runOf(c).change((i) => ({ ...i, cause: 'power-lost' }));
    await fence(c);
    expect(c.notes.map((n) => n.summary)).toEqual(['power lost, did not come back']);
  });
});

describe('fence: an operator evacuating again', () => {
  it('rerunEvacuation runs the evacuation step again but calls only for instances still on the host', async () => {
    const c = setUp(['vm1', 'vm2']);
    c.nova.behaviour = 'errors';
    c.nova.failNext('evacuate', new NovaRefused(409, 'refused'));
    await fence(c);
    c.nova.behaviour = 'completes';
    // vm1 was refused and stayed; vm2 ended in ERROR on the host: both are still on cmp1.
    Object.assign(c.nova.servers.get('vm2')!, { status: 'ACTIVE', vmState: 'active' });
    c.nova.server('vm3', c.nova.target);
    const again = await fence(c, { rerunEvacuation: true });
    expect(again.phase).toBe('fenced');
    expect(c.nova.callCounts()).toEqual(new Map([['vm1', 2], ['vm2', 2]]));
    expect(again.instances!.map((o) => [o.id, o.outcome])).toEqual([['vm1', 'evacuated'], ['vm2', 'evacuated']]);
    expect(steps(again).filter((s) => s === 'evacuate:started')).toHaveLength(2);
    expect(steps(again).filter((s) => s === 'power-off:started')).toHaveLength(1);
  });
});
