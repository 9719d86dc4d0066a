/**
 * Returning a fenced host to service (operator): power it on if needed, wait until it is healthy
 * on all three networks with nova-compute running, wait until Nova has cleaned up the instances
 * evacuated from it (their migrations "completed", which nova-compute does when it starts), then
 * clear forced_down, wait until Nova's API reports the service up, enable it (only a disable of
 * nova-ha's own), give back the spare hosts lent to the incident that are empty (the others are
 * marked for return: operator/spares.ts), and close the incident.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { tryAcquire } from '../systems/consul/lock.js';
import type { Effects } from '../recovery/effects.js';
import { withPhase, withStep, type Incident } from '../state/incident.js';
import { IncidentStore } from '../state/incident-store.js';
import { NETWORKS } from '../decision/model.js';
import type { NovaClient } from '../systems/nova/index.js';
import { buildSnapshot } from '../decision/observation.js';
import { readWorld } from '../state/world.js';
import { KEYS, novaServiceState } from '../state/records.js';
import type { Runtime } from '../recovery/runtime.js';
import { giveBackSparesOf, type SparesNova } from './spares.js';

export interface UnfenceOptions {
  readonly timeoutMs: number;
  readonly say: (line: string) => void;
  readonly progress: (done: number, total: number, what: string) => void;
}

/** The part of the Nova client unfence uses. */
export type UnfenceNova = Pick<NovaClient, 'listMigrations' | 'getComputeService' | 'forceDown' | 'enableService'> & SparesNova;

export class UnfenceError extends Error {
  override name = 'UnfenceError';
}

