/**
 * The worker: one process per host with work to do, holding the host's lock for as long as it
 * works. It is a reconcile loop: observe afresh, decide with the policy, do one step, record it,
 * and again, until there is nothing left to do now. Each step is written to the incident before
 * and after it runs, so a worker that dies is resumed by another without repeating what finished.
 */
import { alertFor } from './alerts.js';
import { tryAcquire, type HeldLock } from '../systems/consul/lock.js';
import { REJOIN_INTERVAL_MS, Rejoiner } from '../systems/consul/rejoin.js';
import type { Effects } from './effects.js';
import { lastOutcome, openIncident, withPhase, withStep, type Incident } from '../state/incident.js';
import { IncidentStore } from '../state/incident-store.js';
import { NETWORKS, NODE_REPAIRS, type NodeRepair, type Repair } from '../decision/model.js';
import type { Observer } from '../decision/observation.js';
import { stormOf, type Decision } from '../decision/policy.js';
import { HostObserver } from './host-observer.js';
import { KEYS, decidedRecord } from '../state/records.js';
import { newNonce, verifyReport } from './repair-request.js';
import type { Runtime } from './runtime.js';

export type WorkerOutcome = 'busy' | 'done' | 'lost' | 'gone';

export interface WorkerOptions {
  /** The shortest pause between two looks while waiting (a confirmation window, a repair). */
  readonly pollMs?: number;
}

/** The longest wait without looking again: blocking queries end it early when the host's health changes. */
const MAX_WAIT_MS = 10_000;

export async function runWorker(runtime: Runtime, effects: Effects, host: string, observer: Observer, options: WorkerOptions = {}): Promise<WorkerOutcome> {
  const log = runtime.logger.child({ host });
  const lock = await tryAcquire(runtime.clusters.mgmt, { key: runtime.kv.key(KEYS.lock(host)), holder: { node: runtime.node, pid: process.pid, host } });
  if (!lock) {
    log.debug('worker-busy', { detail: 'another worker holds the host lock' });
    return 'busy';
  }
  log.info('worker-start', { step: 'lock', detail: `holding ${lock.key}` });
  void lock.lost.then((reason) => reason !== 'released' && log.error('lock-lost', { step: 'lock', error: reason, fix: 'another controller will resume the incident' }));
  const rejoiner = new Rejoiner(runtime.clusters, host, log);
  try {
    return await reconcile(runtime, effects, host, observer, lock, rejoiner, options.pollMs ?? 1000);
  } finally {
    await lock.release();
    await rejoiner.settled();
    log.info('worker-stop', { step: 'lock' });
  }
}

