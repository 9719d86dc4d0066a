/**
 * The decision policy: observations of one host plus the cluster context in, a decision out.
 * Pure: no I/O, no clock (the context carries "now"). Everything nova-ha does to a host starts
 * from a decision made here, so every safety invariant that can be decided from observations
 * lives here and is table-tested (test/unit/policy.test.ts).
 */
import type { StormLimit } from '../config/options.js';
import type { Config } from '../config/load.js';
import { formatDuration } from '../shared/duration.js';
import { beyondTheBmc, currentEvidence, type FenceEvidence, type KdumpSettings, type SelfFenceSettings } from './fence-evidence.js';
import { CLOSED_PHASES, FENCE_PHASES, HOPELESS_RESULTS, NETWORKS, type Attempt, type Cause, type ClusterContext, type HostObservation, type IncidentSummary, type MemberState, type Network, type NodeRepair, type Phase, type Repair, type RepairReport } from './model.js';

export type { Cause } from './model.js';

export interface PolicySettings {
  readonly confirmationWindow: number;
  readonly apiDownWait: number;
  readonly repairTimeout: number;
  readonly bootTimeout: number;
  readonly startupQuietPeriod: number;
  readonly stormLimit: StormLimit;
  readonly fencing: 'none' | 'ipmi' | 'agent';
  readonly drainOnTenantFailure: boolean;
  /** The watchdog self-fence fallback (fence-evidence.ts); absent: off. */
  readonly selfFence?: SelfFenceSettings;
  /** kdump awareness (fence-evidence.ts); absent: off. */
  readonly kdump?: KdumpSettings;
  /**
   * How long after a node repair was asked for its report is due (the nodes' settle time plus
   * REPORT_GRACE_MS). A request still unanswered then is sent once more: Consul delivers user
   * events by gossip, best effort, and a lost one would leave only repair_timeout. Absent: never.
   */
  readonly reportDueMs?: number;
}

/** Beyond the nodes' settle time: the repair command itself, the report's write and the worker's look. */
export const REPORT_GRACE_MS = 5000;
/** A node repair is asked for at most this often per incident: the first request and one resend. */
export const MAX_REPAIR_REQUESTS = 2;

export type Action =
  | 'none' // nothing to do (healthy, or a guard stops any action)
  | 'wait' // a failure is being confirmed, or a repair is given its time
  | 'close' // the host is healthy again: close its incident as recovered
  | 'alert' // tell the operators; do nothing to the host
  | 'hold' // hold the incident and tell the operators
  | 'repair' // ask the node to repair itself (through Consul) or power it on
  | 'fence' // power off and verify, force down, evacuate, mark fenced
  | 'drain'; // live-migrate the instances away (tenant network fault, opt-in)

export type Guard =
  | 'fenced'
  | 'maintenance'
  | 'paused'
  | 'observer-isolated'
  | 'unknown-data'
  | 'quiet-period'
  | 'storm'
  | 'confirming'
  | 'operator-hold'
  | 'no-fence-method'
  | 'nova-unavailable';

/** Emails (and webhook posts) a decision asks for; the notifier sends each once per dedupe window. */
export type AlertKind =
  | 'mgmt-network-down'
  | 'tenant-network-down'
  | 'power-unknown'
  | 'nova-api-warning'
  | 'agents-left'
  | 'inconsistent'
  | 'needs-operator'
  | 'paused-action'
  | 'nova-unavailable'
  | 'escalated'
  | 'fenced-host-on'
  | 'shut-down'
  | 'self-fence-wait'
  | 'recovered';

export interface Decision {
  readonly action: Action;
  readonly cause: Cause;
  /** One sentence an operator can act on. */
  readonly reason: string;
  /** What was observed, without what is done about it: guards quote it ("would fence because ..."). */
  readonly because?: string;
  readonly repair?: Repair;
  readonly guard?: Guard;
  readonly alert?: AlertKind;
  /** The phase the host's incident should be in after this decision; absent: leave it as it is. */
  readonly phase?: Phase;
  /** For phase held: whether only an operator may move the incident on. */
  readonly needsOperator?: boolean;
  /** When time alone could change this decision. */
  readonly recheckInMs?: number;
  /** A held incident moved on because the host got strictly worse: what it was held as. */
  readonly escalatedFrom?: Cause;
  /** For a fence: what stands in for the BMC (a watchdog's safe time) or defers the power-off (a crash dump). */
  readonly evidence?: FenceEvidence;
}

