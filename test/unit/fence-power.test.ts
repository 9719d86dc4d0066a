/**
 * A fence resumed after its power-off (another controller, after a worker died) must see the
 * power off again before it forces the host down and before it evacuates (issue 13, item 5):
 * on again means powered off again and verified first; a BMC that cannot say means a hold.
 * Nova and the BMC are small in-memory stand-ins that record every call.
 */
import { describe, expect, it } from 'vitest';
import type { FenceEvidence } from '../../lib/decision/fence-evidence.js';
import type { PowerState } from '../../lib/decision/model.js';
import { DUMP_DEFERRED, fenceAndEvacuate, type FenceDeps, type FenceNova, type PowerOffContext } from '../../lib/recovery/fence.js';
import type { Runtime } from '../../lib/recovery/runtime.js';
import { openIncident, withStep, type Incident } from '../../lib/state/incident.js';
import { silentLogger } from '../../lib/shared/log.js';
import type { Notification } from '../../lib/systems/notify/index.js';
import type { ComputeService, Server } from '../../lib/systems/nova/index.js';

const HOST = 'cmp1';

function fakeNova(calls: string[]): FenceNova {
  const service: ComputeService = { id: 'svc-1', host: HOST, binary: 'nova-compute', state: 'down', status: 'enabled', forcedDown: false, disabledReason: null } as ComputeService;
  const servers = new Map<string, Server>([['vm-1', { id: 'vm-1', name: 'vm-1', host: HOST, status: 'ACTIVE', vmState: 'active', metadata: {} } as unknown as Server]]);
  return {
    getComputeService: async () => (calls.push('getComputeService'), service),
    forceDownAndDisable: async () => (calls.push('forceDown'), { ...service, forcedDown: true, status: 'disabled' }),
    disableService: async () => (calls.push('disableService'), { ...service, status: 'disabled' }),
    listServersOnHost: async () => (calls.push('listServersOnHost'), [...servers.values()].filter((s) => s.host === HOST)),
    listServersChangedSince: async () => (calls.push('listServersChangedSince'), [...servers.values()]),
    getServer: async (id) => (calls.push(`getServer ${id}`), servers.get(id)!),
    evacuate: async (id) => {
      calls.push(`evacuate ${id}`);
      servers.set(id, { ...servers.get(id)!, host: 'cmp2' });
      return { requestId: 'req-1', confirmedBy: 'http-202' } as never;
    },
    liveMigrate: async () => {
      throw new Error('not used');
    },
    listMigrations: async () => (calls.push('listMigrations'), [{ id: 1, uuid: 'm-1', status: 'done', destCompute: 'cmp2' }] as never),
    listAggregates: async () => [],
    getImage: async () => {
      throw new Error('not used');
    },
  };
}

function runtime(sent: Notification[]): Runtime {
  return {
    node: 'ctl2',
    logger: silentLogger,
    notifier: { notify: (n: Notification) => void sent.push(n), flush: async () => ({ sent: 0, abandoned: 0 }), pending: 0 },
    config: { evacuation: { concurrency: 4, mode: 'opt-out', select_key: 'ha', priority_key: 'ha_priority', retries: 0, instance_timeout: 10_000 } },
  } as unknown as Runtime;
}

/** An incident whose power-off was recorded done by a worker that then died. */
function resumedIncident(): Incident {
  const opened = openIncident(HOST, 'node-unreachable', 'hung', Date.now() - 60_000, 'ctl1');
  const started = withStep({ ...opened, phase: 'fencing', fenceStarted: true }, { at: Date.now() - 50_000, step: 'power-off', outcome: 'started', by: 'ctl1' });
  return withStep(started, { at: Date.now() - 49_000, step: 'power-off', outcome: 'done', detail: 'the BMC reported off', by: 'ctl1' });
}

async function resume(powerStates: PowerState[], powerOffVerified = true) {
  const calls: string[] = [];
  const sent: Notification[] = [];
  let incident = resumedIncident();
  const readings = [...powerStates];
  const result = await fenceAndEvacuate({
    runtime: runtime(sent),
    nova: fakeNova(calls),
    readPower: async () => {
      const state = readings.shift() ?? 'off';
      calls.push(`readPower ${state}`);
      return state;
    },
    powerOff: async () => (calls.push('powerOff'), { verified: powerOffVerified, after: 10, detail: powerOffVerified ? 'the BMC reported off' : 'the BMC did not report off' }),
  }, { host: HOST, change: async (mutate) => (incident = mutate(incident)), stillOwner: () => true });
  return { result, calls, sent };
}

