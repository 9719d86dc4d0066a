/**
 * The fence workflow (recovery/fence.ts) beyond its main path, over the simulated cloud: what
 * each step records and logs, the service lookup during the power-off, the evidence a power-off
 * is given, a crash dump's deferred power-off, the re-reads of the power before each step that
 * trusts the fence (their holds and their emails), and the figures and words of the last email.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FenceEvidence } from '../../lib/decision/fence-evidence.js';
import type { PowerState } from '../../lib/decision/model.js';
import type { FenceRun } from '../../lib/recovery/effects.js';
import { countOutcomes, DUMP_DEFERRED, fenceAndEvacuate, type FenceDeps, type PowerOffContext } from '../../lib/recovery/fence.js';
import { openIncident, withStep, type Incident, type InstanceOutcome } from '../../lib/state/incident.js';
import { FakeCloud } from '../support/fake-cloud.js';
import { NovaRefused } from '../support/fake-nova.js';
import { expectInOrder } from '../support/journal.js';

const HOST = 'cmp1';
let cloud: FakeCloud | undefined;
afterEach(() => cloud?.dispose());

function setUp(servers = ['vm1', 'vm2', 'vm3']): FakeCloud {
  cloud = new FakeCloud();
  for (const id of servers) cloud.nova.server(id, HOST);
  return cloud;
}

function runOf(c: FakeCloud, over: Partial<FenceRun> = {}): FenceRun {
  return {
    host: HOST,
    change: async (mutate) => (await c.store.change(HOST, (current) => mutate(current ?? openIncident(HOST, 'node-unreachable', 'failed on every network', Date.now(), c.runtime.node))))!,
    stillOwner: () => true,
    ...over,
  };
}

/** The deps a controller with a BMC has: power off and read through the simulated BMC. */
const depsOf = (c: FakeCloud, over: Partial<FenceDeps> = {}): FenceDeps => ({ runtime: c.runtime, nova: c.nova, powerOff: (host) => c.bmc.powerOffVerified(host), readPower: (host) => c.bmc.readPower(host), ...over });

/** readPower answering from a script, then off. */
const powerReads = (states: PowerState[], seen: string[] = []): FenceDeps['readPower'] => {
  const left = [...states];
  return async () => {
    const state = left.shift() ?? 'off';
    seen.push(`readPower ${state}`);
    return state;
  };
};

const steps = (i: Incident): string[] => i.timeline.map((e) => `${e.step}:${e.outcome}`);
const entry = (i: Incident, step: string, outcome: string) => i.timeline.find((e) => e.step === step && e.outcome === outcome);

/** An incident as a dead worker left it: these steps recorded started and done (with their details). */
async function leftAt(c: FakeCloud, done: [string, string?][], phase: Incident['phase'], over: Partial<Incident> = {}): Promise<void> {
  await runOf(c).change((i) => done.reduce<Incident>((acc, [step, detail]) => withStep(withStep(acc, { at: Date.now() - 1000, step, outcome: 'started', by: 'ctl2' }), { at: Date.now() - 1000, step, outcome: 'done', by: 'ctl2', ...(detail ? { detail } : {}) }), { ...i, phase, fenceStarted: true, ...over }));
  c.journal.entries.length = 0;
}

const KDUMP = { from: '198.18.1.101', first: Date.parse('2026-11-25T10:00:00Z'), last: Date.now(), count: 3 };
const DEFERRED_DETAIL = `${DUMP_DEFERRED} (3 fence_kdump messages from 198.18.1.101 since 2026-11-25T10:00:00.000Z); its instances are evacuated meanwhile`;
const SELF_FENCE = { lastContact: Date.parse('2026-11-25T10:00:00Z'), timeoutMs: 60_000, marginMs: 30_000, safeAt: Date.parse('2026-11-25T10:02:30Z') };