/**
 * How bad a cause is. A held incident answers every observation with "held", except one that is
 * strictly worse: a tenant-network email must not hide a host that then hangs.
 */
const SEVERITY: Record<Cause, number> = {
  healthy: 0,
  unknown: 0,
  'mgmt-network': 1,
  'tenant-network': 1,
  'agents-left': 1,
  inconsistent: 1,
  'nova-api-only': 1,
  'nova-compute-dead': 2,
  'storage-network': 3,
  'node-unreachable': 4,
  'power-lost': 4,
  'shut-down': 4,
  'power-unknown': 4,
  operator: 4,
};

export const worseThan = (cause: Cause, than: Cause | undefined): boolean => than !== undefined && SEVERITY[cause] > SEVERITY[than];

const isHostAction = (action: Action): boolean => action === 'repair' || action === 'fence' || action === 'drain';

/**
 * A fence is under way once nova-ha has sent (or is about to send) the power-off, until the host
 * is fenced or an operator holds it: whatever the phase says, such a host is never powered on by
 * nova-ha, only fenced to the end.
 */
function fenceUnderWay(incident: IncidentSummary): boolean {
  if (FENCE_PHASES.includes(incident.phase)) return true;
  return incident.fenceStarted && incident.phase !== 'fenced' && !CLOSED_PHASES.includes(incident.phase) && incident.hold?.needsOperator !== true;
}

export function decide(host: HostObservation, context: ClusterContext, settings: PolicySettings): Decision {
  const incident = host.incident;
  if (incident === 'unknown') return unknown('its incident record could not be read from Consul');
  if (incident?.phase === 'fenced') return stayFenced(host, incident, context);
  if (host.maintenance.state === 'unknown') return unknown('its maintenance flag could not be read');
  if (host.maintenance.state === 'on') {
    return { action: 'none', cause: classify(host).cause, guard: 'maintenance', reason: `in maintenance${host.maintenance.reason ? ` (${host.maintenance.reason})` : ''}: never acted on` };
  }
  const isolatedOn = NETWORKS.filter((n) => context.observer.networks[n] !== 'healthy');
  if (isolatedOn.length > 0) {
    return { action: 'none', cause: 'unknown', guard: 'observer-isolated', reason: `this controller (${context.observer.node}) is not healthy on ${isolatedOn.join(', ')}, so its view of the hosts cannot be trusted` };
  }
  if (context.paused === 'unknown') return unknown('the cluster-wide pause switch could not be read');

  const decision = assess(host, incident, context, settings);
  const guarded = guard(decision, incident, context, settings);
  // An escalation is recorded, and told, whatever guard then holds it.
  return decision.escalatedFrom && !guarded.escalatedFrom ? { ...guarded, escalatedFrom: decision.escalatedFrom, ...(guarded.alert ? {} : { alert: 'escalated' as const }) } : guarded;
}

/**
 * Fenced stays fenced until an operator unfences it. A fenced host seen on again (someone powered
 * it on) is news for the operators, once, unless it is in maintenance or this observer cannot trust its view.
 */
function stayFenced(host: HostObservation, incident: IncidentSummary, context: ClusterContext): Decision {
  const stay: Decision = { action: 'none', cause: classify(host).cause, guard: 'fenced', reason: `fenced by incident ${incident.id}; it stays fenced until an operator runs "nova-ha unfence ${host.host}"` };
  const alive = NETWORKS.filter((n) => host.networks[n].state === 'alive');
  const isolated = NETWORKS.some((n) => context.observer.networks[n] !== 'healthy');
  if (incident.seenOnWhileFenced !== undefined || (host.power.state !== 'on' && alive.length === 0) || host.maintenance.state !== 'off' || isolated) return stay;
  const evidence = [host.power.state === 'on' ? 'its BMC reports power on' : '', alive.length ? `alive on ${alive.join(', ')}` : ''].filter(Boolean).join(', ');
  return { ...stay, action: 'alert', alert: 'fenced-host-on', reason: `fenced by incident ${incident.id}, but it is on again (${evidence}); nova-ha did not power it on. It stays forced down and disabled in Nova, so nothing is scheduled there, until an operator runs "nova-ha unfence ${host.host}"` };
}