describe('a resumed fence sees the power off again (issue 13, item 5)', () => {
  it('still off: goes on to force-down and evacuation, without powering anything', async () => {
    const { result, calls } = await resume(['off', 'off', 'off']);
    expect(result.phase).toBe('fenced');
    expect(calls).not.toContain('powerOff');
    expect(calls).toContain('readPower off');
    expect(calls).toContain('forceDown');
    expect(calls.indexOf('readPower off')).toBeLessThan(calls.indexOf('forceDown'));
  });

  it('on again (someone at the BMC): powered off again, verified, before force-down and before any evacuation; the operators are told', async () => {
    const { result, calls, sent } = await resume(['on', 'off', 'off']);
    expect(result.phase).toBe('fenced');
    const off = calls.indexOf('powerOff');
    expect(off).toBeGreaterThanOrEqual(0);
    expect(calls).toContain('forceDown');
    expect(calls).toContain('evacuate vm-1');
    expect(off).toBeLessThan(calls.indexOf('forceDown'));
    expect(off).toBeLessThan(calls.indexOf('evacuate vm-1'));
    expect(result.timeline.filter((e) => e.step === 'power-off-again').map((e) => e.outcome)).toEqual(['started', 'done']);
    expect(sent.map((n) => n.event)).toContain('fenced-host-on');
  });

  it('on again and the second power-off is not verified: held for an operator, nothing forced down or evacuated', async () => {
    const { result, calls } = await resume(['on'], false);
    expect(result.phase).toBe('held');
    expect(result.hold?.needsOperator).toBe(true);
    expect(calls).not.toContain('forceDown');
    expect(calls.some((c) => c.startsWith('evacuate'))).toBe(false);
  });

  it('the BMC cannot say: held for an operator, nothing forced down or evacuated', async () => {
    const { result, calls } = await resume(['unknown']);
    expect(result.phase).toBe('held');
    expect(result.hold?.reason).toMatch(/could not say whether cmp1 is still off before force-down/);
    expect(calls).not.toContain('forceDown');
    expect(calls).not.toContain('powerOff');
  });

  it('on again between the force-down and the evacuation: powered off again before evacuating', async () => {
    const { result, calls } = await resume(['off', 'on', 'off']);
    expect(result.phase).toBe('fenced');
    const off = calls.indexOf('powerOff');
    expect(calls).toContain('forceDown');
    expect(calls).toContain('evacuate vm-1');
    expect(off).toBeGreaterThan(calls.indexOf('forceDown'));
    expect(off).toBeLessThan(calls.indexOf('evacuate vm-1'));
  });
});

/** An incident whose power-off a crash dump deferred (issue 18): the host was on, writing its dump. */
function deferredIncident(): Incident {
  const opened = openIncident(HOST, 'node-unreachable', 'hung', Date.now() - 60_000, 'ctl1');
  const started = withStep({ ...opened, phase: 'fencing', fenceStarted: true }, { at: Date.now() - 50_000, step: 'power-off', outcome: 'started', by: 'ctl1' });
  return withStep(started, { at: Date.now() - 49_000, step: 'power-off', outcome: 'done', detail: `${DUMP_DEFERRED} (3 fence_kdump messages); its instances are evacuated meanwhile`, by: 'ctl1' });
}

const SELF_FENCED: FenceEvidence = { selfFence: { lastContact: Date.now() - 200_000, timeoutMs: 60_000, marginMs: 30_000, safeAt: Date.now() - 50_000 } };

interface Resumed {
  readonly incident?: Incident;
  readonly evidence?: FenceEvidence;
  readonly powerStates?: PowerState[];
  readonly powerOffVerified?: boolean;
  /** What the host's fence_kdump record says at each look; absent: kdump awareness is off. */
  readonly dumping?: boolean[];
}