describe('fence steps: what is recorded and logged', () => {
  it('each step logs its start and its end with the detail and how long it took; every record names this controller', async () => {
    const c = setUp(['vm1']);
    const incident = await fenceAndEvacuate(depsOf(c), runOf(c));
    expect(incident.phase).toBe('fenced');
    expect(c.logs('step-start').map((r) => r.step)).toEqual(['power-off', 'force-down', 'evacuate', 'disable']);
    const done = c.logs('step-done');
    expect(done.map((r) => [r.step, r.detail])).toEqual([
      ['power-off', 'power off sent; the BMC reported off after 1 ms'],
      ['force-down', `nova-compute service svc-${HOST} forced down and disabled`],
      ['evacuate', entry(incident, 'evacuate', 'done')!.detail],
      ['disable', 'disabled with the force-down'],
    ]);
    for (const r of done) expect(r.ms).toEqual(expect.any(Number));
    expect(done.every((r) => r.level === 'info' && r.host === HOST && r.incident === incident.id)).toBe(true);
    expect(new Set(incident.timeline.map((e) => e.by))).toEqual(new Set(['ctl1']));
    // The phases, each once, in order, with why the last one was reached.
    expect(incident.timeline.filter((e) => e.step.startsWith('phase ')).map((e) => e.step)).toEqual(['phase fencing', 'phase forcing-down', 'phase evacuating', 'phase fenced']);
    expect(entry(incident, 'phase fenced', 'info')?.detail).toBe('fenced, forced down, evacuated, disabled');
  });

  it('a step that fails is recorded failed and logged as step-failed with the error', async () => {
    const c = setUp(['vm1']);
    c.nova.failNext('forceDownAndDisable', new NovaRefused(503, 'Service Unavailable'));
    const incident = await fenceAndEvacuate(depsOf(c), runOf(c));
    expect(entry(incident, 'force-down', 'failed')?.detail).toBe('Service Unavailable');
    expect(c.logs('step-failed')).toEqual([expect.objectContaining({ level: 'error', step: 'force-down', error: 'Service Unavailable', ms: expect.any(Number) })]);
    expect(c.logs('step-done').map((r) => r.step)).toEqual(['power-off']);
  });

  it("the fence levels' own records land on the incident between the power-off's start and its end, and are logged", async () => {
    const c = setUp([]);
    const powerOff: FenceDeps['powerOff'] = async (_host, context) => {
      await context.record('fence-level', 'started', 'level 1 of 1 (ipmi): ipmitool to cmp1-bmc');
      await context.record('fence-level', 'done', 'level 1 of 1 (ipmi): the BMC already reported power off');
      return { verified: true, after: 5, detail: 'verified by level 1 of 1 (ipmi)' };
    };
    const incident = await fenceAndEvacuate(depsOf(c, { powerOff, readPower: undefined }), runOf(c));
    expectInOrder(steps(incident), 'power-off:started', 'fence-level:started', 'fence-level:done', 'power-off:done');
    expect(entry(incident, 'fence-level', 'done')).toMatchObject({ detail: 'level 1 of 1 (ipmi): the BMC already reported power off', by: 'ctl1', at: expect.any(Number) });
    expect(c.logs('fence-level-started')).toEqual([expect.objectContaining({ step: 'fence-level', detail: 'level 1 of 1 (ipmi): ipmitool to cmp1-bmc' })]);
    expect(c.logs('fence-level-done')).toHaveLength(1);
    expect(entry(incident, 'power-off', 'done')?.detail).toBe('verified by level 1 of 1 (ipmi)');
  });

  it("an operator's fence of a held incident is no longer held once its first step starts", async () => {
    const c = setUp([]);
    await runOf(c).change((i) => ({ ...i, phase: 'held', hold: { reason: 'fence not verified: the BMC did not answer', needsOperator: true } }));
    let atPowerOff: Incident | undefined;
    const incident = await fenceAndEvacuate(depsOf(c, { powerOff: async (host) => ((atPowerOff = c.incident(host)), c.bmc.powerOffVerified(host)) }), runOf(c));
    expect(atPowerOff?.hold).toBeUndefined();
    expect(atPowerOff?.phase).toBe('fencing');
    expect(incident.phase).toBe('fenced');
    expect('hold' in incident).toBe(false);
  });
});