export async function unfence(runtime: Runtime, effects: Effects, nova: UnfenceNova, host: string, options: UnfenceOptions): Promise<Incident | undefined> {
  const store = new IncidentStore(runtime.kv);
  const lock = await tryAcquire(runtime.clusters.mgmt, { key: runtime.kv.key(KEYS.lock(host)), holder: { node: runtime.node, pid: process.pid, host, purpose: 'unfence' } });
  if (!lock) throw new UnfenceError(`a nova-ha worker is working on ${host} right now; wait for it to finish (see: nova-ha status) and run unfence again`);
  try {
    const incident = (await store.current(host))?.value;
    if (incident && !['fenced', 'held'].includes(incident.phase)) throw new UnfenceError(`${host}'s incident ${incident.id} is in phase ${incident.phase}, not fenced; let it finish first`);
    const by = `${runtime.node} (operator)`;
    const note = async (step: string, detail: string): Promise<void> => {
      if (incident) await store.change(host, (i) => (i ? withStep(i, { at: Date.now(), step, outcome: 'done', detail, by }) : i));
      options.say(detail);
    };
    const deadline = Date.now() + options.timeoutMs;

    if (effects.readPower && (await effects.readPower(host)) === 'off') {
      if (!effects.powerOn) throw new UnfenceError(`${host} is powered off and no BMC access is configured to power it on`);
      await effects.powerOn(host);
      await note('unfence power-on', `${host}: chassis power on sent`);
    }

    options.say(`waiting for ${host} to be healthy on ${NETWORKS.join(', ')} with nova-compute running`);
    await waitFor(deadline, async () => {
      const { snapshot } = buildSnapshot(await readWorld(runtime.clusters, runtime.kv, runtime.node), { node: runtime.node, startedAt: 0 }, Date.now(), runtime.freshness);
      const seen = snapshot.hosts.find((h) => h.host === host);
      const alive = seen ? NETWORKS.filter((n) => seen.networks[n].state === 'alive') : [];
      const novaNode = seen?.novaCompute.node.state ?? 'unknown';
      options.progress(alive.length + (novaNode === 'up' ? 1 : 0), NETWORKS.length + 1, 'networks alive + nova-compute running');
      return { alive, novaNode };
    }, ({ alive, novaNode }) => alive.length === NETWORKS.length && novaNode === 'up',
    ({ alive, novaNode }) => `${host} is not healthy after ${Math.round(options.timeoutMs / 1000)}s (alive on: ${alive.join(', ') || 'none'}; nova-compute ${novaNode}); nothing was changed in Nova`);
    await note('unfence healthy', `${host} is alive on every network and nova-compute runs`);

    const since = incident ? new Date(incident.openedAt - 60_000).toISOString() : undefined;
    options.say(`waiting for Nova to clean up the instances evacuated from ${host}`);
    await waitFor(deadline, async () => {
      const migrations = (await nova.listMigrations({ type: 'evacuation', sourceCompute: host, ...(since ? { changesSince: since } : {}) })).filter((m) => m.status !== 'failed' && m.status !== 'error');
      const completed = migrations.filter((m) => m.status === 'completed').length;
      options.progress(completed, migrations.length, 'evacuation migrations completed');
      return { completed, total: migrations.length };
    }, ({ completed, total }) => completed === total,
    ({ completed, total }) => `Nova has completed ${completed} of ${total} evacuation migrations from ${host}; nova-compute cleans them up when it starts there (check its log); nothing was changed in Nova`);

    const service = await nova.getComputeService(host);
    if (service.forcedDown) await nova.forceDown(service.id, false);
    await note('unfence nova', `nova-compute service ${service.id} of ${host}: forced_down cleared`);
    // Only a disable of nova-ha's own is undone: one by an operator for another reason stays.
    const ours = service.status === 'disabled' && (service.disabledReason ?? '').startsWith('nova-ha');

    // Enabled only once Nova's API reports the service up: enabled while Nova still sees it down
    // (a just-restarted nova-compute), the scheduler keeps it out of Placement until its next
    // periodic update (COMPUTE_STATUS_DISABLED is not synced for a service that is down). The
    // Nova poller's view still says "forced down" until its next poll; an evaluation reading it
    // would take the host for one whose nova-compute Nova has long seen down and restart it at
    // once: the host's entry gets Nova's "up" as soon as it is seen.
    options.say(`waiting for Nova's API to report ${host}'s nova-compute up`);
    const up = await waitFor(deadline, () => nova.getComputeService(host), (s) => s.state === 'up',
      () => `Nova's API still reports ${host}'s nova-compute down after forced_down was cleared; check nova-compute's log on ${host}, then run unfence again (the incident stays open${ours ? ' and the service stays disabled' : ''})`);
    if (ours) await nova.enableService(service.id);
    const fresh = ours ? await nova.getComputeService(host) : up;
    await note('unfence enable', `nova-compute service ${service.id} of ${host}: up in Nova, ${ours || service.status === 'enabled' ? 'enabled' : `left disabled (${service.disabledReason ?? 'no reason given'}: not disabled by nova-ha)`}`);
    await runtime.kv.writeAll([{ key: runtime.kv.key(KEYS.novaHost(host)), value: novaServiceState(fresh, Date.now()) }]);

    if (!incident) return undefined;
    // The spares lent to this incident: given back now if empty, marked for return otherwise.
    const spares = await giveBackSparesOf(runtime, nova, host, incident.id, by);
    for (const line of spares) options.say(line);
    const closed = (await store.change(host, (i) => (i ? { ...withPhase(i, 'recovered', Date.now(), by, 'unfenced by an operator'), closedAt: Date.now() } : i)))!;
    await store.archive(closed);
    const serviceState = ours || service.status === 'enabled' ? 'its nova-compute service is enabled again' : `its nova-compute service stays disabled (${service.disabledReason ?? 'no reason given'}): it was not nova-ha that disabled it`;
    runtime.notifier.notify({ host, event: 'unfenced', summary: ours || service.status === 'enabled' ? 'back in service' : 'unfenced, still disabled', action: 'unfenced by an operator', reason: `${host} is healthy on every network, Nova cleaned up its evacuated instances, and ${serviceState}.${spares.length ? ` Spare hosts lent to the incident: ${spares.join('; ')}.` : ''}`, incidentId: closed.id, timeline: closed.timeline, instances: closed.instances ?? [] });
    return closed;
  } finally {
    await lock.release();
  }
}

/** Reads once a second until done; past the deadline, fails with what `late` makes of the last read. */
async function waitFor<T>(deadline: number, read: () => Promise<T>, done: (value: T) => boolean, late: (value: T) => string): Promise<T> {
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new UnfenceError(late(value));
    await sleep(1000);
  }
}
