/**
 * A storm (more hosts failing at once than [policy] storm_limit) is told twice: when the hold
 * begins and when it ends. The `storm` key in KV, written with check-and-set at both moments,
 * makes one controller the teller of each, however many evaluate at once. The emails name the hosts held,
 * the incidents still running and in what phase, and what nova-ha does when the storm ends.
 */
import { NETWORKS, type HostObservation, type Snapshot } from '../decision/model.js';
import { stormThreshold, type Decision } from '../decision/policy.js';
import type { Incident } from '../state/incident.js';
import { KEYS, type StormFlag } from '../state/records.js';
import type { Notification } from '../systems/notify/index.js';
import type { Runtime } from './runtime.js';

const RUNNING: readonly Incident['phase'][] = ['repairing', 'fencing', 'forcing-down', 'evacuating'];

/** A host the storm count includes: failing right now, not fenced, not in maintenance. */
export function failingNow(host: HostObservation): boolean {
  if (host.maintenance.state === 'on') return false;
  if (host.incident !== 'unknown' && host.incident?.phase === 'fenced') return false;
  return NETWORKS.some((n) => host.networks[n].state === 'failed') || host.novaCompute.api.state === 'down';
}

function hostLines(snapshot: Snapshot, decisions: ReadonlyMap<string, Decision>): string[] {
  return snapshot.hosts.filter(failingNow).map((h) => {
    const d = decisions.get(h.host);
    const incident = h.incident !== 'unknown' && h.incident ? ` (incident ${h.incident.id}, phase ${h.incident.phase})` : '';
    return `  ${h.host}${incident}: ${d ? `${d.guard === 'storm' ? 'HELD by the storm' : d.action}: ${d.reason}` : 'not decided'}`;
  });
}

function runningLines(incidents: ReadonlyMap<string, Incident> | 'unknown'): string[] {
  if (incidents === 'unknown') return ['  (incidents could not be read)'];
  const running = [...incidents.values()].filter((i) => RUNNING.includes(i.phase));
  return running.length ? running.map((i) => `  ${i.host}: incident ${i.id}, phase ${i.phase} since ${new Date(i.phaseSince).toISOString()} (${i.cause}); it runs to its end`) : ['  none'];
}

/** threshold: the most hosts that may fail at once without a storm. */
export function stormBegan(storm: string, since: number, snapshot: Snapshot, decisions: ReadonlyMap<string, Decision>, incidents: ReadonlyMap<string, Incident> | 'unknown', threshold: number): Notification {
  return {
    host: 'cluster',
    event: 'storm',
    occurrence: String(since),
    summary: 'many hosts failing at once',
    action: 'new repairs and fences held while it lasts',
    reason: [
      `${storm}.`,
      'Hosts failing now:',
      ...hostLines(snapshot, decisions),
      'Incidents already running (a fence under way is finished, never held):',
      ...runningLines(incidents),
      `When no more than ${threshold} hosts are failing at once on any network, nova-ha acts on the held hosts by itself, each as its line says ("would ..."), after confirming its failure again; an email says when. Meanwhile look for the common cause (a switch, a power feed, the message bus), or stop everything with: nova-ha pause`,
    ].join('\n'),
    timeline: [],
  };
}

export function stormEnded(flag: StormFlag, snapshot: Snapshot, decisions: ReadonlyMap<string, Decision>, now: number): Notification {
  const failing = hostLines(snapshot, decisions);
  return {
    host: 'cluster',
    event: 'storm-ended',
    occurrence: String(flag.since),
    summary: 'storm over',
    action: 'acting on held hosts again',
    reason: [
      `The storm that began at ${new Date(flag.since).toISOString()} (${flag.detail}) is over after ${Math.round((now - flag.since) / 1000)} s: no more hosts are failing at once than the limit allows.`,
      failing.length ? 'Hosts still failing, and what nova-ha does about each now:' : 'No host is failing now.',
      ...failing,
    ].join('\n'),
    timeline: [],
  };
}

/**
 * Begins or ends the storm record and tells the operators, once each: the controller whose
 * check-and-set wins sends the email. Never called by an isolated controller.
 */
export async function announceStorm(runtime: Runtime, storm: string | undefined, snapshot: Snapshot, decisions: ReadonlyMap<string, Decision>, incidents: ReadonlyMap<string, Incident> | 'unknown'): Promise<void> {
  const key = runtime.kv.key(KEYS.storm);
  const current = await runtime.kv.read<StormFlag>(key);
  const on = current !== undefined && current.value.endedAt === undefined;
  const now = snapshot.context.now;
  const log = runtime.logger.child({ step: 'storm' });
  // A hold begins when a host's action is held by the storm, not while its failure is still being confirmed.
  if (storm && !on && [...decisions.values()].some((d) => d.guard === 'storm')) {
    const flag: StormFlag = { since: now, by: runtime.node, detail: storm };
    if (!(await runtime.kv.write(key, flag, current?.index ?? 0))) return;
    log.warn('storm-began', { detail: storm });
    runtime.notifier.notify(stormBegan(storm, now, snapshot, decisions, incidents, stormThreshold(runtime.settings.stormLimit, snapshot.context.hosts)));
  } else if (!storm && on) {
    // Ended by a check-and-set write, not a delete: Consul reports a delete of a key already gone as done.
    if (!(await runtime.kv.write(key, { ...current.value, endedAt: now, endedBy: runtime.node } satisfies StormFlag, current.index))) return;
    log.info('storm-ended', { detail: current.value.detail, lasted_ms: now - current.value.since });
    runtime.notifier.notify(stormEnded(current.value, snapshot, decisions, now));
  }
}