describe('fence: the compute service, looked up during the power-off', () => {
  it('a lookup that failed during the power-off is asked again for the force-down', async () => {
    const c = setUp(['vm1']);
    c.nova.failNext('getComputeService');
    const incident = await fenceAndEvacuate(depsOf(c), runOf(c));
    expect(incident.phase).toBe('fenced');
    expect(c.nova.calls('getComputeService')).toEqual([[HOST], [HOST]]);
    expect(c.nova.calls('forceDownAndDisable')).toEqual([[`svc-${HOST}`, expect.stringContaining(incident.id)]]);
  });

  it('a lookup that failed while the power-off was not verified: held, and the failed lookup is not left unhandled', async () => {
    const c = setUp(['vm1']);
    c.nova.failNext('getComputeService');
    c.bmc.powerOff.set(HOST, 'stays-on');
    const incident = await fenceAndEvacuate(depsOf(c), runOf(c));
    await new Promise((resolve) => setImmediate(resolve));
    expect(incident.phase).toBe('held');
    expect(c.nova.calls('getComputeService')).toHaveLength(1);
  });

  it('a resumed fence whose force-down (with the disable) is done looks nothing up and calls no disable', async () => {
    const c = setUp(['vm1']);
    c.bmc.power.set(HOST, 'off');
    await leftAt(c, [['power-off'], ['force-down', `nova-compute service svc-${HOST} forced down and disabled`]], 'evacuating');
    const incident = await fenceAndEvacuate(depsOf(c), runOf(c));
    expect(incident.phase).toBe('fenced');
    expect(c.nova.calls('getComputeService')).toEqual([]);
    expect(c.nova.calls('disableService')).toEqual([]);
    expect(entry(incident, 'disable', 'done')?.detail).toBe('disabled with the force-down');
  });

  it("an older nova-ha's force-down without the disable: the disable step looks the service up and disables it with the fence's reason", async () => {
    const c = setUp(['vm1']);
    c.bmc.power.set(HOST, 'off');
    await leftAt(c, [['power-off'], ['force-down', `nova-compute service svc-${HOST} forced down`], ['evacuate']], 'evacuating');
    const incident = await fenceAndEvacuate(depsOf(c), runOf(c));
    expect(c.nova.calls('getComputeService')).toEqual([[HOST]]);
    expect(c.nova.calls('disableService')).toEqual([[`svc-${HOST}`, `nova-ha: fenced by incident ${incident.id}; run "nova-ha unfence" to return it to service`]]);
    expect(entry(incident, 'disable', 'done')?.detail).toBe(`nova-compute service svc-${HOST} disabled and kept forced down`);
  });

  it('a resumed disable step after a failed force-down of this run is not repeated as a separate disable', async () => {
    const c = setUp(['vm1']);
    c.nova.failNext('forceDownAndDisable');
    await fenceAndEvacuate(depsOf(c), runOf(c));
    const incident = await fenceAndEvacuate(depsOf(c), runOf(c));
    expect(incident.phase).toBe('fenced');
    expect(c.nova.calls('disableService')).toEqual([]);
    expect(entry(incident, 'disable', 'done')?.detail).toBe('disabled with the force-down');
  });
});

describe('fence: what the power-off is given', () => {
  it("the decision's evidence, this run's lock and a recorder reach the power-off", async () => {
    const c = setUp([]);
    const contexts: PowerOffContext[] = [];
    const stillOwner = (): boolean => true;
    const evidence: FenceEvidence = { selfFence: SELF_FENCE };
    await fenceAndEvacuate(depsOf(c, { powerOff: async (host, context) => (contexts.push(context), c.bmc.powerOffVerified(host)) }), runOf(c, { stillOwner, evidence }));
    expect(contexts).toHaveLength(1);
    expect(contexts[0]!.evidence).toEqual(evidence);
    expect(contexts[0]!.stillOwner).toBe(stillOwner);
  });

  it('without evidence the power-off gets none', async () => {
    const c = setUp([]);
    const contexts: PowerOffContext[] = [];
    await fenceAndEvacuate(depsOf(c, { powerOff: async (host, context) => (contexts.push(context), c.bmc.powerOffVerified(host)) }), runOf(c));
    expect('evidence' in contexts[0]!).toBe(false);
  });

  it('a power-off not verified: held with why, the operators told that nothing was evacuated', async () => {
    const c = setUp(['vm1']);
    c.bmc.powerOff.set(HOST, 'stays-on');
    const incident = await fenceAndEvacuate(depsOf(c), runOf(c));
    const why = 'the BMC did not report power off within 60000 ms';
    expect(incident.hold).toEqual({ reason: `fence not verified: ${why}; nothing was evacuated`, needsOperator: true });
    expect(entry(incident, 'phase held', 'info')?.detail).toBe('fence not verified');
    expect(c.notes).toEqual([{ host: HOST, event: 'fence-failed', summary: 'fence failed', action: 'held for an operator; nothing evacuated', reason: `The power-off of ${HOST} could not be verified (${why}). Its instances may still run there, so none were evacuated.`, incidentId: incident.id, timeline: incident.timeline, instances: [] }]);
  });
});

