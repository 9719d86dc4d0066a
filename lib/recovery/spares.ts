/**
 * Lending spare hosts to a failed host's incident ([capacity] spare_hosts): when its instances do
 * not fit on the usable hosts, the capacity step asks for the shortfall to be covered. Each spare
 * is claimed in KV first (check-and-set, so two incidents never take the same one), then added to
 * the failed host's aggregates if configured, then enabled in Nova, and every spare lent or
 * skipped is written to the incident (step spare-lent). A claim whose lending did not finish (a
 * worker died in between) is finished by the next call for the same incident.
 */
import { CAPACITY_RESOURCES, NO_AMOUNTS, availabilityZoneOf, sameZone, type Amounts } from '../decision/capacity.js';
import { chooseSpares, describeAmounts, shortOf, type SpareSeen } from '../decision/spares.js';
import { withStep, type Incident, type StepOutcome } from '../state/incident.js';
import type { SpareClaim } from '../state/records.js';
import { SpareClaims } from '../state/spares.js';
import type { Aggregate, ComputeService } from '../systems/nova/index.js';
import type { FenceRun } from './effects.js';
import type { Runtime } from './runtime.js';

export const SPARE_LENT = 'spare-lent';

/** The part of the Nova client lending uses. */
export interface SpareNova {
  listComputeServices(): Promise<ComputeService[]>;
  enableService(serviceId: string): Promise<ComputeService>;
  listAggregates(): Promise<Aggregate[]>;
  addHostToAggregate(aggregateId: string, host: string): Promise<boolean>;
  removeHostFromAggregate(aggregateId: string, host: string): Promise<boolean>;
}

export interface LendDeps {
  readonly runtime: Runtime;
  readonly nova: SpareNova;
  /** A host's free room in Placement ((total - reserved) x allocation_ratio - used); throws when it cannot be read. */
  readonly freeRoom: (host: string) => Promise<Amounts>;
}

export interface LendOutcome {
  /** The spares this call lent (or finished lending), with their free room. */
  readonly lent: readonly { readonly spare: string; readonly free: Amounts }[];
  readonly skipped: readonly { readonly spare: string; readonly reason: string }[];
  /** What is still missing after them: zero in every class when covered. */
  readonly left: Amounts;
}

/**
 * Lends as many spares as `shortfall` needs to the incident of `run.host`. Never throws for a
 * spare it could not lend: that spare is skipped with the reason, and `left` says what is still
 * missing. Unknown (Nova's service list unread) lends nothing and says so.
 */