/** The cluster-wide guards (pause, quiet period, storm, fence method, Nova) over a host action. */
function guard(decision: Decision, incident: IncidentSummary | null, context: ClusterContext, settings: PolicySettings): Decision {
  if (!isHostAction(decision.action)) return decision;

  const inProgress = incident !== null && fenceUnderWay(incident);
  const would = `would ${describe(decision)} because ${decision.because ?? decision.reason}`;
  if (context.paused !== null && context.paused !== 'unknown') {
    // A fence under way keeps its phase while paused: after resume it is finished, never undone.
    if (inProgress) return { action: 'none', cause: decision.cause, guard: 'paused', reason: `nova-ha is paused (${context.paused.reason}): the fence of incident ${incident.id} (phase ${incident.phase}) resumes when nova-ha does` };
    return { ...decision, action: 'hold', guard: 'paused', alert: 'paused-action', phase: 'held', needsOperator: false, reason: `nova-ha is paused (${context.paused.reason}): it ${would}` };
  }
  if (!inProgress) {
    const quietFor = context.observer.startedAt + settings.startupQuietPeriod - context.now;
    if (quietFor > 0) {
      return { action: 'none', cause: decision.cause, guard: 'quiet-period', recheckInMs: quietFor, reason: `this controller started ${formatDuration(context.now - context.observer.startedAt)} ago and does nothing during the first ${formatDuration(settings.startupQuietPeriod)}; it ${would}` };
    }
    const storm = stormOf(context, settings.stormLimit);
    if (storm) return { action: 'hold', cause: decision.cause, guard: 'storm', phase: 'held', needsOperator: false, reason: `${storm}: holding; it ${would}` };
  }
  if (decision.action === 'fence' && !inProgress) {
    if (settings.fencing === 'none') {
      return { action: 'hold', cause: decision.cause, guard: 'no-fence-method', alert: 'needs-operator', phase: 'held', needsOperator: true, reason: `${decision.because ?? decision.reason}: it needs fencing but [fencing] method = none, so it is held for an operator` };
    }
    const novaDown = context.nova.api !== 'up' ? `Nova's API is ${context.nova.api}` : context.nova.schedulers !== 'up' ? `Nova's schedulers are ${context.nova.schedulers}` : undefined;
    if (novaDown) return { action: 'hold', cause: decision.cause, guard: 'nova-unavailable', alert: 'nova-unavailable', phase: 'held', needsOperator: false, reason: `${decision.because ?? decision.reason}: it needs fencing but ${novaDown}, so its instances could not be evacuated; held until Nova answers again` };
  }
  return decision;
}