describe('fence: a crash dump defers the power-off', () => {
  it('a dumping host: power-off recorded deferred without asking the BMC, instances evacuated, then powered off after the dump with the time it was deferred', async () => {
    const c = setUp(['vm1', 'vm2']);
    const deferredAts: number[] = [];
    const seen: string[] = [];
    const incident = await fenceAndEvacuate(depsOf(c, {
      readPower: powerReads([], seen),
      dumping: async () => (seen.push('dumping'), true),
      powerOffAfterDump: async (host, _context, deferredAt) => (deferredAts.push(deferredAt), { verified: true, after: 3, detail: 'verified by level 1 of 1 (ipmi)' }),
    }), runOf(c, { evidence: { kdump: KDUMP } }));
    expect(incident.phase).toBe('fenced');
    expect(entry(incident, 'power-off', 'done')?.detail).toBe(DEFERRED_DETAIL);
    expect(c.bmc.calls('powerOffVerified')).toEqual([]);
    expect(deferredAts).toEqual([entry(incident, 'power-off', 'done')!.at]);
    expect(seen.filter((s) => s.startsWith('readPower'))).toEqual([]);
    expectInOrder(steps(incident), 'power-off:done', 'force-down:done', 'evacuate:done', 'disable:done', 'power-off-after-dump:started', 'power-off-after-dump:done', 'phase fenced:info');
    expect(entry(incident, 'phase fenced', 'info')!.at).toBeGreaterThanOrEqual(entry(incident, 'power-off-after-dump', 'done')!.at);
    expect(c.notes.map((n) => n.event)).toEqual(['fenced']);
    expect(c.notes[0]!.reason).toContain('Power-off: verified by level 1 of 1 (ipmi); the nova-compute service is forced down and disabled, and every instance was evacuated');
  });

  it('the power-off after the dump is not verified: held, still forced down and disabled, the operators told to power it off by hand', async () => {
    const c = setUp(['vm1']);
    const incident = await fenceAndEvacuate(depsOf(c, {
      dumping: async () => true,
      powerOffAfterDump: async () => ({ verified: false, after: 3, detail: 'no fence level verified the power off: ipmi: timed out' }),
    }), runOf(c, { evidence: { kdump: KDUMP } }));
    const why = 'no fence level verified the power off: ipmi: timed out';
    expect(incident.phase).toBe('held');
    expect(entry(incident, 'phase held', 'info')?.detail).toBe('power-off after the crash dump not verified');
    expect(incident.hold).toEqual({ reason: `its instances were evacuated while it wrote a crash dump, but the power-off after the dump was not verified: ${why}; it stays forced down and disabled`, needsOperator: true });
    expect(entry(incident, 'power-off-after-dump', 'failed')?.detail).toBe(why);
    expect(incident.instances!.map((o) => o.outcome)).toEqual(['evacuated']);
    expect(c.notes.map((n) => [n.event, n.summary, n.action, n.reason])).toEqual([['fence-failed', 'power-off after crash dump failed', 'held for an operator; instances evacuated', `${HOST} wrote a crash dump, so its instances were evacuated, but its power-off afterwards could not be verified (${why}). Power it off by hand.`]]);
    expect(c.nova.services.get(HOST)).toMatchObject({ forcedDown: true, status: 'disabled' });
  });

  it('without powerOffAfterDump the deferred power-off goes through the power-off itself, with the recorder', async () => {
    const c = setUp(['vm1']);
    const contexts: PowerOffContext[] = [];
    const incident = await fenceAndEvacuate(depsOf(c, { readPower: undefined, powerOff: async (host, context) => (contexts.push(context), c.bmc.powerOffVerified(host)) }), runOf(c, { evidence: { kdump: KDUMP } }));
    expect(incident.phase).toBe('fenced');
    expect(contexts).toHaveLength(1);
    expect(entry(incident, 'power-off-after-dump', 'done')?.detail).toBe('power off sent; the BMC reported off after 1 ms');
    expectInOrder(steps(incident), 'evacuate:done', 'power-off-after-dump:started', 'power-off-after-dump:done');
  });

  it('a resumed fence whose power-off after the dump is done does not power off again and reads the power through the levels again', async () => {
    const c = setUp(['vm1']);
    await leftAt(c, [['power-off', DEFERRED_DETAIL], ['power-off-after-dump', 'verified by level 1 of 1 (ipmi)']], 'forcing-down');
    const seen: string[] = [];
    const incident = await fenceAndEvacuate(depsOf(c, {
      readPower: powerReads(['off', 'off', 'off'], seen),
      dumping: async () => (seen.push('dumping'), true),
      powerOffAfterDump: async () => (seen.push('powerOffAfterDump'), { verified: true, after: 1, detail: 'x' }),
    }), runOf(c));
    expect(incident.phase).toBe('fenced');
    expect(seen).toEqual(['readPower off', 'readPower off', 'readPower off']);
    expect(c.notes[0]!.reason).toContain('Power-off: verified by level 1 of 1 (ipmi);');
  });

  it('a dump whose record cannot be read counts as ended: the deferred power-off comes before the force-down', async () => {
    const c = setUp(['vm1']);
    await leftAt(c, [['power-off', DEFERRED_DETAIL]], 'forcing-down');
    const seen: string[] = [];
    c.nova.before('forceDownAndDisable', () => seen.push('forceDown'));
    const incident = await fenceAndEvacuate(depsOf(c, {
      readPower: powerReads([], seen),
      dumping: async () => Promise.reject(new Error('HTTP 500: No cluster leader')),
      powerOffAfterDump: async () => (seen.push('powerOffAfterDump'), { verified: true, after: 1, detail: 'verified by level 1 of 1 (ipmi)' }),
    }), runOf(c));
    expect(incident.phase).toBe('fenced');
    expect(seen).toEqual(['powerOffAfterDump', 'forceDown', 'readPower off', 'readPower off']);
    // The power-off after the dump was done in the phase of the step it came before.
    const write = c.incidentWrites(HOST).find((i) => i.timeline.at(-1)?.step === 'power-off-after-dump' && i.timeline.at(-1)?.outcome === 'started');
    expect(write?.phase).toBe('forcing-down');
  });

  it.each([
    ['force-down', [false], ['powerOffAfterDump', 'forceDown', 'evacuate'], 'forcing-down'],
    ['evacuate', [true, false], ['forceDown', 'powerOffAfterDump', 'evacuate'], 'evacuating'],
    ['disable', [true, true, false], ['forceDown', 'evacuate', 'powerOffAfterDump'], 'evacuating'],
  ] as const)('a dump that ends before the %s step: powered off after the dump right then, in that step\'s phase', async (next, dumping, order, phase) => {
    const c = setUp(['vm1']);
    await leftAt(c, [['power-off', DEFERRED_DETAIL]], 'forcing-down');
    const seen: string[] = [];
    const looks = [...dumping];
    c.nova.before('forceDownAndDisable', () => seen.push('forceDown'));
    c.nova.before('evacuate', () => seen.push('evacuate'));
    const incident = await fenceAndEvacuate(depsOf(c, {
      dumping: async () => looks.shift() ?? false,
      powerOffAfterDump: async () => (seen.push('powerOffAfterDump'), { verified: true, after: 1, detail: 'verified by level 1 of 1 (ipmi)' }),
    }), runOf(c));
    expect(incident.phase).toBe('fenced');
    expect(seen).toEqual(order);
    expectInOrder(steps(incident), 'power-off-after-dump:done', `${next}:started`);
    const write = c.incidentWrites(HOST).find((i) => i.timeline.at(-1)?.step === 'power-off-after-dump' && i.timeline.at(-1)?.outcome === 'started');
    expect(write?.phase).toBe(phase);
    expect(incident.timeline.map((e) => e.step)).not.toContain('phase ');
  });

  it('a dump that ended and a power-off after it that is not verified: held with why, nothing forced down', async () => {
    const c = setUp(['vm1']);
    await leftAt(c, [['power-off', DEFERRED_DETAIL]], 'forcing-down');
    const incident = await fenceAndEvacuate(depsOf(c, {
      dumping: async () => false,
      powerOffAfterDump: async () => ({ verified: false, after: 1, detail: 'no fence level verified the power off: ipmi: timed out' }),
    }), runOf(c));
    expect(incident.hold?.reason).toBe(`the crash dump of ${HOST} ended before force-down, and its power-off after the dump was not verified (no fence level verified the power off: ipmi: timed out); nothing more was evacuated`);
    expect(c.nova.calls('forceDownAndDisable')).toEqual([]);
  });

  it('a Nova step that fails while the host dumps: the operators are told its power-off waits for the dump', async () => {
    const c = setUp(['vm1']);
    c.nova.failNext('forceDownAndDisable', new NovaRefused(503, 'Service Unavailable'));
    const incident = await fenceAndEvacuate(depsOf(c, { dumping: async () => true }), runOf(c, { evidence: { kdump: KDUMP } }));
    expect(incident.phase).toBe('forcing-down');
    expect(c.notes.map((n) => [n.event, n.summary, n.action, n.reason])).toEqual([['evacuation-interrupted', 'fenced, evacuation interrupted', 'will retry', `${HOST} writes a crash dump (its power-off waits for the dump to end), but Service Unavailable. nova-ha retries at the next evaluation.`]]);
  });
});