async function reconcile(runtime: Runtime, effects: Effects, host: string, observer: Observer, lock: HeldLock, rejoiner: Rejoiner, pollMs: number): Promise<WorkerOutcome> {
  const store = new IncidentStore(runtime.kv);
  const by = runtime.node;
  let last: Decision | undefined;
  let writes: Promise<unknown> = Promise.resolve();
  await resumeInterruptedRepairs(runtime, effects, host, store, lock);
  const judged = new Set<number>();

  // Its own host's keys while it waits, the whole world (and the BMC afresh) before anything else: host-observer.ts.
  const watch = new HostObserver(runtime, host, observer, effects.readPower?.bind(effects), pollMs);
  for (;;) {
    if (!lock.isHeld()) return 'lost';
    await collectRepairReport(runtime, host, store, lock, judged);
    const observed = await watch.observe();
    if (!observed) return 'gone';
    const { observation, decision, record } = observed;
    const snapshot = { context: observed.context };
    const now = snapshot.context.now;
    // The worker looks often: it records its host's transitions too, so a failure that
    // cleared and came back between two watch calls restarts the confirmation window.
    if (record && NETWORKS.every((n) => snapshot.context.observer.networks[n] === 'healthy')) await runtime.kv.write(runtime.kv.key(KEYS.host(host)), decidedRecord(record, decision));
    const incidentNow = (await store.current(host))?.value;
    const log = runtime.logger.child({ host, ...(incidentNow ? { incident: incidentNow.id } : {}) });
    if (!sameDecision(decision, last)) log.info('decision', { action: decision.action, cause: decision.cause, guard: decision.guard, reason: decision.reason });
    last = decision;

    // The host may look well before its node has reported on the repair that made it so (the node
    // checks for settle_time first): a worker that left now would leave the report uncollected.
    if ((decision.action === 'none' || decision.action === 'close') && incidentNow && reportStillDue(incidentNow, runtime.config.remediation.settle_time, now)) {
      await watch.waitForChange(pollMs);
      continue;
    }
    // Evacuations run concurrently and each records its outcome: one incident write at a time.
    const change = (mutate: (incident: Incident) => Incident): Promise<Incident> => {
      const next = writes.then(async () => {
        if (!lock.isHeld()) throw new Error(`lost the lock of ${host}; stopping before changing its incident`);
        return (await store.change(host, (current) => mutate(current ?? openIncident(host, decision.cause, decision.because ?? decision.reason, Date.now(), by))))!;
      });
      writes = next.catch(() => undefined);
      return next;
    };

    if (decision.action === 'none') {
      // A fenced host's instances left behind, when room appears: never while this controller is
      // cut off, a storm is on or nova-ha is paused (the evaluation dispatches no worker then either).
      const calm = NETWORKS.every((n) => snapshot.context.observer.networks[n] === 'healthy') && stormOf(snapshot.context, runtime.settings.stormLimit) === undefined && snapshot.context.paused === null;
      if (decision.guard === 'fenced' && incidentNow && effects.retryLeftBehind && calm) {
        await effects.retryLeftBehind({ host, change, stillOwner: () => lock.isHeld() });
      }
      return 'done';
    }

    if (decision.action === 'close') {
      if (!incidentNow) return 'done';
      if (incidentNow.attempts.drain !== undefined && effects.undrain) await effects.undrain(host);
      const closed = await change((i) => ({ ...withPhase(i, 'recovered', Date.now(), by, decision.reason), closedAt: Date.now() }));
      await store.archive(closed);
      if (decision.alert) runtime.notifier.notify(alertFor(host, { ...decision, alert: decision.alert }, closed, snapshot.context.paused !== null && snapshot.context.paused !== 'unknown'));
      log.info('incident-closed', { step: 'close', incident: closed.id, detail: decision.reason });
      return 'done';
    }

    // Every other decision concerns an incident: open one if there is none, record the decision when it changed.
    const incident = await change((i) => recordDecision(i, decision, by));
    if (decision.alert && !(decision.alert === 'nova-api-warning' && incident.alerted)) {
      runtime.notifier.notify(alertFor(host, { ...decision, alert: decision.alert }, incident, snapshot.context.paused !== null && snapshot.context.paused !== 'unknown'));
      if (!incident.alerted) await change((i) => ({ ...i, alerted: true }));
    }

    switch (decision.action) {
      case 'wait': {
        const failed = NETWORKS.filter((n) => observation.networks[n].state === 'failed' && snapshot.context.observer.networks[n] === 'healthy');
        rejoiner.nudge(failed, now);
        // Back in time for the next rejoin attempt while a network is failed. Nova's view of the
        // host and a node's repair report land in KV, not in the health the wait blocks on: while
        // the decision hangs on either, look as often as before (a restart of nova-compute has
        // [repair] timeouts of seconds to show in Nova's view).
        const kvOnly = decision.cause === 'nova-api-only' || (incidentNow !== undefined && awaitsRepairReport(incidentNow));
        const longest = kvOnly ? pollMs : failed.length > 0 ? REJOIN_INTERVAL_MS : MAX_WAIT_MS;
        await watch.waitForChange(Math.max(100, Math.min(decision.recheckInMs ?? longest, longest)));
        continue;
      }
      case 'alert':
      case 'hold':
        return 'done';
      case 'repair':
        await repair(runtime, effects, host, decision.repair!, change);
        continue;
      case 'fence':
        if (!effects.fence) {
          const held = await change((i) => ({ ...withPhase(i, 'held', Date.now(), by, 'no fence method is available to this controller'), hold: { reason: `fencing needed but ${runtime.node} has no fence method ([fencing] method = none)`, needsOperator: true } }));
          runtime.notifier.notify(alertFor(host, { ...decision, cause: held.cause, alert: 'needs-operator', reason: held.hold!.reason }, held, false));
          return 'done';
        }
        await effects.fence({ host, change, stillOwner: () => lock.isHeld(), ...(decision.evidence ? { evidence: decision.evidence } : {}) });
        return 'done';
      case 'drain':
        if (effects.drain) await effects.drain({ host, change, stillOwner: () => lock.isHeld() });
        return 'done';
    }
  }
}

function sameDecision(a: Decision, b: Decision | undefined): boolean {
  return b !== undefined && a.action === b.action && a.cause === b.cause && a.guard === b.guard && a.repair === b.repair;
}

