/**
 * One evaluation pass over every compute host: what the watch handler runs on every health
 * transition and the controller check runs every evaluate_interval (watches can miss transitions
 * while a cluster changes leader). It records what it saw and hands any work to this controller's
 * workers (a queue and at most [policy] max_workers processes); it never acts itself, so it
 * returns quickly.
 */
import { KvWriteError, type KvChange } from '../systems/consul/kv.js';
import type { Incident } from '../state/incident.js';
import { NETWORKS, type HostObservation, type Snapshot } from '../decision/model.js';
import { buildSnapshot, type Observer, type World } from '../decision/observation.js';
import { readWorld } from '../state/world.js';
import { checksNotRun, type CheckNotRun } from '../decision/checks.js';
import { decide, stormOf, type Decision } from '../decision/policy.js';
import { KEYS, decidedRecord } from '../state/records.js';
import type { Runtime } from './runtime.js';
import type { Dispatch } from './spawn-worker.js';
import { announceStorm } from './storm.js';
import { urgency } from './worker-queue.js';
import { mayRetry, retrySettings } from './retry-left-behind.js';

export interface Evaluation {
  readonly world: World;
  readonly snapshot: Snapshot;
  readonly hosts: readonly HostObservation[];
  readonly decisions: ReadonlyMap<string, Decision>;
  readonly incidents: ReadonlyMap<string, Incident> | 'unknown';
  readonly storm: string | undefined;
  readonly isolatedOn: readonly string[];
  /** nova-ha checks that could not run (timed out, crashed): their results count as unknown. */
  readonly checksNotRun: readonly CheckNotRun[];
  /** Host records this evaluation had to write, and how many of them did not land (invariant 13). */
  readonly recordsWritten: number;
  readonly recordsLost: number;
  /** Hosts handed to workers (queued), and worker processes started for them. */
  readonly workersQueued: readonly string[];
  readonly workersStarted: number;
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

export async function evaluate(runtime: Runtime, observer: Observer, dispatch: Dispatch, trigger: string): Promise<Evaluation> {
  const log = runtime.logger.child({ step: 'evaluate', trigger });
  const world = await readWorld(runtime.clusters, runtime.kv, runtime.node);
  const now = Date.now();
  const { snapshot, changed } = buildSnapshot(world, observer, now, runtime.freshness);
  const isolatedOn = NETWORKS.filter((n) => snapshot.context.observer.networks[n] !== 'healthy');
  const decisions = new Map(snapshot.hosts.map((h) => [h.host, decide(h, snapshot.context, runtime.settings)]));
  const errors = [...world.errors];

  // An observer that cannot see every cluster's leader records nothing: its view is not the truth.
  let recordsLost = 0;
  const writes: KvChange[] = [];
  if (isolatedOn.length === 0) {
    for (const [host, record] of changed) {
      const decision = decisions.get(host)!;
      writes.push({ key: runtime.kv.key(KEYS.host(host)), value: decidedRecord(record, decision) });
      // A first evaluation records every host: one line for all of them, one per host otherwise.
      if (changed.size <= TRANSITIONS_LOGGED) log.info('transition', { host, networks: Object.fromEntries(NETWORKS.map((n) => [n, record.networks[n].state])), nova_compute: record.novaNode.state, action: decision.action, reason: decision.reason });
    }
    if (changed.size > TRANSITIONS_LOGGED) log.info('transitions', { hosts: changed.size, failed: snapshot.context.failed, detail: `${changed.size} host records changed; each host's states are in its record (nova-ha status)` });
    try {
      await runtime.kv.writeAll(writes);
    } catch (error) {
      if (!(error instanceof KvWriteError)) throw error;
      recordsLost = error.failed;
      errors.push(`host records: ${error.message}`);
      log.error('records-not-written', { error: error.message, lost: error.failed, of: error.total, fix: "check the mgmt cluster's leader and its log; the next evaluation writes them again" });
    }
  } else {
    const fix = `this controller cannot reach the ${isolatedOn.join(', ')} cluster leader; check its own links. Other controllers act meanwhile`;
    log.error('observer-isolated', { networks: isolatedOn, fix });
    runtime.notifier.notify({ host: runtime.node, event: 'observer-isolated', summary: `controller isolated on ${isolatedOn.join(', ')}`, action: 'this controller does nothing', reason: `${fix}. ${world.errors.join('; ')}`, timeline: [] });
  }

  const storm = stormOf(snapshot.context, runtime.settings.stormLimit);
  if (isolatedOn.length === 0) {
    if (storm) log.warn('storm', { detail: storm });
    await announceStorm(runtime, storm, snapshot, decisions, world.incidents).catch((error: unknown) => log.warn('storm-record-failed', { error: (error as Error).message, fix: 'the next evaluation tries again' }));
  }

  const notRun = isolatedOn.length === 0 ? checksNotRun(world.views.mgmt) : [];
  for (const { node, check, reason } of notRun) {
    log.warn('check-not-run', { host: node, check, reason, fix: `the check's result is unknown, so nova-ha does nothing on it; see the agent's log on ${node} and run the check's command by hand` });
    runtime.notifier.notify({ host: node, event: 'check-not-run', occurrence: check, summary: `check ${check} could not run`, action: 'its result is unknown: nothing done on it', reason: `${reason}. nova-ha treats a check that timed out or could not run as unknown, never as a failure, so it neither repairs nor fences on it. Look at the Consul agent's log on ${node} and run the check's command by hand (consul.d/README.md lists it).`, timeline: [] });
  }

  const incidents = world.incidents;
  // A fenced host's instances left behind, retried when room appears: its worker reads the room and decides.
  const retry = retrySettings(runtime.config);
  const mayRetryNow = (host: string, d: Decision): boolean => runtime.config.capacity.check && isolatedOn.length === 0 && storm === undefined && snapshot.context.paused === null && incidents !== 'unknown' && mayRetry(d, incidents.get(host), retry, now);
  const candidates = [...decisions].filter(([host, d]) => needsWorker(d, incidents === 'unknown' ? undefined : incidents.get(host)) || mayRetryNow(host, d));
  // One read of every lock: a host whose lock is held has its worker already.
  let held: ReadonlySet<string> | undefined = new Set();
  if (candidates.length > 0) {
    try {
      held = new Set([...(await runtime.kv.tree<unknown>(runtime.kv.key(KEYS.locks)))].filter(([, v]) => v.session).map(([host]) => host));
    } catch (error) {
      held = undefined;
      errors.push(`host locks: ${(error as Error).message}`);
    }
  }
  const queued = held === undefined ? [] : candidates.filter(([host]) => !held.has(host)).map(([host, decision]) => ({ host, urgency: urgency(decision, incidents === 'unknown' ? undefined : incidents.get(host)) }));
  const dispatched = dispatch(queued);
  if (queued.length > 0 || dispatched.started > 0) log.info('workers-dispatched', { hosts: queued.slice(0, 20).map((q) => q.host), queued: dispatched.queued, started: dispatched.started });
  return { world, snapshot, hosts: snapshot.hosts, decisions, incidents, storm, isolatedOn, checksNotRun: notRun, recordsWritten: writes.length, recordsLost, workersQueued: queued.map((q) => q.host), workersStarted: dispatched.started, errors };
}

/** Up to this many changed records, each transition gets its own log line. */
const TRANSITIONS_LOGGED = 50;

/** Nagios-style status for the controller check: 0 passing, 1 warning, 2 critical, and one line first. */
export function checkStatus(evaluation: Evaluation): { code: 0 | 1 | 2; output: string } {
  if (evaluation.isolatedOn.length > 0) return { code: 2, output: `CRITICAL: this controller is isolated on ${evaluation.isolatedOn.join(', ')}: it records and does nothing (${evaluation.errors.join('; ') || 'its node is failed in that cluster'})` };
  if (evaluation.recordsLost > 0) return { code: 2, output: `CRITICAL: ${evaluation.recordsLost} of ${evaluation.recordsWritten} host records could not be written to Consul KV after retries: nova-ha's view of those hosts is not saved; check the mgmt cluster's leader and its log (${evaluation.errors.join('; ')})` };
  if (evaluation.incidents === 'unknown') return { code: 2, output: `CRITICAL: cannot read nova-ha's incidents (${evaluation.errors.join('; ')})` };
  const open = [...evaluation.incidents.values()];
  const held = open.filter((i) => i.phase === 'held' && i.hold?.needsOperator);
  const lines = open.map((i) => `${i.host}: ${i.phase}${i.hold ? ` (${i.hold.needsOperator ? 'needs an operator' : 'watching'})` : ''}, ${i.cause}, incident ${i.id}`);
  const total = evaluation.hosts.length;
  if (held.length > 0) return { code: 2, output: [`CRITICAL: ${held.length} incident${held.length === 1 ? '' : 's'} held for an operator (${held.map((i) => i.host).join(', ')}); ${open.length} open of ${total} hosts`, ...lines].join('\n') };
  const notRun = evaluation.checksNotRun.map((c) => `${c.node}: check ${c.check} could not run (${c.reason})`);
  if (open.length > 0 || evaluation.storm || notRun.length > 0) {
    const headline = [`${open.length} incident${open.length === 1 ? '' : 's'} open of ${total} hosts`, evaluation.storm, notRun.length ? `${notRun.length} check${notRun.length === 1 ? '' : 's'} could not run` : undefined].filter(Boolean).join('; ');
    return { code: 1, output: [`WARNING: ${headline}`, ...lines, ...notRun].join('\n') };
  }
  return { code: 0, output: `OK: ${total} compute hosts, no open incident${evaluation.errors.length ? ` (${evaluation.errors.join('; ')})` : ''}` };
}