describe('fence: the power read again before each step that trusts the fence', () => {
  it.each([
    [['unknown'], 'force-down'],
    [['off', 'unknown'], 'evacuation'],
    [['off', 'off', 'unknown'], 'marking it fenced'],
  ] as [PowerState[], string][])('levels that cannot say (%j): held before %s, nothing more evacuated, the operators told', async (states, before) => {
    const c = setUp(['vm1']);
    await leftAt(c, [['power-off']], 'forcing-down');
    const incident = await fenceAndEvacuate(depsOf(c, { readPower: powerReads(states) }), runOf(c));
    const why = `its fence levels could not say whether ${HOST} is still off before ${before}`;
    expect(incident.phase).toBe('held');
    expect(entry(incident, 'phase held', 'info')?.detail).toBe('fence no longer verified');
    expect(incident.hold).toEqual({ reason: `${why}; nothing more was evacuated`, needsOperator: true });
    expect(c.notes.map((n) => [n.event, n.summary, n.action, n.reason])).toEqual([['fence-failed', 'fence lost', 'held for an operator; nothing more evacuated', `${why}. Its instances may run there again, so nova-ha evacuates nothing more until an operator has looked (see: nova-ha incident ${incident.id}).`]]);
    expect(c.notes[0]!.instances).toEqual(incident.instances ?? []);
  });

  it("levels that cannot say, but the host's watchdog has had its safe time: goes on, and logs why", async () => {
    const c = setUp(['vm1']);
    await leftAt(c, [['power-off']], 'forcing-down');
    const incident = await fenceAndEvacuate(depsOf(c, { readPower: powerReads(['unknown', 'unknown', 'unknown']) }), runOf(c, { evidence: { selfFence: SELF_FENCE } }));
    expect(incident.phase).toBe('fenced');
    expect(c.logs('power-unknown-self-fenced').map((r) => r.detail)).toEqual(['force-down', 'evacuation', 'marking it fenced'].map((before) => `no fence level says whether ${HOST} is off before ${before}; its watchdog has reset it (last contact 2026-11-25T10:00:00.000Z + 2 x 1m + margin 30s = 2026-11-25T10:02:30.000Z)`));
  });

  it('on again before the evacuation: recorded, logged, powered off again through the levels with a recorder and no evidence, the operators told, and the fence goes on', async () => {
    const c = setUp(['vm1']);
    await leftAt(c, [['power-off']], 'forcing-down');
    c.bmc.power.set(HOST, 'off');
    // Someone at the BMC powers it on while it is forced down.
    c.nova.before('forceDownAndDisable', () => c.bmc.power.set(HOST, 'on'));
    const contexts: PowerOffContext[] = [];
    const powerOff: FenceDeps['powerOff'] = async (host, context) => {
      contexts.push(context);
      await context.record('fence-level', 'done', 'level 1 of 1 (ipmi): power off sent');
      return c.bmc.powerOffVerified(host);
    };
    const incident = await fenceAndEvacuate(depsOf(c, { powerOff }), runOf(c, { evidence: { selfFence: SELF_FENCE } }));
    expect(incident.phase).toBe('fenced');
    const started = entry(incident, 'power-off-again', 'started')!;
    expect(started.detail).toBe(`its fence levels report ${HOST} on again before evacuation`);
    expect(entry(incident, 'power-off-again', 'done')?.detail).toBe('power off sent; the BMC reported off after 1 ms');
    expectInOrder(steps(incident), 'force-down:done', 'power-off-again:started', 'fence-level:done', 'power-off-again:done', 'evacuate:started');
    expect(contexts.map((x) => 'evidence' in x)).toEqual([false]);
    expect(c.logs('fenced-host-on')).toEqual([expect.objectContaining({ level: 'warning', step: 'power-off-again', detail: 'on again before evacuation' })]);
    const on = c.notes.find((n) => n.event === 'fenced-host-on')!;
    expect(on).toMatchObject({ summary: 'powered on during its fence', action: 'powered off again', occurrence: `${incident.id}/${started.at}`, incidentId: incident.id });
    expect(on.reason).toBe(`${HOST} was fenced by incident ${incident.id}, but its fence levels reported it on again before evacuation; nova-ha did not power it on. nova-ha powered it off again (verified) and goes on. Someone with BMC access may be working on it: it stays forced down and disabled in Nova until an operator runs: nova-ha unfence ${HOST}`);
    expect(c.notes.map((n) => n.event)).toEqual(['fenced-host-on', 'fenced']);
    // The last power-off is the one the email names.
    expect(c.notes[1]!.reason).toContain('Power-off: power off sent; the BMC reported off after 1 ms;');
    expect(c.bmc.calls('powerOn')).toEqual([]);
  });

  it('on again and not powered off again: held, nothing evacuated, both emails say why', async () => {
    const c = setUp(['vm1']);
    await leftAt(c, [['power-off']], 'forcing-down');
    c.bmc.power.set(HOST, 'on');
    c.bmc.powerOff.set(HOST, 'stays-on');
    const incident = await fenceAndEvacuate(depsOf(c), runOf(c));
    const why = 'the BMC did not report power off within 60000 ms';
    expect(incident.phase).toBe('held');
    expect(entry(incident, 'power-off-again', 'failed')?.detail).toBe(why);
    expect(incident.hold?.reason).toBe(`${HOST} was on again before force-down and powering it off again was not verified (${why}); nothing more was evacuated`);
    expect(c.notes.map((n) => [n.event, n.action])).toEqual([['fenced-host-on', 'held for an operator'], ['fence-failed', 'held for an operator; nothing more evacuated']]);
    expect(c.notes[0]!.reason).toContain(`Powering it off again could not be verified (${why}), so nothing more is done. Someone with BMC access`);
    expect(c.nova.calls('forceDownAndDisable')).toEqual([]);
    expect(c.nova.calls('evacuate')).toEqual([]);
  });

  it('without readPower (an operator vouches for the fence) the power is not read', async () => {
    const c = setUp(['vm1']);
    await leftAt(c, [['power-off']], 'forcing-down');
    c.bmc.power.set(HOST, 'on');
    const incident = await fenceAndEvacuate(depsOf(c, { readPower: undefined }), runOf(c));
    expect(incident.phase).toBe('fenced');
    expect(c.bmc.calls('readPower')).toEqual([]);
  });
});