export async function lendSpares(deps: LendDeps, run: FenceRun, shortfall: Amounts): Promise<LendOutcome> {
  const { runtime } = deps;
  const configured = runtime.config.capacity.spare_hosts;
  const nothing: LendOutcome = { lent: [], skipped: [], left: shortfall };
  if (configured.length === 0 || shortOf(shortfall).length === 0) return nothing;
  const by = runtime.node;
  const incident = await run.change((i) => i);
  const log = runtime.logger.child({ host: run.host, incident: incident.id, step: SPARE_LENT });
  const record = async (outcome: StepOutcome, detail: string): Promise<void> => {
    await run.change((i) => withStep(i, { at: Date.now(), step: SPARE_LENT, outcome, detail, by }));
    log[outcome === 'failed' ? 'error' : 'info'](`spare-${outcome === 'done' ? 'lent' : outcome}`, { detail });
  };
  const claims = new SpareClaims(runtime.kv);

  let services: Map<string, ComputeService>;
  let held: Map<string, SpareClaim>;
  try {
    services = new Map((await deps.nova.listComputeServices()).map((s) => [s.host, s]));
    held = new Map([...(await claims.all()).values()].map((c) => [c.value.spare, c.value]));
  } catch (error) {
    await record('failed', `no spare lent: which spares are free is unknown (${(error as Error).message}); the evacuation goes on without them`);
    return nothing;
  }

  const otherZone = await zonesApart(deps, run.host, configured);
  const readFree = async (spare: string): Promise<Amounts | Error> => deps.freeRoom(spare).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
  // Lent to this incident but not enabled yet: finished first, their room counted before choosing more.
  const unfinished = configured.filter((s) => held.get(s)?.incident === incident.id && held.get(s)?.enabledAt === undefined);
  // Placement is asked only about spares that could be lent.
  const readable = (spare: string, service: ComputeService | undefined, claim: SpareClaim | undefined): boolean => spare !== run.host && !claim && service !== undefined && service.state === 'up' && !service.forcedDown && !otherZone.has(spare);
  const seen: SpareSeen[] = [];
  for (const spare of configured) {
    const claim = held.get(spare);
    if (claim?.incident === incident.id && !unfinished.includes(spare)) continue;
    const service = services.get(spare);
    const zones = otherZone.get(spare);
    seen.push({ spare, service: service ? { state: service.state, forcedDown: service.forcedDown } : undefined, claim, free: readable(spare, service, claim) ? await readFree(spare) : new Error('not read'), ...(zones ? { otherZone: zones } : {}) });
  }
  let left = shortfall;
  const lent: { spare: string; free: Amounts }[] = [];
  const skipped: { spare: string; reason: string }[] = [];
  const skip = async (spare: string, reason: string): Promise<void> => {
    skipped.push({ spare, reason });
    await record('skipped', `${spare}: ${reason}`);
  };
  for (const spare of unfinished) {
    const free = await readFree(spare);
    const amounts = free instanceof Error ? NO_AMOUNTS : free;
    if ((await lendOne(deps, run, incident, spare, services.get(spare), amounts, record)) !== 'lent') continue;
    lent.push({ spare, free: amounts });
    left = subtract(left, amounts);
  }

  // Rounds: a chosen spare that could not be lent after all (claimed by another incident first,
  // Nova refused) leaves its room missing, and the next round looks further down the list.
  let remaining = seen.filter((s) => !unfinished.includes(s.spare));
  while (run.stillOwner()) {
    const choice = chooseSpares(left, remaining, run.host, incident.id);
    for (const s of choice.skipped) await skip(s.spare, s.reason);
    const tried = new Set(choice.skipped.map((s) => s.spare));
    let allLent = true;
    for (const { spare, free } of choice.lend) {
      tried.add(spare);
      const result = await lendOne(deps, run, incident, spare, services.get(spare), free, record);
      if (result === 'lent') {
        lent.push({ spare, free });
        left = subtract(left, free);
      } else {
        allLent = false;
        if ('skip' in result) await skip(spare, result.skip);
        else skipped.push({ spare, reason: result.failed });
      }
    }
    remaining = remaining.filter((s) => !tried.has(s.spare));
    if (allLent || choice.lend.length === 0) break;
  }
  if (shortOf(left).length > 0) log.warn('spares-short', { detail: `still missing after the spares: ${describeAmounts(left, shortOf(left))}` });
  return { lent, skipped, left };
}

/**
 * The spares in another availability zone than the failed host, with both zones: the capacity
 * step counts only the failed host's zone, so lending one of them adds no room. Empty with
 * spare_aggregates (a lent spare joins the failed host's aggregates, zone included) and when the
 * aggregates cannot be read: the zone is then not checked, and a spare is lent as before it was.
 */
async function zonesApart(deps: LendDeps, failedHost: string, spares: readonly string[]): Promise<Map<string, { spare: string; failed: string }>> {
  if (deps.runtime.config.capacity.spare_aggregates) return new Map();
  let aggregates: Aggregate[];
  try {
    aggregates = await deps.nova.listAggregates();
  } catch (error) {
    deps.runtime.logger.warn('spare-zone-unchecked', { host: failedHost, step: SPARE_LENT, error: (error as Error).message, detail: 'the host aggregates could not be read: spares are lent whatever their availability zone' });
    return new Map();
  }
  const { zone, elsewhere } = sameZone(failedHost, spares, aggregates);
  return new Map(zone === undefined ? [] : elsewhere.map((spare) => [spare, { spare: availabilityZoneOf(spare, aggregates), failed: zone }]));
}