/** The decision matrix (design.md section 4) and the incident's progress, before the cluster-wide guards. */
function assess(host: HostObservation, incident: IncidentSummary | null, context: ClusterContext, settings: PolicySettings): Decision {
  const open = incident !== null && !CLOSED_PHASES.includes(incident.phase);
  if (open && fenceUnderWay(incident)) {
    const evidence = currentEvidence(host, context.now, settings);
    return { action: 'fence', cause: 'healthy', phase: FENCE_PHASES.includes(incident.phase) ? incident.phase : 'fencing', ...(evidence ? { evidence } : {}), reason: `resuming incident ${incident.id} from phase ${incident.phase}: a fence once started is finished, and the host is never powered on again` };
  }
  const row = classify(host);
  // A held incident moves on when the host gets strictly worse (recorded, told); otherwise one held for an operator waits for them.
  const escalatedFrom = open && incident.phase === 'held' && worseThan(row.cause, incident.cause) ? incident.cause : undefined;
  if (open && incident.hold?.needsOperator && escalatedFrom === undefined) {
    if (row.cause === 'healthy' && !incident.fenceStarted) return closeOnceReported(host, incident, context.now);
    return { action: 'none', cause: row.cause, guard: 'operator-hold', reason: `incident ${incident.id} is held for an operator (${incident.hold.reason})` };
  }
  if (row.cause === 'unknown') return { action: 'none', cause: 'unknown', guard: 'unknown-data', reason: row.reason };
  if (row.cause === 'healthy') {
    return open ? closeOnceReported(host, incident, context.now) : { action: 'none', cause: 'healthy', reason: 'healthy' };
  }

  const elapsed = context.now - row.since;
  const confirming = !open || incident.phase === 'detected' || incident.phase === 'confirming';
  if (elapsed < settings.confirmationWindow) {
    return { action: 'wait', cause: row.cause, guard: 'confirming', ...(confirming ? { phase: 'confirming' as const } : {}), recheckInMs: settings.confirmationWindow - elapsed, reason: `${row.reason} for ${formatDuration(elapsed)}; confirming for ${formatDuration(settings.confirmationWindow)} before acting` };
  }
  // An escalated incident tries the new row's own repair: attempts made before it began were for another failure.
  const attempts = !open ? {} : escalatedFrom !== undefined ? attemptsSince(incident.attempts, row.since) : incident.attempts;
  const now = context.now;
  const tried: Tried = { attempts, reports: open ? incident.reports ?? {} : {}, requestsSent: open ? incident.requestsSent ?? {} : {}, ...(settings.reportDueMs !== undefined ? { reportDueMs: settings.reportDueMs } : {}) };
  const decision = matrix({ ...row, cause: row.cause }, host, tried, now, elapsed, confirming, settings);
  if (escalatedFrom === undefined) return decision;
  // A started fence is never undone: a host that turned out to be off is fenced as it is, never powered on.
  const safe = incident!.fenceStarted && decision.action === 'repair' ? fence(row.cause, `${row.reason} after its fence was started`) : decision;
  const reason = `worse than the ${escalatedFrom} incident ${incident!.id} was held for: ${safe.reason}`;
  return { ...safe, escalatedFrom, reason, ...(safe.alert ? {} : { alert: 'escalated' as const }) };
}

function attemptsSince(attempts: Partial<Record<Attempt, number>>, since: number): Partial<Record<Attempt, number>> {
  return Object.fromEntries(Object.entries(attempts).filter(([, at]) => at >= since));
}

/** What the incident tried so far, and what the nodes reported about it. */
interface Tried {
  readonly attempts: Partial<Record<Attempt, number>>;
  readonly reports: Partial<Record<NodeRepair, RepairReport>>;
  readonly requestsSent: Partial<Record<NodeRepair, number>>;
  readonly reportDueMs?: number;
}