/** Records the decision in the incident: its phase, its hold, a timeline line when it changed. */
function recordDecision(incident: Incident, decision: Decision, by: string): Incident {
  const now = Date.now();
  const shape = { action: decision.action, cause: decision.cause, ...(decision.guard ? { guard: decision.guard } : {}), ...(decision.repair ? { repair: decision.repair } : {}) };
  let next = incident;
  if (JSON.stringify(incident.decision) !== JSON.stringify(shape)) {
    next = withStep({ ...next, decision: shape }, { at: now, step: 'decision', outcome: 'info', detail: `${decision.action}${decision.guard ? ` (${decision.guard})` : ''}: ${decision.reason}`, by });
  }
  if (decision.phase) next = withPhase(next, decision.phase, now, by);
  if (decision.phase === 'held') next = { ...next, hold: { reason: decision.reason, needsOperator: decision.needsOperator ?? false } };
  else if (decision.phase && next.hold) {
    const { hold: _hold, ...rest } = next;
    next = rest;
  }
  // The cause is what was confirmed: it may still change while confirming, not after (a repair's
  // aftermath, such as Nova's API lagging a restart, is not what happened), unless the host got
  // strictly worse while its incident was held: then the incident is about the worse failure.
  const confirming = incident.phase === 'detected' || incident.phase === 'confirming';
  if (decision.escalatedFrom !== undefined && decision.cause !== next.cause) {
    next = withStep({ ...next, cause: decision.cause, reason: decision.because ?? decision.reason }, { at: now, step: 'escalated', outcome: 'info', detail: `from ${decision.escalatedFrom} to ${decision.cause}: ${decision.reason}`, by });
  } else if (confirming && decision.cause !== 'healthy' && decision.cause !== 'unknown' && decision.cause !== next.cause) next = { ...next, cause: decision.cause, reason: decision.because ?? decision.reason };
  if (decision.alert === 'fenced-host-on' && next.seenOnWhileFenced === undefined) {
    next = withStep({ ...next, seenOnWhileFenced: now }, { at: now, step: 'host-on-while-fenced', outcome: 'info', detail: decision.reason, by });
  }
  return next;
}

/**
 * A repair whose start was recorded but whose end was not: the worker died in between, so the
 * request may never have been sent. Sending it again is harmless (a restart of something broken),
 * and not sending it would fence a host that a repair could have saved.
 */
async function resumeInterruptedRepairs(runtime: Runtime, effects: Effects, host: string, store: IncidentStore, lock: HeldLock): Promise<void> {
  const incident = (await store.current(host))?.value;
  if (!incident) return;
  for (const action of Object.keys(incident.attempts) as Repair[]) {
    if (action === ('drain' as Repair) || lastOutcome(incident, action) !== 'started') continue;
    runtime.logger.warn('repair-resumed', { host, incident: incident.id, step: action, detail: 'the previous worker stopped between recording and finishing this repair; sending it again' });
    await repair(runtime, effects, host, action, async (mutate) => {
      if (!lock.isHeld()) throw new Error(`lost the lock of ${host}`);
      return (await store.change(host, (current) => (current ? mutate(current) : undefined)))!;
    }, true);
  }
}

async function repair(runtime: Runtime, effects: Effects, host: string, action: Repair, change: (mutate: (incident: Incident) => Incident) => Promise<Incident>, resumed = false): Promise<void> {
  const by = runtime.node;
  const nonce = action === 'power-on' ? undefined : newNonce();
  // The attempt's time is recorded before it is made and kept on a resend: the repair timeout counts from the first try.
  let firstRequest = true;
  const incident = await change((i) => {
    const earlier = i.repairRequests?.[action as NodeRepair] ?? [];
    firstRequest = earlier.length === 0;
    const requests = nonce ? { repairRequests: { ...i.repairRequests, [action]: [...earlier, nonce] } } : {};
    return withStep({ ...i, ...requests, attempts: { ...i.attempts, [action]: i.attempts[action] ?? Date.now() } }, { at: Date.now(), step: action, outcome: 'started', by, ...(resumed ? { detail: 'sent again: the worker that sent it stopped before recording it sent' } : firstRequest ? {} : { detail: 'asked again: no report came for the earlier request' }) });
  });
  // What the key holds now answers an earlier incident's request: gone, anything in it afterwards was
  // written after this one was sent. A resend keeps it: a late answer to the first request counts.
  if (nonce && firstRequest) await runtime.kv.delete(runtime.kv.key(KEYS.repairReport(host))).catch((error: unknown) => runtime.logger.warn('repair-report-clear-failed', { host, step: action, error: (error as Error).message, fix: 'an old report left there is refused as not answering this request' }));
  const log = runtime.logger.child({ host, incident: incident.id, step: action });
  try {
    let detail: string;
    if (action === 'power-on') {
      if (!effects.powerOn) throw new Error('no BMC access is configured ([ipmi], or [fencing] method = agent with levels)');
      await effects.powerOn(host);
      detail = 'chassis power on sent; waiting for the host to rejoin';
    } else {
      const id = await effects.remediate(host, action, incident.id, nonce!);
      detail = `repair request sent as Consul event ${id}; success is the health state recovering`;
    }
    await change((i) => withStep(i, { at: Date.now(), step: action, outcome: 'done', detail, by }));
    log.info('repair-sent', { detail });
  } catch (error) {
    const message = (error as Error).message;
    await change((i) => withStep(i, { at: Date.now(), step: action, outcome: 'failed', detail: message, by }));
    log.error('repair-failed', { error: message });
  }
}

