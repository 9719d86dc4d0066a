/**
 * A fence resumed after its power-off (another controller, after a worker died) must see the
 * power off again before it forces the host down and before it evacuates (issue 13, item 5):
 * on again means powered off again and verified first; a BMC that cannot say means a hold.
 * Nova and the BMC are small in-memory stand-ins that record every call.
 */
import { describe, expect, it } from 'vitest';
import type { PowerState } from '../../lib/decision/model.js';
import { fenceAndEvacuate, type FenceNova } from '../../lib/recovery/fence.js';
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