/** One row of the decision matrix, for a failure confirmed for the window. */
function matrix(row: Row & { readonly cause: Exclude<Row['cause'], 'healthy' | 'unknown'> }, host: HostObservation, tried: Tried, now: number, elapsed: number, confirming: boolean, settings: PolicySettings): Decision {
  const { attempts } = tried;
  switch (row.cause) {
    case 'mgmt-network':
      return alertOnly(row.cause, 'mgmt-network-down', `${row.reason}: its instances still run and write, so it is never evacuated; operators alerted`);
    case 'tenant-network':
      if (settings.drainOnTenantFailure && attempts.drain === undefined) return { action: 'drain', cause: row.cause, alert: 'tenant-network-down', phase: 'held', needsOperator: false, because: row.reason, reason: `${row.reason}: live-migrating its instances away (opt-in drain)` };
      return alertOnly(row.cause, 'tenant-network-down', `${row.reason}: operators alerted${attempts.drain === undefined ? '' : ' (drain already done)'}`);
    case 'power-unknown':
      return beyondTheBmc(row, host, now, settings) ?? alertOnly(row.cause, 'power-unknown', `${row.reason}: nothing is evacuated without verified fencing; operators alerted`);
    case 'agents-left':
    case 'inconsistent':
      return alertOnly(row.cause, row.cause, `${row.reason}; operators alerted, nothing done`);
    case 'storage-network': {
      const mgmt = host.networks.mgmt;
      if (mgmt.state !== 'alive') {
        // Every network whose failure leads to a fence is confirmed on its own: a short mgmt blip
        // (a repair restarting interfaces makes one) must not turn a storage repair into a fence.
        const mgmtFor = now - mgmt.since;
        if (mgmtFor < settings.confirmationWindow) return { action: 'wait', cause: row.cause, guard: 'confirming', recheckInMs: settings.confirmationWindow - mgmtFor, reason: `${row.reason}, and its management network has been down for ${formatDuration(mgmtFor)}; confirming that for ${formatDuration(settings.confirmationWindow)} before fencing` };
        return fence(row.cause, `${row.reason}, and with the management network down too the repair request cannot reach it`);
      }
      return repairThenEscalate(row, 'restart-storage-network', tried, now, settings.repairTimeout, 'fence');
    }
    case 'nova-compute-dead':
      return repairThenEscalate(row, 'restart-nova-compute', tried, now, settings.repairTimeout, 'fence');
    case 'nova-api-only': {
      // Right after nova-ha's own restart or power-on, Nova's API lags the node for a few
      // report intervals: that is the repair's aftermath, not a new failure to warn about.
      const lastRepair = latestRepair(attempts);
      // A restart the node reported as hopeless is no lag to wait out: it is escalated below.
      if (lastRepair && hopelessReport(lastRepair.repair, tried) === undefined) {
        const window = lastRepair.repair === 'power-on' ? settings.bootTimeout : settings.repairTimeout;
        const waited = now - lastRepair.at;
        if (waited < window) return { action: 'wait', cause: row.cause, recheckInMs: window - waited, reason: `${row.reason}: Nova's API has not seen it back yet, ${formatDuration(waited)} after ${lastRepair.repair}; waiting up to ${formatDuration(window)}` };
      }
      if (elapsed < settings.apiDownWait) {
        return { action: 'wait', cause: row.cause, alert: 'nova-api-warning', ...(confirming ? { phase: 'confirming' as const } : {}), recheckInMs: settings.apiDownWait - elapsed, reason: `${row.reason} for ${formatDuration(elapsed)} while it runs on the node; waiting ${formatDuration(settings.apiDownWait)} for it to recover before restarting it` };
      }
      return repairThenEscalate(row, 'restart-nova-compute', tried, now, settings.repairTimeout, 'hold');
    }
    case 'power-lost':
      return repairThenEscalate(row, 'power-on', tried, now, settings.bootTimeout, 'fence');
    case 'shut-down': {
      // Shut down cleanly but not in maintenance: the seed's power-loss row, said plainly.
      const decision = repairThenEscalate(row, 'power-on', tried, now, settings.bootTimeout, 'fence');
      return decision.action === 'repair' ? { ...decision, alert: 'shut-down', reason: `${row.reason}, but it is not in maintenance, so nova-ha treats it as a power loss and powers it back on; if the shutdown was on purpose, run "nova-ha maintenance on ${host.host}" before the next one` } : decision;
    }
    case 'node-unreachable':
      // After our power-on, a host that is on but not yet back is booting, not hung.
      if (attempts['power-on'] !== undefined) return repairThenEscalate({ ...row, cause: 'power-lost' }, 'power-on', tried, now, settings.bootTimeout, 'fence');
      return beyondTheBmc(row, host, now, settings) ?? fence(row.cause, row.reason);
  }
}

/**
 * Nova keeps saying "up" for service_down_time after nova-compute stopped reporting, so right
 * after nova-ha restarted it or powered the host on, "up" may be the old process's last word;
 * a frozen process woken to be stopped can even report once more on its way out. Closing then
 * would be early: Nova would see it down a moment later and open a new incident. So the report
 * must come after the repair and after the node was last seen starting nova-compute.
 */
