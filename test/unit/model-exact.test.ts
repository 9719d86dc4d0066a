/**
 * The phase lists of decision/model.ts as the policy reads them: a fence in any of its phases is
 * finished (invariants 4 and 6), and a closed incident is never resumed.
 */
import { describe, expect, it } from 'vitest';
import type { Phase } from '../../lib/decision/model.js';
import { decide } from '../../lib/decision/policy.js';
import { SETTINGS, cluster, host, type HostShape } from '../support/observations.js';

const hung: HostShape = { mgmt: 'failed', storage: 'failed', tenant: 'failed' };

describe('a fence under way is finished from the phase it was in', () => {
  const FENCE: Phase[] = ['fencing', 'forcing-down', 'evacuating'];

  it.each(FENCE.flatMap((phase) => [true, false].map((fenceStarted) => [phase, fenceStarted] as const)))('phase %s (power-off sent: %s): resumed as a fence in that phase even with the host healthy again', (phase, fenceStarted) => {
    const d = decide(host({ incident: { phase, fenceStarted } }), cluster(), SETTINGS);
    expect([d.action, d.cause, d.phase]).toEqual(['fence', 'healthy', phase]);
    expect(d.reason).toBe(`resuming incident inc-1 from phase ${phase}: a fence once started is finished, and the host is never powered on again`);
  });

  it.each(FENCE)('phase %s: the quiet period and a storm do not stop it', (phase) => {
    expect(decide(host({ ...hung, incident: { phase } }), cluster({ startedAgo: 30 }), SETTINGS).action).toBe('fence');
    expect(decide(host({ ...hung, incident: { phase } }), cluster({ hosts: 4, failed: { mgmt: 3, storage: 3, tenant: 3 } }), SETTINGS).action).toBe('fence');
  });

  it('a power-off sent from another phase (held for no operator): resumed in phase fencing', () => {
    const d = decide(host({ incident: { phase: 'held', fenceStarted: true, hold: { reason: 'x', needsOperator: false } } }), cluster(), SETTINGS);
    expect([d.action, d.phase]).toEqual(['fence', 'fencing']);
  });
});

describe('a closed incident is never resumed', () => {
  it.each(['recovered', 'failed'] as const)('%s after its power-off was sent: a healthy host is left alone', (phase) => {
    const d = decide(host({ incident: { phase, fenceStarted: true } }), cluster(), SETTINGS);
    expect([d.action, d.cause, d.reason]).toEqual(['none', 'healthy', 'healthy']);
  });

  it.each(['recovered', 'failed'] as const)('%s after its power-off was sent: a new failure waits out the quiet period like any other', (phase) => {
    const d = decide(host({ ...hung, incident: { phase, fenceStarted: true } }), cluster({ startedAgo: 30 }), SETTINGS);
    expect([d.action, d.guard]).toEqual(['none', 'quiet-period']);
  });
});
