/**
 * What an operator starts by hand (nova-ha fence / evacuate), run as the host's one actor: the
 * same lock and the same resumable workflow as an automatic recovery, recorded in an incident.
 */
import { tryAcquire } from '../systems/consul/lock.js';
import { fenceAndEvacuate, type FenceDeps } from '../recovery/fence.js';
import type { FenceRun } from '../recovery/effects.js';
import { openIncident, withStep, type Incident } from '../state/incident.js';
import { IncidentStore } from '../state/incident-store.js';
import { KEYS } from '../state/records.js';
import type { Runtime } from '../recovery/runtime.js';

export class OperatorError extends Error {
  override name = 'OperatorError';
}

/** Runs work on host as its one actor, with an incident (opened as "operator request" if the host has none). */
export async function asOperator<T>(runtime: Runtime, host: string, purpose: string, work: (run: FenceRun, incident: Incident | undefined) => Promise<T>): Promise<T> {
  const store = new IncidentStore(runtime.kv);
  const lock = await tryAcquire(runtime.clusters.mgmt, { key: runtime.kv.key(KEYS.lock(host)), holder: { node: runtime.node, pid: process.pid, host, purpose } });
  if (!lock) throw new OperatorError(`a nova-ha worker is working on ${host} right now; wait for it (see: nova-ha status) and try again`);
  const by = `${runtime.node} (operator)`;
  let writes: Promise<unknown> = Promise.resolve();
  const change = (mutate: (incident: Incident) => Incident): Promise<Incident> => {
    const next = writes.then(async () => {
      if (!lock.isHeld()) throw new OperatorError(`lost the lock of ${host}`);
      return (await store.change(host, (current) => mutate(current ?? withStep(openIncident(host, 'operator', `${purpose} requested by an operator`, Date.now(), by), { at: Date.now(), step: purpose, outcome: 'info', detail: 'requested by an operator', by }))))!;
    });
    writes = next.catch(() => undefined);
    return next;
  };
  try {
    return await work({ host, change, stillOwner: () => lock.isHeld() }, (await store.current(host))?.value);
  } finally {
    await lock.release();
  }
}

/**
 * Evacuate a host the operator says is fenced, or that nova-ha fenced (its power-off verified):
 * never on nova-ha's word alone that it is down. deps may carry nova-ha's own fence power
 * (controller-effects.ts, fencePower).
 */
export async function operatorEvacuate(runtime: Runtime, deps: Omit<FenceDeps, 'powerOff'> & Partial<Pick<FenceDeps, 'powerOff'>>, host: string, operatorFenced: boolean): Promise<Incident> {
  return asOperator(runtime, host, 'evacuate', async (run, incident) => {
    const fencedByUs = incident !== undefined && incident.timeline.some((e) => e.step === 'power-off' && e.outcome === 'done');
    if (!fencedByUs && !operatorFenced) {
      throw new OperatorError(`${host} is not fenced by nova-ha (no verified power-off in ${incident ? `incident ${incident.id}` : 'any open incident'}); fence it first (nova-ha fence ${host}), or, if you powered it off or isolated it yourself, say so with --confirm-fenced`);
    }
    // Run again on a fenced host, it evacuates whatever is still there (instances that failed before).
    // nova-ha's own fence is read again, and powered off again if need be (or after its crash
    // dump), through its own fence levels: never on the operator's word, which was not given for
    // it. On the operator's word alone (a host isolated rather than powered off, or without a BMC)
    // nova-ha does not touch the power.
    const { readPower, powerOff, powerOffAfterDump, dumping, ...rest } = deps;
    const ours = fencedByUs && readPower && powerOff ? { readPower, powerOff, ...(powerOffAfterDump ? { powerOffAfterDump } : {}), ...(dumping ? { dumping } : {}) } : undefined;
    return fenceAndEvacuate({ ...rest, ...(ours ?? { powerOff: operatorFenced ? vouchedFor : cannotPowerOff }), rerunEvacuation: true }, run);
  });
}

const vouchedFor: FenceDeps['powerOff'] = async () => ({ verified: true, after: 0, detail: 'fenced by the operator (--confirm-fenced); nova-ha did not touch the power' });

/** nova-ha's fence waits for a power-off nova-ha cannot send now ([fencing] changed since). */
const cannotPowerOff: FenceDeps['powerOff'] = async (host) => ({ verified: false, after: 0, detail: `nova-ha cannot power ${host} off now ([fencing] method is none, or ipmi with no BMC configured): power it off yourself, then run nova-ha evacuate ${host} --confirm-fenced` });
