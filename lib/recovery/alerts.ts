/** What each decision tells the operators: the subject's "what happened" and "what was done". */
import type { Incident } from '../state/incident.js';
import type { Notification } from '../systems/notify/index.js';
import type { AlertKind, Cause, Decision } from '../decision/policy.js';

const HAPPENED: Record<Cause, string> = {
  healthy: 'healthy',
  'mgmt-network': 'management network down',
  'tenant-network': 'tenant network down',
  'storage-network': 'storage network down',
  'node-unreachable': 'down on every network (hung or cut off)',
  'power-lost': 'power lost',
  'shut-down': 'shut down without nova-ha maintenance',
  'power-unknown': 'down everywhere and its BMC does not answer',
  'nova-api-only': 'Nova reports nova-compute down',
  'nova-compute-dead': 'nova-compute is not running',
  'agents-left': 'its Consul agents left',
  inconsistent: 'BMC and Consul disagree',
  operator: 'taken out of service by an operator',
  unknown: 'state unknown',
};

const DONE: Record<AlertKind, string> = {
  'mgmt-network-down': 'operators alerted, not evacuated',
  'tenant-network-down': 'operators alerted',
  'power-unknown': 'nothing evacuated: fencing cannot be verified',
  'nova-api-warning': 'waiting before restarting nova-compute',
  'agents-left': 'nothing done',
  inconsistent: 'nothing done',
  'needs-operator': 'held for an operator',
  'paused-action': 'nothing done: nova-ha is paused',
  'nova-unavailable': 'not fenced until Nova answers',
  escalated: 'held incident escalated: acting on the worse failure',
  'fenced-host-on': 'still forced down and disabled in Nova',
  'shut-down': 'powering it back on',
  'self-fence-wait': 'its watchdog resets it; evacuated at the safe time',
  recovered: 'incident closed',
};

export function happened(cause: Cause): string {
  return HAPPENED[cause];
}

export function alertFor(host: string, decision: Decision & { alert: AlertKind }, incident: Incident | undefined, paused: boolean): Notification {
  const summary = decision.alert === 'recovered' ? `recovered (${happened(incident?.cause ?? decision.cause)})` : happened(decision.cause);
  const action = decision.alert === 'tenant-network-down' && decision.action === 'drain' ? 'live-migrating its instances away' : DONE[decision.alert];
  return {
    host,
    event: decision.alert,
    summary,
    action,
    reason: decision.reason,
    ...(incident ? { incidentId: incident.id, instances: incident.instances ?? [] } : {}),
    timeline: incident?.timeline ?? [],
    paused,
  };
}