/**
 * Claims, joins the aggregates, enables (the step recorded done, or failed with the error;
 * a skip is for the caller to record): in that order, so the scheduler never sees the spare
 * enabled outside the failed host's aggregates, and nothing is done to a spare another incident holds.
 */
async function lendOne(deps: LendDeps, run: FenceRun, incident: Incident, spare: string, service: ComputeService | undefined, free: Amounts, record: (outcome: StepOutcome, detail: string) => Promise<void>): Promise<'lent' | { readonly skip: string } | { readonly failed: string }> {
  const { runtime } = deps;
  const claims = new SpareClaims(runtime.kv);
  if (!service) return { skip: 'Nova lists no nova-compute service on it' };
  try {
    const result = await claims.claim({ spare, incident: incident.id, host: run.host, at: Date.now(), by: runtime.node, aggregates: [] });
    if (!result.held) return { skip: `lent to incident ${result.holder?.incident ?? '(claim unreadable)'} of ${result.holder?.host ?? 'another host'} just now` };
    let aggregates = result.claim.value.aggregates;
    if (runtime.config.capacity.spare_aggregates) {
      // Those it was not in before nova-ha added it: only these are left again when it is given back.
      // Written to the claim before they are joined: a worker that dies in between leaves no aggregate unrecorded.
      const joined = (await deps.nova.listAggregates()).filter((a) => a.hosts.includes(run.host) && !a.hosts.includes(spare));
      aggregates = [...aggregates, ...joined.filter((a) => !aggregates.some((known) => known.id === a.id)).map((a) => ({ id: a.id, name: a.name }))];
      await claims.change(spare, incident.id, (c) => ({ ...c, aggregates }));
      for (const aggregate of joined) await deps.nova.addHostToAggregate(aggregate.id, spare);
    }
    if (service.status !== 'enabled') await deps.nova.enableService(service.id);
    await claims.change(spare, incident.id, (c) => ({ ...c, enabledAt: Date.now() }));
    await record('done', `${spare}: enabled in Nova for the instances of ${run.host} (free ${describeAmounts(free)})${aggregates.length ? `; added to aggregates ${aggregates.map((a) => a.name).join(', ')}` : ''}; give it back with: nova-ha spares return ${spare}`);
    return 'lent';
  } catch (error) {
    const failed = `${(error as Error).message}; ${await unclaim(deps, spare, incident.id)}`;
    await record('failed', `${spare}: ${failed}`);
    return { failed };
  }
}

/**
 * Undoes a lending that failed before the spare was enabled: out of the aggregates it joined,
 * claim deleted, so the spare is free again rather than held by an incident that does not use
 * it. What could not be undone stays claimed: `nova-ha spares` shows it "being lent", and the
 * incident's next lending, or `nova-ha spares return`, finishes it.
 */
async function unclaim(deps: LendDeps, spare: string, incidentId: string): Promise<string> {
  const claims = new SpareClaims(deps.runtime.kv);
  try {
    const claim = await claims.read(spare);
    if (!claim || claim.value.incident !== incidentId) return 'not claimed by this incident any more';
    if (claim.value.enabledAt !== undefined) return 'it is enabled and stays lent to this incident';
    for (const aggregate of claim.value.aggregates) await deps.nova.removeHostFromAggregate(aggregate.id, spare);
    if (await claims.release(spare, claim.index)) return 'its claim was released, the spare is free again';
  } catch (error) {
    return `it stays claimed by this incident (releasing it failed too: ${(error as Error).message}); the next lending of this incident finishes it, or give it back with: nova-ha spares return ${spare}`;
  }
  return `it stays claimed by this incident; the next lending of this incident finishes it, or give it back with: nova-ha spares return ${spare}`;
}

const subtract = (left: Amounts, free: Amounts): Amounts => Object.fromEntries(CAPACITY_RESOURCES.map((c) => [c, Math.max(0, left[c] - Math.max(0, free[c]))])) as Amounts;