function closeOnceReported(host: HostObservation, incident: IncidentSummary, now: number): Decision {
  const repair = latestRepair(incident.attempts);
  const { node, api } = host.novaCompute;
  if (repair && (repair.repair === 'restart-nova-compute' || repair.repair === 'power-on') && api.reportedAt !== undefined && api.reportedAt < Math.max(repair.at, node.since)) {
    return { action: 'wait', cause: 'healthy', reason: `healthy on every network and nova-compute runs, but its last report to Nova (${formatDuration(now - api.reportedAt)} ago) came before ${repair.repair} took effect; incident ${incident.id} closes at its first report since` };
  }
  return close(incident, 'healthy on every network and in Nova again');
}

function latestRepair(attempts: Partial<Record<Attempt, number>>): { repair: Repair; at: number } | undefined {
  let latest: { repair: Repair; at: number } | undefined;
  for (const [attempt, at] of Object.entries(attempts) as [Attempt, number][]) {
    if (attempt !== 'drain' && (!latest || at > latest.at)) latest = { repair: attempt, at };
  }
  return latest;
}

interface Row {
  /** "operator" is never observed: only an operator's own fence or evacuate has that cause. */
  readonly cause: Exclude<Cause, 'operator'>;
  readonly since: number;
  readonly reason: string;
}

const isFailed = (state: MemberState): boolean => state === 'failed';

/** Which row of the decision matrix the host's observations fall in. */
export function classify(host: HostObservation): Row {
  const { networks, power } = host;
  const unknownOn = NETWORKS.filter((n) => networks[n].state === 'unknown');
  if (unknownOn.length > 0) return { cause: 'unknown', since: 0, reason: `its state on ${unknownOn.join(', ')} is unknown (no leader, or the cluster could not be asked)` };
  const leftOn = NETWORKS.filter((n) => networks[n].state === 'left');
  const downOn = NETWORKS.filter((n) => networks[n].state !== 'alive');
  const latest = (nets: readonly Network[]): number => Math.max(...nets.map((n) => networks[n].since));

  if (downOn.length === 0) {
    if (power.state === 'off') return { cause: 'inconsistent', since: power.since, reason: 'the BMC reports power off while the host is alive on every network (wrong BMC address?)' };
    const { node, api } = host.novaCompute;
    if (node.state === 'unknown') return { cause: 'unknown', since: 0, reason: 'nova-compute\'s state on the node is unknown (its check is missing or not reporting)' };
    if (node.state === 'down') return { cause: 'nova-compute-dead', since: node.since, reason: 'nova-compute is not running on the node' };
    if (api.state === 'unknown') return { cause: 'unknown', since: 0, reason: 'nova-compute\'s state in Nova\'s API is unknown (the API could not be asked)' };
    // While the management network was down nova-compute could not report (its message bus runs
    // over it): Nova's view counts only from when that network came back.
    if (api.state === 'down') return { cause: 'nova-api-only', since: Math.max(api.since, networks.mgmt.since), reason: 'only Nova\'s API reports nova-compute down' };
    return { cause: 'healthy', since: 0, reason: 'healthy' };
  }
  if (downOn.length === NETWORKS.length) {
    const since = latest(downOn);
    if (power.state === 'off' && leftOn.length === NETWORKS.length) return { cause: 'shut-down', since, reason: 'shut down cleanly: its Consul agents left every cluster and its power is off' };
    if (power.state === 'off') return { cause: 'power-lost', since, reason: 'down on every network and its power is off' };
    if (leftOn.length > 0) return { cause: 'agents-left', since, reason: `its Consul agents left ${leftOn.join(', ')} cleanly while the power is ${power.state}: someone stopped them` };
    if (power.state === 'on') return { cause: 'node-unreachable', since, reason: 'failed on every network while its power is on (hung or cut off)' };
    return { cause: 'power-unknown', since, reason: 'failed on every network and its BMC does not answer' };
  }
  if (leftOn.length > 0) return { cause: 'agents-left', since: latest(leftOn), reason: `its Consul agent left ${leftOn.join(', ')} cleanly: someone stopped it` };
  // A host coming back from failing everywhere shows up network by network (each cluster notices
  // the rejoin on its own, up to serf's reconnect interval apart): a partial failure is confirmed
  // from the moment it took its shape, not from when its networks failed, or the first network
  // back would make a fence out of networks that are coming back too.
  const reachableSince = Math.min(...NETWORKS.filter((n) => networks[n].state === 'alive').map((n) => networks[n].since));
  const partial = (failedSince: number): number => Math.max(failedSince, reachableSince);
  if (isFailed(networks.storage.state)) return { cause: 'storage-network', since: partial(networks.storage.since), reason: 'its storage network is down' };
  if (isFailed(networks.mgmt.state)) return { cause: 'mgmt-network', since: partial(networks.mgmt.since), reason: `its management network is down${isFailed(networks.tenant.state) ? ' (and its tenant network)' : ''}` };
  return { cause: 'tenant-network', since: partial(networks.tenant.since), reason: 'its tenant network is down' };
}

