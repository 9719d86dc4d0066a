/** What each decision tells the operators (recovery/alerts.ts): the subject's what happened and what was done. */
import { describe, expect, it } from 'vitest';
import { alertFor, happened } from '../../lib/recovery/alerts.js';
import type { AlertKind, Cause, Decision } from '../../lib/decision/policy.js';
import { openIncident, withStep } from '../../lib/state/incident.js';

const decision = (alert: AlertKind, over: Partial<Decision> = {}): Decision & { alert: AlertKind } => ({ action: 'alert', cause: 'mgmt-network', reason: 'its management network is down', alert, ...over });

describe('alertFor', () => {
  it.each([
    ['mgmt-network-down', 'mgmt-network', 'alert', 'management network down', 'operators alerted, not evacuated'],
    ['tenant-network-down', 'tenant-network', 'alert', 'tenant network down', 'operators alerted'],
    ['tenant-network-down', 'tenant-network', 'drain', 'tenant network down', 'live-migrating its instances away'],
    ['power-unknown', 'power-unknown', 'alert', 'down everywhere and its BMC does not answer', 'nothing evacuated: fencing cannot be verified'],
    ['nova-api-warning', 'nova-api-only', 'wait', 'Nova reports nova-compute down', 'waiting before restarting nova-compute'],
    ['agents-left', 'agents-left', 'alert', 'its Consul agents left', 'nothing done'],
    ['inconsistent', 'inconsistent', 'alert', 'BMC and Consul disagree', 'nothing done'],
    ['needs-operator', 'node-unreachable', 'hold', 'down on every network (hung or cut off)', 'held for an operator'],
    ['paused-action', 'storage-network', 'hold', 'storage network down', 'nothing done: nova-ha is paused'],
    ['nova-unavailable', 'power-lost', 'hold', 'power lost', 'not fenced until Nova answers'],
  ] as const)('%s for %s (%s): "%s", "%s"', (alert, cause, action, summary, done) => {
    const n = alertFor('cmp1', decision(alert, { cause: cause as Cause, action }), undefined, false);
    expect(n).toEqual({ host: 'cmp1', event: alert, summary, action: done, reason: 'its management network is down', timeline: [], paused: false });
  });

  it('a recovery names what the incident was, from the incident, with its timeline and instances', () => {
    const incident = { ...withStep(openIncident('cmp1', 'storage-network', 'storage down', 0, 'ctl1'), { at: 1, step: 'restart-storage-network', outcome: 'done' as const, by: 'ctl1' }), instances: [{ id: 'vm1', name: 'vm1', outcome: 'evacuated' as const, from: 'cmp1' }] };
    const n = alertFor('cmp1', decision('recovered', { action: 'close', cause: 'healthy' }), incident, true);
    expect(n).toMatchObject({ event: 'recovered', summary: 'recovered (storage network down)', action: 'incident closed', incidentId: incident.id, timeline: incident.timeline, instances: incident.instances, paused: true });
    expect(alertFor('cmp1', decision('recovered', { cause: 'healthy' }), undefined, false).summary).toBe('recovered (healthy)');
    expect(alertFor('cmp1', decision('mgmt-network-down'), openIncident('cmp1', 'mgmt-network', 'x', 0, 'ctl1'), false).instances).toEqual([]);
  });

  it('every cause has words', () => {
    for (const cause of ['healthy', 'mgmt-network', 'tenant-network', 'storage-network', 'node-unreachable', 'power-lost', 'power-unknown', 'nova-api-only', 'nova-compute-dead', 'agents-left', 'inconsistent', 'operator', 'unknown'] as const) expect(happened(cause).length, cause).toBeGreaterThan(5);
    expect(happened('operator')).toBe('taken out of service by an operator');
    expect(happened('unknown')).toBe('state unknown');
    expect(happened('nova-compute-dead')).toBe('nova-compute is not running');
    expect(happened('healthy')).toBe('healthy');
  });
});
