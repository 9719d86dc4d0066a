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
import { CLOSED_PHASES, FENCE_PHASES, NETWORKS, type Attempt, type ClusterContext, type HostObservation, type IncidentSummary, type MemberState, type Network, type Phase, type Repair } from './model.js';

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
}

export type Action =
  | 'none' // nothing to do (healthy, or a guard stops any action)
  | 'wait' // a failure is being confirmed, or a repair is given its time
  | 'close' // the host is healthy again: close its incident as recovered
  | 'alert' // tell the operators; do nothing to the host
  | 'hold' // hold the incident and tell the operators
  | 'repair' // ask the node to repair itself (through Consul) or power it on
  | 'fence' // power off and verify, force down, evacuate, mark fenced
  | 'drain'; // live-migrate the instances away (tenant network fault, opt-in)

export type Cause =
  | 'healthy'
  | 'mgmt-network'
  | 'tenant-network'
  | 'storage-network'
  | 'node-unreachable'
  | 'power-lost'
  | 'power-unknown'
  | 'nova-api-only'
  | 'nova-compute-dead'
  | 'agents-left'
  | 'inconsistent'
  | 'operator'
  | 'unknown';

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
  /** For a fence: what stands in for the BMC (a watchdog's safe time) or defers the power-off (a crash dump). */
  readonly evidence?: FenceEvidence;
}

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
  if (incident?.phase === 'fenced') {
    return { action: 'none', cause: classify(host).cause, guard: 'fenced', reason: `fenced by incident ${incident.id}; it stays fenced until an operator runs "nova-ha unfence ${host.host}"` };
  }
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
  if (!isHostAction(decision.action)) return decision;

  const inProgress = incident !== null && fenceUnderWay(incident);
  const would = `would ${describe(decision)} because ${decision.because ?? decision.reason}`;
  if (context.paused) {
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
  if (open && incident.hold?.needsOperator) {
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
  const attempts = open ? incident.attempts : {};
  const now = context.now;
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
    case 'storage-network':
      if (host.networks.mgmt.state !== 'alive') return fence(row.cause, `${row.reason}, and with the management network down too the repair request cannot reach it`);
      return repairThenEscalate(row, 'restart-storage-network', attempts, now, settings.repairTimeout, 'fence');
    case 'nova-compute-dead':
      return repairThenEscalate(row, 'restart-nova-compute', attempts, now, settings.repairTimeout, 'fence');
    case 'nova-api-only': {
      // Right after nova-ha's own restart or power-on, Nova's API lags the node for a few
      // report intervals: that is the repair's aftermath, not a new failure to warn about.
      const lastRepair = latestRepair(attempts);
      if (lastRepair) {
        const window = lastRepair.repair === 'power-on' ? settings.bootTimeout : settings.repairTimeout;
        const waited = now - lastRepair.at;
        if (waited < window) return { action: 'wait', cause: row.cause, recheckInMs: window - waited, reason: `${row.reason}: Nova's API has not seen it back yet, ${formatDuration(waited)} after ${lastRepair.repair}; waiting up to ${formatDuration(window)}` };
      }
      if (elapsed < settings.apiDownWait) {
        return { action: 'wait', cause: row.cause, alert: 'nova-api-warning', ...(confirming ? { phase: 'confirming' as const } : {}), recheckInMs: settings.apiDownWait - elapsed, reason: `${row.reason} for ${formatDuration(elapsed)} while it runs on the node; waiting ${formatDuration(settings.apiDownWait)} for it to recover before restarting it` };
      }
      return repairThenEscalate(row, 'restart-nova-compute', attempts, now, settings.repairTimeout, 'hold');
    }
    case 'power-lost':
      return repairThenEscalate(row, 'power-on', attempts, now, settings.bootTimeout, 'fence');
    case 'node-unreachable':
      // After our power-on, a host that is on but not yet back is booting, not hung.
      if (attempts['power-on'] !== undefined) return repairThenEscalate({ ...row, cause: 'power-lost' }, 'power-on', attempts, now, settings.bootTimeout, 'fence');
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
    if (power.state === 'off') return { cause: 'power-lost', since, reason: `down on every network and its power is off${leftOn.length === NETWORKS.length ? ' (shut down cleanly)' : ''}` };
    if (leftOn.length > 0) return { cause: 'agents-left', since, reason: `its Consul agents left ${leftOn.join(', ')} cleanly while the power is ${power.state}: someone stopped them` };
    if (power.state === 'on') return { cause: 'node-unreachable', since, reason: 'failed on every network while its power is on (hung or cut off)' };
    return { cause: 'power-unknown', since, reason: 'failed on every network and its BMC does not answer' };
  }
  if (leftOn.length > 0) return { cause: 'agents-left', since: latest(leftOn), reason: `its Consul agent left ${leftOn.join(', ')} cleanly: someone stopped it` };
  if (isFailed(networks.storage.state)) return { cause: 'storage-network', since: networks.storage.since, reason: 'its storage network is down' };
  if (isFailed(networks.mgmt.state)) return { cause: 'mgmt-network', since: networks.mgmt.since, reason: `its management network is down${isFailed(networks.tenant.state) ? ' (and its tenant network)' : ''}` };
  return { cause: 'tenant-network', since: networks.tenant.since, reason: 'its tenant network is down' };
}

function repairThenEscalate(row: Row, repair: Repair, attempts: Partial<Record<Attempt, number>>, now: number, timeout: number, escalation: 'fence' | 'hold'): Decision {
  const triedAt = attempts[repair];
  if (triedAt === undefined) return { action: 'repair', cause: row.cause, repair, phase: 'repairing', because: row.reason, reason: `${row.reason}: trying ${repair}` };
  const waited = now - triedAt;
  if (waited < timeout) return { action: 'wait', cause: row.cause, recheckInMs: timeout - waited, reason: `${row.reason}; ${repair} was tried ${formatDuration(waited)} ago, waiting up to ${formatDuration(timeout)} for it to recover` };
  const failed = `${row.reason}, and ${repair} did not bring it back within ${formatDuration(timeout)}`;
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

/** The policy's settings from the [policy], [fencing], [evacuation], [watchdog] and [kdump] sections. */
export function settingsFromConfig(config: Pick<Config, 'policy' | 'fencing' | 'evacuation' | 'watchdog' | 'kdump'>): PolicySettings {
  return {
    confirmationWindow: config.policy.confirmation_window,
    apiDownWait: config.policy.api_down_wait,
    repairTimeout: config.policy.repair_timeout,
    bootTimeout: config.policy.boot_timeout,
    startupQuietPeriod: config.policy.startup_quiet_period,
    stormLimit: config.policy.storm_limit,
    fencing: config.fencing.method,
    drainOnTenantFailure: config.evacuation.live_migrate_on_tenant_failure,
    ...(config.watchdog.enabled ? { selfFence: { marginMs: config.watchdog.margin } } : {}),
    ...(config.kdump.enabled ? { kdump: { intervalMs: config.kdump.interval, firstMessageWaitMs: config.kdump.first_message_wait, timeoutMs: config.kdump.timeout } } : {}),
  };
}