describe('fence: the last email and the evacuation figures', () => {
  it('all evacuated: the action counts them, the reason names the power-off and the unfence command, no retry', async () => {
    const c = setUp(['vm1', 'vm2']);
    const incident = await fenceAndEvacuate(depsOf(c), runOf(c));
    expect(c.notes).toHaveLength(1);
    const note = c.notes[0]!;
    expect(note).toMatchObject({ host: HOST, event: 'fenced', summary: 'failed', action: 'fenced; 2 of 2 instances evacuated', incidentId: incident.id });
    expect(note.reason).toBe(`failed on every network. Power-off: power off sent; the BMC reported off after 1 ms; the nova-compute service is forced down and disabled, and every instance was evacuated. It stays fenced until an operator runs: nova-ha unfence ${HOST}`);
    expect('retry' in note).toBe(false);
    expect(note.timeline).toEqual(incident.timeline);
    expect(note.instances).toEqual(incident.instances);
  });

  it('an instance that failed is named by its name, or its ID when it has none, and the email carries the retry command', async () => {
    const c = setUp([]);
    c.nova.server('vm1', HOST, { name: 'web-1' });
    c.nova.server('vm2', HOST, { name: '' });
    c.nova.behaviour = 'errors';
    const incident = await fenceAndEvacuate(depsOf(c), runOf(c));
    const note = c.notes[0]!;
    expect(note).toMatchObject({ event: 'evacuation-failed', action: 'fenced; 0 of 2 instances evacuated, 2 failed', retry: `nova-ha evacuate ${HOST}` });
    const shown: Record<string, string> = { vm1: 'web-1', vm2: 'vm2' };
    expect(incident.instances!.map((o) => o.name)).toEqual(expect.arrayContaining(['web-1', '']));
    const named = incident.instances!.map((o) => `${shown[o.id]} (${o.detail})`).join('; ');
    expect(note.reason).toContain(`; these instances need an operator: ${named}. Once the cause is fixed, evacuate them again with: nova-ha evacuate ${HOST}. It stays fenced`);
  });

  it("the evacuation step's detail carries the engine's own figures: calls, their spread, looks, reads", async () => {
    const c = setUp(['vm1', 'vm2', 'vm3']);
    const incident = await fenceAndEvacuate(depsOf(c), runOf(c));
    const report = c.logs('move-report')[0]!;
    expect(report).toMatchObject({ host: HOST, incident: incident.id });
    const calls = report.calls as { list: number; get: number; move: number; migrations: number };
    const [, spread, looks] = /^\d+ calls over ([\d.]+ s), (\d+) looks$/.exec(report.detail as string)!;
    expect(entry(incident, 'evacuate', 'done')?.detail).toBe(`3 evacuated, 0 skipped, 0 failed, of 3; ${calls.move} calls over ${spread}, ${looks} looks, ${calls.list + calls.get + calls.migrations} reads`);
  });

  it('calls that Nova refused all: the figures without a spread', async () => {
    const c = setUp(['vm1']);
    c.nova.failNext('evacuate', new NovaRefused(409, 'Cannot evacuate'));
    const incident = await fenceAndEvacuate(depsOf(c), runOf(c));
    const calls = c.logs('move-report')[0]!.calls as { list: number; get: number; move: number; migrations: number };
    const looks = /, (\d+) looks$/.exec(c.logs('move-report')[0]!.detail as string)![1];
    expect(entry(incident, 'evacuate', 'done')?.detail).toBe(`0 evacuated, 0 skipped, 1 failed, of 1; ${calls.move} calls, ${looks} looks, ${calls.list + calls.get + calls.migrations} reads`);
  });

  it('nothing to evacuate: the detail has the counts alone', async () => {
    const c = setUp([]);
    const incident = await fenceAndEvacuate(depsOf(c), runOf(c));
    expect(entry(incident, 'evacuate', 'done')?.detail).toBe('0 evacuated, 0 skipped, 0 failed, of 0');
    expect(c.notes[0]!.action).toBe('fenced; 0 of 0 instances evacuated');
  });

  it('reports its progress as the instances are called for', async () => {
    const c = setUp(['vm1', 'vm2']);
    const progress: [number, number][] = [];
    await fenceAndEvacuate(depsOf(c, { progress: (done, total) => progress.push([done, total]) }), runOf(c));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toEqual([2, 2]);
  });

  it('countOutcomes counts each outcome apart', () => {
    const o = (outcome: InstanceOutcome['outcome']): InstanceOutcome => ({ id: outcome, outcome } as InstanceOutcome);
    expect(countOutcomes([o('evacuated'), o('evacuated'), o('live-migrated'), o('skipped'), o('skipped'), o('skipped'), o('failed'), o('evacuating')])).toEqual({ evacuated: 2, migrated: 1, skipped: 3, failed: 1 });
    expect(countOutcomes([])).toEqual({ evacuated: 0, migrated: 0, skipped: 0, failed: 0 });
  });
});