async function resumeWith(options: Resumed) {
  const calls: string[] = [];
  const contexts: PowerOffContext[] = [];
  const sent: Notification[] = [];
  let incident = options.incident ?? resumedIncident();
  const readings = [...(options.powerStates ?? [])];
  const looks = [...(options.dumping ?? [])];
  const verified = options.powerOffVerified ?? true;
  const powerOff: FenceDeps['powerOff'] = async (_host, context) => {
    calls.push('powerOff');
    contexts.push(context);
    return { verified, after: 10, detail: verified ? 'verified by level 1 of 1 (ipmi)' : 'no fence level verified the power off' };
  };
  const result = await fenceAndEvacuate({
    runtime: runtime(sent),
    nova: fakeNova(calls),
    readPower: async () => {
      const state = readings.shift() ?? 'off';
      calls.push(`readPower ${state}`);
      return state;
    },
    powerOff,
    ...(options.dumping
      ? {
          dumping: async () => {
            const now = looks.shift() ?? false;
            calls.push(`dumping ${now}`);
            return now;
          },
          powerOffAfterDump: async (host, context) => (calls.push('powerOffAfterDump'), powerOff(host, context)),
        }
      : {}),
  }, { host: HOST, change: async (mutate) => (incident = mutate(incident)), stillOwner: () => true, ...(options.evidence ? { evidence: options.evidence } : {}) });
  return { result, calls, contexts, sent };
}

describe('the re-read goes through the fence levels: a watchdog and a crash dump (issue 18)', () => {
  it('no level can say, but the host\'s watchdog has had its safe time: goes on, as the fence\'s last level would', async () => {
    const { result, calls } = await resumeWith({ evidence: SELF_FENCED, powerStates: ['unknown', 'unknown', 'unknown'] });
    expect(result.phase).toBe('fenced');
    expect(calls).not.toContain('powerOff');
    expect(calls).toContain('evacuate vm-1');
  });

  it('a level says on although the watchdog\'s safe time has passed: powered off again through the levels, the safe time not counted', async () => {
    const { result, calls, contexts } = await resumeWith({ evidence: SELF_FENCED, powerStates: ['on', 'off', 'off'] });
    expect(result.phase).toBe('fenced');
    expect(calls.indexOf('powerOff')).toBeLessThan(calls.indexOf('forceDown'));
    expect(contexts.map((c) => c.evidence)).toEqual([undefined]);
  });

  it('a level says on, the watchdog has had its safe time, and the levels cannot power it off: held, nothing forced down', async () => {
    const { result, calls } = await resumeWith({ evidence: SELF_FENCED, powerStates: ['on'], powerOffVerified: false });
    expect(result.phase).toBe('held');
    expect(calls).not.toContain('forceDown');
  });

  it('while the dump goes on the power is not re-read: forced down and evacuated, then powered off once the dump ends', async () => {
    const { result, calls } = await resumeWith({ incident: deferredIncident(), dumping: [true, true, true] });
    expect(result.phase).toBe('fenced');
    expect(calls.some((c) => c.startsWith('readPower'))).toBe(false);
    expect(calls.indexOf('evacuate vm-1')).toBeLessThan(calls.indexOf('powerOffAfterDump'));
    expect(result.timeline.filter((e) => e.step === 'power-off-after-dump').map((e) => e.outcome)).toEqual(['started', 'done']);
  });

  it('a dump that ended before the force-down: the deferred power-off comes first, once, and the re-reads go back to the levels', async () => {
    const { result, calls } = await resumeWith({ incident: deferredIncident(), dumping: [false], powerStates: ['off', 'off'] });
    expect(result.phase).toBe('fenced');
    expect(calls.filter((c) => c === 'powerOffAfterDump')).toHaveLength(1);
    expect(calls.indexOf('powerOffAfterDump')).toBeLessThan(calls.indexOf('forceDown'));
    expect(calls.filter((c) => c.startsWith('readPower'))).toEqual(['readPower off', 'readPower off']);
  });

  it('a dump that ended and a power-off after it that is not verified: held for an operator, nothing forced down or evacuated', async () => {
    const { result, calls, sent } = await resumeWith({ incident: deferredIncident(), dumping: [false], powerOffVerified: false });
    expect(result.phase).toBe('held');
    expect(result.hold?.reason).toMatch(/crash dump of cmp1 ended before force-down/);
    expect(calls).not.toContain('forceDown');
    expect(calls.some((c) => c.startsWith('evacuate'))).toBe(false);
    expect(sent.map((n) => n.event)).toEqual(['fence-failed']);
  });

  it('without kdump awareness any more, a deferred power-off is done before anything trusts the fence', async () => {
    const { result, calls } = await resumeWith({ incident: deferredIncident() });
    expect(result.phase).toBe('fenced');
    expect(calls.indexOf('powerOff')).toBeLessThan(calls.indexOf('forceDown'));
    expect(result.timeline.filter((e) => e.step === 'power-off-after-dump').map((e) => e.outcome)).toEqual(['started', 'done']);
  });
});