/**
 * The node's report on this attempt of repair, when it says waiting is pointless (refused, failed,
 * did not help). A report older than the attempt belongs to an earlier failure, and power-on has
 * no node to report.
 */
function hopelessReport(repair: Repair, tried: Tried): RepairReport | undefined {
  const report = reportOnThisAttempt(repair, tried);
  return report !== undefined && HOPELESS_RESULTS.includes(report.result) ? report : undefined;
}

/** The node's report on this attempt of a repair: none for power-on, none older than the attempt. */
function reportOnThisAttempt(repair: Repair, tried: Tried): RepairReport | undefined {
  const triedAt = tried.attempts[repair];
  const report = repair === 'power-on' ? undefined : tried.reports[repair];
  return triedAt !== undefined && report !== undefined && report.at >= triedAt ? report : undefined;
}

/**
 * When, counted from the first request, a node repair with no report yet is asked for again; undefined
 * when it will not be (power-on has no node to answer, a report came, the resend was made, or
 * resends are off).
 */
function reportOverdueAt(repair: Repair, tried: Tried): number | undefined {
  if (repair === 'power-on' || tried.reportDueMs === undefined || reportOnThisAttempt(repair, tried)) return undefined;
  return (tried.requestsSent[repair] ?? 1) < MAX_REPAIR_REQUESTS ? tried.reportDueMs : undefined;
}

function describeReport(repair: Repair, report: RepairReport): string {
  switch (report.result) {
    case 'refused':
      return `the node refused ${repair} (${report.detail})`;
    case 'failed':
      return `${repair} failed on the node (${report.detail})`;
    default:
      return `${repair} ran but did not help: the node reports ${report.detail}`;
  }
}

/**
 * Try the repair once, then wait up to timeout for the host to recover, then escalate. The node's
 * report can only cut the wait short, towards the same escalation: it never decides anything the
 * timeout would not have decided, and never counts as the recovery itself.
 */
function repairThenEscalate(row: Row, repair: Repair, tried: Tried, now: number, timeout: number, escalation: 'fence' | 'hold'): Decision {
  const triedAt = tried.attempts[repair];
  if (triedAt === undefined) return { action: 'repair', cause: row.cause, repair, phase: 'repairing', because: row.reason, reason: `${row.reason}: trying ${repair}` };
  const waited = now - triedAt;
  const hopeless = hopelessReport(repair, tried);
  if (waited < timeout && hopeless === undefined) {
    const resendAt = reportOverdueAt(repair, tried);
    if (resendAt !== undefined && waited >= resendAt) {
      return { action: 'repair', cause: row.cause, repair, phase: 'repairing', because: row.reason, reason: `${row.reason}; no report from the node ${formatDuration(waited)} after ${repair} was asked for (Consul delivers events best effort): asking once more, still waiting up to ${formatDuration(timeout)} from the first request` };
    }
    const recheckInMs = (resendAt !== undefined ? Math.min(resendAt, timeout) : timeout) - waited;
    return { action: 'wait', cause: row.cause, recheckInMs, reason: `${row.reason}; ${repair} was tried ${formatDuration(waited)} ago, waiting up to ${formatDuration(timeout)} for it to recover` };
  }
  const failed = hopeless && waited < timeout ? `${row.reason}, and ${describeReport(repair, hopeless)}, ${formatDuration(waited)} after it was asked for` : `${row.reason}, and ${repair} did not bring it back within ${formatDuration(timeout)}`;
  if (escalation === 'fence') return fence(row.cause, failed);
  return { action: 'hold', cause: row.cause, alert: 'needs-operator', phase: 'held', needsOperator: true, reason: `${failed}; its instances still run, so it is held for an operator rather than fenced` };
}