/** Whether the incident asked the node for this repair and has no report on it yet. */
const reportPending = (incident: Incident, action: NodeRepair): boolean => (incident.repairRequests?.[action]?.length ?? 0) > 0 && incident.repairReports?.[action] === undefined;

/** Whether the incident waits on a node's report for a repair it asked for. */
const awaitsRepairReport = (incident: Incident): boolean => NODE_REPAIRS.some((a) => reportPending(incident, a));

/** After the node's settle_time, how long its report may take to reach KV. */
export const REPORT_MARGIN_MS = 5_000;

/** Whether a node's report on a repair is still due: asked for, not in, and its request recent. */
export function reportStillDue(incident: Incident, settleMs: number, now: number): boolean {
  const sentAt = (a: NodeRepair): number => Math.max(incident.attempts[a] ?? 0, ...incident.timeline.filter((e) => e.step === a).map((e) => e.at));
  return NODE_REPAIRS.some((a) => reportPending(incident, a) && now - sentAt(a) < settleMs + REPORT_MARGIN_MS);
}

/**
 * The node's report on a repair the incident is waiting on, from its KV key: verified (signed,
 * for this host, this incident and one of the requests sent, fresh), then recorded in the
 * incident with the node's evidence, where the policy reads it. Anything else is refused, logged
 * and noted in the incident's timeline, and changes nothing. Each version of the key is judged
 * once per worker (judged holds their ModifyIndex).
 */
export async function collectRepairReport(runtime: Runtime, host: string, store: IncidentStore, lock: HeldLock, judged: Set<number>): Promise<void> {
  const incident = (await store.current(host))?.value;
  if (!incident || !awaitsRepairReport(incident) || !lock.isHeld()) return;
  const log = runtime.logger.child({ host, incident: incident.id, step: 'repair-report' });
  let entry;
  try {
    entry = await runtime.clusters.mgmt.kvGet(runtime.kv.key(KEYS.repairReport(host)));
  } catch (error) {
    // Unread is no report: the repair timeout still applies.
    log.warn('repair-report-unread', { error: (error as Error).message });
    return;
  }
  if (!entry || entry.Value === null || judged.has(entry.ModifyIndex)) return;
  judged.add(entry.ModifyIndex);
  const now = Date.now();
  const verdict = verifyReport(entry.Value, runtime.config.remediation.hmac_key, { host, incident: incident.id, requests: incident.repairRequests ?? {}, now, maxAge: runtime.config.remediation.max_age });
  const by = runtime.node;
  // Only into the incident that was read, and only while this worker holds the host; undefined writes nothing.
  const record = (mutate: (current: Incident) => Incident | undefined): Promise<unknown> => store.change(host, (current) => (current && current.id === incident.id && lock.isHeld() ? mutate(current) : undefined));
  if (!verdict.ok) {
    log.warn('repair-report-refused', { reason: verdict.reason, fix: 'nothing is done on it: the repair timeout still applies. A report nova-ha did not ask for comes from someone who may write this key (the node\'s or a controller\'s Consul token); one with a bad signature, from a node whose [remediation] hmac_key differs' });
    await record((i) => withStep(i, { at: now, step: 'repair-report', outcome: 'skipped', detail: `a report in ${KEYS.repairReport(host)} was refused: ${verdict.reason}; nothing done on it`, by }));
    return;
  }
  const { action, result, detail } = verdict.report;
  if (incident.repairReports?.[action] !== undefined) return;
  log.info('repair-report', { action, result, detail });
  await record((i) => (i.repairReports?.[action] !== undefined ? undefined : withStep({ ...i, repairReports: { ...i.repairReports, [action]: { result, detail, at: now } } }, { at: now, step: 'repair-report', outcome: result === 'works' || result === 'ran' ? 'done' : 'failed', detail: `${action}: ${result}: ${detail}`, by })));
}
