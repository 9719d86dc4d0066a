/**
 * One evaluation pass over every compute host: what the watch handler runs on every health
 * transition and the controller check runs every evaluate_interval (watches can miss transitions
 * while a cluster changes leader). It records what it saw and hands any work to a worker process
 * per host; it never acts itself, so it returns quickly.
 */
import { holderOf } from '../systems/consul/lock.js';
import type { Incident } from '../state/incident.js';
import { NETWORKS, type HostObservation, type Snapshot } from '../decision/model.js';
import { buildSnapshot, type Observer, type World } from '../decision/observation.js';
import { readWorld } from '../state/world.js';
import { decide, stormOf, type Decision } from '../decision/policy.js';
import { KEYS, type HostRecord } from '../state/records.js';
import type { Runtime } from './runtime.js';

export interface Evaluation {
  readonly world: World;
  readonly snapshot: Snapshot;
  readonly hosts: readonly HostObservation[];
  readonly decisions: ReadonlyMap<string, Decision>;
  readonly incidents: ReadonlyMap<string, Incident> | 'unknown';
  readonly storm: string | undefined;
  readonly isolatedOn: readonly string[];
  readonly workersStarted: readonly string[];
  readonly errors: readonly string[];
}

/** Whether a decision gives a worker something to do beyond what the incident already shows. */
export function needsWorker(decision: Decision, incident: Incident | undefined): boolean {
  switch (decision.action) {
    case 'none':
      return false;
    case 'wait':
      return true;
    case 'alert':
    case 'hold':
      return !incident || incident.phase !== 'held' || incident.cause !== decision.cause || (decision.alert !== undefined && !incident.alerted) || incident.hold?.needsOperator !== (decision.needsOperator ?? false);
    default:
      return true;
  }
}

export async function evaluate(runtime: Runtime, observer: Observer, spawnWorker: (host: string) => void, trigger: string): Promise<Evaluation> {
  const log = runtime.logger.child({ step: 'evaluate', trigger });
  const world = await readWorld(runtime.clusters, runtime.kv);
  const now = Date.now();
  const { snapshot, changed } = buildSnapshot(world, observer, now, runtime.freshness);
  const isolatedOn = NETWORKS.filter((n) => snapshot.context.observer.networks[n] !== 'healthy');
  const decisions = new Map(snapshot.hosts.map((h) => [h.host, decide(h, snapshot.context, runtime.settings)]));

  // An observer that cannot see every cluster's leader records nothing: its view is not the truth.
  if (isolatedOn.length === 0) {
    await Promise.all([...changed].map(async ([host, record]) => {
      const decision = decisions.get(host)!;
      const written: HostRecord & { decision: Pick<Decision, 'action' | 'cause' | 'guard' | 'reason'> } = { ...record, decision: { action: decision.action, cause: decision.cause, ...(decision.guard ? { guard: decision.guard } : {}), reason: decision.reason } };
      await runtime.kv.write(runtime.kv.key(KEYS.host(host)), written).catch((error: unknown) => log.warn('record-failed', { host, error: (error as Error).message }));
      log.info('transition', { host, networks: Object.fromEntries(NETWORKS.map((n) => [n, record.networks[n].state])), nova_compute: record.novaNode.state, action: decision.action, reason: decision.reason });
    }));
  } else {
    const fix = `this controller cannot reach the ${isolatedOn.join(', ')} cluster leader; check its own links. Other controllers act meanwhile`;
    log.error('observer-isolated', { networks: isolatedOn, fix });
    runtime.notifier.notify({ host: runtime.node, event: 'observer-isolated', summary: `controller isolated on ${isolatedOn.join(', ')}`, action: 'this controller does nothing', reason: `${fix}. ${world.errors.join('; ')}`, timeline: [] });
  }

  const storm = stormOf(snapshot.context, runtime.settings.stormLimit);
  if (storm && isolatedOn.length === 0) {
    log.warn('storm', { detail: storm });
    runtime.notifier.notify({ host: 'cluster', event: 'storm', summary: 'many hosts failed at once', action: 'nothing repaired or fenced while it lasts', reason: `${storm}. nova-ha acts again by itself once no more hosts are failed than the limit allows; meanwhile check the switches and power of the failed hosts, or pause it (nova-ha pause).`, timeline: [] });
  }

  const workersStarted: string[] = [];
  const incidents = world.incidents;
  const candidates = [...decisions].filter(([host, d]) => needsWorker(d, incidents === 'unknown' ? undefined : incidents.get(host)));
  for (const [host, decision] of candidates) {
    const holder = await holderOf(runtime.clusters.mgmt, runtime.kv.key(KEYS.lock(host))).catch(() => 'unknown');
    if (holder) continue;
    log.info('worker-spawn', { host, action: decision.action, reason: decision.reason });
    spawnWorker(host);
    workersStarted.push(host);
  }
  return { world, snapshot, hosts: snapshot.hosts, decisions, incidents, storm, isolatedOn, workersStarted, errors: world.errors };
}

/** Nagios-style status for the controller check: 0 passing, 1 warning, 2 critical, and one line first. */
export function checkStatus(evaluation: Evaluation): { code: 0 | 1 | 2; output: string } {
  if (evaluation.isolatedOn.length > 0) return { code: 2, output: `CRITICAL: this controller is isolated on ${evaluation.isolatedOn.join(', ')}: it records and does nothing (${evaluation.errors.join('; ') || 'its node is failed in that cluster'})` };
  if (evaluation.incidents === 'unknown') return { code: 2, output: `CRITICAL: cannot read nova-ha's incidents (${evaluation.errors.join('; ')})` };
  const open = [...evaluation.incidents.values()];
  const held = open.filter((i) => i.phase === 'held' && i.hold?.needsOperator);
  const lines = open.map((i) => `${i.host}: ${i.phase}${i.hold ? ` (${i.hold.needsOperator ? 'needs an operator' : 'watching'})` : ''}, ${i.cause}, incident ${i.id}`);
  const total = evaluation.hosts.length;
  if (held.length > 0) return { code: 2, output: [`CRITICAL: ${held.length} incident${held.length === 1 ? '' : 's'} held for an operator (${held.map((i) => i.host).join(', ')}); ${open.length} open of ${total} hosts`, ...lines].join('\n') };
  if (open.length > 0 || evaluation.storm) return { code: 1, output: [`WARNING: ${open.length} incident${open.length === 1 ? '' : 's'} open of ${total} hosts${evaluation.storm ? `; ${evaluation.storm}` : ''}`, ...lines].join('\n') };
  return { code: 0, output: `OK: ${total} compute hosts, no open incident${evaluation.errors.length ? ` (${evaluation.errors.join('; ')})` : ''}` };
}