const fence = (cause: Cause, because: string): Decision => ({ action: 'fence', cause, phase: 'fencing', because, reason: `${because}: fencing it and evacuating its instances` });

const alertOnly = (cause: Cause, alert: AlertKind, reason: string): Decision => ({ action: 'alert', cause, alert, phase: 'held', needsOperator: false, reason });

function close(incident: IncidentSummary, reason: string): Decision {
  const worthTelling = incident.alerted || incident.phase === 'repairing' || incident.phase === 'held' || Object.keys(incident.attempts).length > 0;
  return { action: 'close', cause: 'healthy', phase: 'recovered', ...(worthTelling ? { alert: 'recovered' as const } : {}), reason: `${reason}: incident ${incident.id} closed as recovered` };
}

function unknown(what: string): Decision {
  return { action: 'none', cause: 'unknown', guard: 'unknown-data', reason: `${what}; nothing is done on unknown data` };
}

function describe(decision: Decision): string {
  switch (decision.action) {
    case 'repair':
      return decision.repair ?? 'repair';
    case 'fence':
      return 'fence and evacuate';
    case 'drain':
      return 'live-migrate its instances away';
    default:
      return decision.action;
  }
}

/** The limit in hosts: a count, or a share of all compute hosts (at least one). */
export function stormThreshold(limit: StormLimit, hosts: number): number {
  return limit.count ?? Math.max(1, Math.floor((hosts * (limit.percent ?? 100)) / 100));
}

/** Why the cluster is in a storm (more hosts failed at once than the limit), or undefined. */
export function stormOf(context: ClusterContext, limit: StormLimit): string | undefined {
  const threshold = stormThreshold(limit, context.hosts);
  const counts: [string, number][] = [...NETWORKS.map((n): [string, number] => [`${n} network`, context.failed[n]]), ['Nova\'s API', context.novaApiDown]];
  const over = counts.filter(([, failed]) => failed > threshold);
  if (over.length === 0) return undefined;
  return `storm: ${over.map(([where, failed]) => `${failed} hosts failed on the ${where}`).join(', ')} (limit ${threshold} of ${context.hosts})`;
}

/** The policy's settings from the [policy], [fencing], [evacuation], [watchdog], [kdump] and [remediation] sections. */
export function settingsFromConfig(config: Pick<Config, 'policy' | 'fencing' | 'evacuation' | 'watchdog' | 'kdump' | 'remediation'>): PolicySettings {
  return {
    confirmationWindow: config.policy.confirmation_window,
    apiDownWait: config.policy.api_down_wait,
    repairTimeout: config.policy.repair_timeout,
    bootTimeout: config.policy.boot_timeout,
    startupQuietPeriod: config.policy.startup_quiet_period,
    stormLimit: config.policy.storm_limit,
    fencing: config.fencing.method,
    drainOnTenantFailure: config.evacuation.live_migrate_on_tenant_failure,
    reportDueMs: config.remediation.settle_time + REPORT_GRACE_MS,
    ...(config.watchdog.enabled ? { selfFence: { marginMs: config.watchdog.margin } } : {}),
    ...(config.kdump.enabled ? { kdump: { intervalMs: config.kdump.interval, firstMessageWaitMs: config.kdump.first_message_wait, timeoutMs: config.kdump.timeout } } : {}),
  };
}
