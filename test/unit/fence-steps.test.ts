/**
 * The fence's order against a simulated Nova and BMC: nothing is forced down before the BMC
 * verified the power-off, nothing is evacuated before the force-down, the force-down and the
 * disable are one call, and the operators' email names why an instance failed and the command
 * that evacuates it again.
 */
import { describe, expect, it } from 'vitest';
import { fenceAndEvacuate } from '../../lib/recovery/fence.js';
import type { FenceRun } from '../../lib/recovery/effects.js';
import type { Runtime } from '../../lib/recovery/runtime.js';
import { openIncident } from '../../lib/state/incident.js';
import { silentLogger } from '../../lib/shared/log.js';
import type { Notification } from '../../lib/systems/notify/index.js';
import type { VerifiedOff } from '../../lib/systems/power/ipmi.js';
import { NovaSim } from '../support/nova-sim.js';

interface Setup {
  readonly run: FenceRun;
  readonly runtime: Runtime;
  readonly powerOff: () => Promise<VerifiedOff>;
  /** What the operators were sent. */
  readonly sent: Notification[];
  /** The power-off as it happened, with the Nova calls made by then. */
  readonly events: string[];
}

function setup(nova: NovaSim, bmc: () => Promise<VerifiedOff>): Setup {
  const sent: Notification[] = [];
  const events: string[] = [];
  let incident = openIncident('cmp1', 'node-unreachable', 'hung', Date.now(), 'ctl1');
  const runtime = {
    node: 'ctl1',
    logger: silentLogger,
    config: { evacuation: { concurrency: 16, mode: 'opt-out', select_key: 'nova_ha_evacuate', priority_key: 'nova_ha_priority', retries: 1, instance_timeout: 10_000 } },
    notifier: { notify: (n: Notification) => sent.push(n), flush: async () => ({ settled: true, abandoned: 0 }), pending: 0 },
  } as unknown as Runtime;
  const run: FenceRun = {
    host: 'cmp1',
    change: async (mutate) => (incident = mutate(incident)),
    stillOwner: () => true,
  };
  const powerOff = async (): Promise<VerifiedOff> => {
    events.push('power-off sent');
    const result = await bmc();
    events.push(`power-off ${result.verified ? 'verified' : 'not verified'} (Nova calls so far: ${nova.calls.map((c) => c.call).join(',') || 'none'})`);
    return result;
  };
  return { run, runtime, powerOff, sent, events };
}

describe('fence and evacuate', () => {
  it('evacuates only after the verified power-off and the force-down, which disables in the same call', async () => {
    const nova = new NovaSim('cmp1', 3);
    const t = setup(nova, async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return { verified: true, after: 50, detail: 'off after 0.05 s' };
    });
    const incident = await fenceAndEvacuate({ runtime: t.runtime, nova, powerOff: t.powerOff }, t.run);

    expect(incident.phase).toBe('fenced');
    // While the BMC was being asked, Nova was only read (which service to force down), never changed.
    expect(t.events[1]).toMatch(/^power-off verified \(Nova calls so far: (none|get-service)\)$/);
    const order = nova.calls.map((c) => c.call);
    expect(order.filter((c) => c === 'force-down-and-disable')).toHaveLength(1);
    expect(order.indexOf('force-down-and-disable')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('force-down-and-disable')).toBeLessThan(order.indexOf('list-host'));
    expect(order.indexOf('list-host')).toBeLessThan(order.indexOf('evacuation'));
    expect(order).not.toContain('disable');
    expect(nova.service).toMatchObject({ forcedDown: true, status: 'disabled', disabledReason: expect.stringContaining(incident.id) });
    const steps = incident.timeline.map((e) => `${e.step}:${e.outcome}`);
    for (const step of ['power-off:done', 'force-down:done', 'evacuate:started', 'evacuate:done', 'disable:done']) expect(steps, step).toContain(step);
    expect(steps.indexOf('power-off:done')).toBeLessThan(steps.indexOf('force-down:started'));
    expect(steps.indexOf('force-down:done')).toBeLessThan(steps.indexOf('evacuate:started'));
    expect(incident.timeline.find((e) => e.step === 'evacuate' && e.outcome === 'done')!.detail).toMatch(/^3 evacuated, 0 skipped, 0 failed, of 3; 3 calls over [\d.]+ s, \d+ looks, \d+ reads$/);
    expect(t.sent.map((n) => n.event)).toEqual(['fenced']);
    expect(t.sent[0]!.retry).toBeUndefined();
  });

  it('changes nothing in Nova when the power-off is not verified', async () => {
    const nova = new NovaSim('cmp1', 2);
    const t = setup(nova, async () => ({ verified: false, after: 30_000, detail: 'the BMC still says on after 30 s' }));
    const incident = await fenceAndEvacuate({ runtime: t.runtime, nova, powerOff: t.powerOff }, t.run);
    expect(incident.phase).toBe('held');
    expect(nova.calls.map((c) => c.call).filter((c) => c !== 'get-service')).toEqual([]);
    expect(nova.service.forcedDown).toBe(false);
  });

  it("emails why an instance failed in Nova's words and the exact command that evacuates it again", async () => {
    const nova = new NovaSim('cmp1', 2);
    nova.endings.set('vm-001', { kind: 'no-valid-host' });
    const t = setup(nova, async () => ({ verified: true, after: 0, detail: 'already off' }));
    const incident = await fenceAndEvacuate({ runtime: t.runtime, nova, powerOff: t.powerOff }, t.run);
    expect(incident.phase).toBe('fenced');
    const mail = t.sent.at(-1)!;
    expect(mail.event).toBe('evacuation-failed');
    expect(mail.retry).toBe('nova-ha evacuate cmp1');
    expect(mail.reason).toContain('No valid host was found. There are not enough hosts available.');
    expect(mail.reason).toContain('evacuate them again with: nova-ha evacuate cmp1');
    expect(mail.instances!.find((i) => i.id === 'vm-001')).toMatchObject({ outcome: 'failed', detail: expect.stringContaining('No valid host was found') });
    expect(incident.instances!.find((i) => i.id === 'vm-001')!.fault).toBe('No valid host was found. There are not enough hosts available.');
  });
});
