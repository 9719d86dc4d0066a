/** `nova-ha incident` and the evacuate command's summary: a failed instance's reason in Nova's words, and the command to try again. */
import { describe, expect, it } from 'vitest';
import { renderIncident, retryLine } from '../../cli/commands/status.js';
import { openIncident, withStep, type Incident } from '../../lib/state/incident.js';

const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);
const fault = 'No valid host was found. There are not enough hosts available.';
const fenced: Incident = {
  ...withStep(openIncident('cmp1', 'node-unreachable', 'hung', T0, 'ctl1'), { at: T0 + 5000, step: 'power-off', outcome: 'done', detail: 'off', by: 'ctl1' }),
  phase: 'fenced',
  instances: [
    { id: 'i-1', name: 'web', outcome: 'evacuated', from: 'cmp1', to: 'cmp2', detail: 'ACTIVE on cmp2' },
    { id: 'i-2', name: 'db', outcome: 'failed', from: 'cmp1', detail: `ERROR on cmp1 after the evacuation: ${fault} (see: openstack server show i-2)`, fault },
  ],
};

describe('nova-ha incident', () => {
  it("shows Nova's fault for a failed instance and the exact command that evacuates it again", () => {
    const text = renderIncident(fenced);
    expect(text).toMatch(new RegExp(`db +i-2 +failed +cmp1 +- +ERROR on cmp1 after the evacuation: ${fault.replace(/\./g, '\\.')}`));
    expect(text).toContain('1 instance failed; once the cause is fixed, evacuate again with: nova-ha evacuate cmp1');
  });

  it('shows where each priority came from, as a last column, only when a source set one', () => {
    expect(renderIncident(fenced)).not.toContain('PRIORITY');
    const withPriority: Incident = { ...fenced, instances: [{ ...fenced.instances![0]!, priority: 'priority 80 from image cirros-ha' }, fenced.instances![1]!] };
    const text = renderIncident(withPriority);
    expect(text).toMatch(/INSTANCE +ID +OUTCOME +FROM +TO +DETAIL +PRIORITY/);
    expect(text).toMatch(/web +i-1 +evacuated +cmp1 +cmp2 +ACTIVE on cmp2 +priority 80 from image cirros-ha/);
    expect(text).toMatch(/db +i-2 +failed +cmp1 +- +ERROR on cmp1 after the evacuation: .* +-$/m);
  });

  it('offers no retry when nothing failed, when the fence did not go through, or once the incident is closed', () => {
    expect(retryLine({ ...fenced, instances: fenced.instances!.slice(0, 1) })).toBeUndefined();
    expect(retryLine({ ...fenced, timeline: fenced.timeline.filter((e) => e.step !== 'power-off') })).toBeUndefined();
    expect(retryLine({ ...fenced, closedAt: T0 + 60_000 })).toBeUndefined();
  });

  it('lists held instances with what they lack, and the retry line counts them with the automatic retries', () => {
    const held: Incident = { ...fenced, held: [{ id: 'i-3', name: 'batch', reason: 'needs 2 vCPU more than the closest host, cmp3, has free (0 vCPU, 4 GiB and 100 GB disk)' }], retries: { attempts: 2, lastAt: T0 } };
    const text = renderIncident(held);
    expect(text).toMatch(/batch +i-3 +held +cmp1 +- +needs 2 vCPU more than the closest host, cmp3/);
    expect(text).toContain('1 instance held for room, 1 instance failed (2 automatic retries so far); nova-ha evacuates them by itself when room appears; once the cause is fixed, evacuate again with: nova-ha evacuate cmp1');
    const { retries: _retries, ...neverRetried } = held;
    expect(retryLine({ ...neverRetried, instances: held.instances!.slice(0, 1) })).toBe('1 instance held for room; nova-ha evacuates them by itself when room appears; once the cause is fixed, evacuate again with: nova-ha evacuate cmp1');
  });

  it('held instances and the PRIORITY column together: a held row has no recorded priority', () => {
    const both: Incident = { ...fenced, instances: [{ ...fenced.instances![0]!, priority: 'priority 80 from image cirros-ha' }], held: [{ id: 'i-3', name: 'batch', reason: 'needs 2 vCPU more than the closest host, cmp3, has free (0 vCPU, 4 GiB and 100 GB disk)' }] };
    const text = renderIncident(both);
    expect(text).toMatch(/INSTANCE +ID +OUTCOME +FROM +TO +DETAIL +PRIORITY/);
    expect(text).toMatch(/web +i-1 +evacuated +cmp1 +cmp2 +ACTIVE on cmp2 +priority 80 from image cirros-ha/);
    expect(text).toMatch(/batch +i-3 +held +cmp1 +- +needs 2 vCPU more than the closest host, cmp3, has free \(0 vCPU, 4 GiB and 100 GB disk\) +-$/m);
  });
});
