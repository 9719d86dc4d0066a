/**
 * Spare hosts as the operator sees and returns them: `nova-ha spares` lists every spare (free,
 * or lent to which incident of which host, and how many instances run on it); `nova-ha spares
 * return HOST` gives a lent spare back once no instance is left on it: out of the aggregates
 * nova-ha added it to, disabled again, its claim deleted. Unfencing a failed host marks its lent
 * spares for return and gives back at once those already empty (Masakari leaves its reserved
 * host in service; nova-ha keeps it until its instances are moved away by the operator).
 */
import { IncidentStore } from '../state/incident-store.js';
import { withStep } from '../state/incident.js';
import { KEYS, type SpareClaim } from '../state/records.js';
import { SpareClaims } from '../state/spares.js';
import type { Versioned } from '../systems/consul/kv.js';
import type { NovaClient } from '../systems/nova/index.js';
import type { Runtime } from '../recovery/runtime.js';

/** The part of the Nova client the spares' operator commands use. */
export type SparesNova = Pick<NovaClient, 'listComputeServices' | 'listServersOnHost' | 'disableService' | 'removeHostFromAggregate'>;

export class SpareError extends Error {
  override name = 'SpareError';
}

export const SPARE_RETURNED = 'spare-returned';

/** Why a returned spare is disabled: names it a spare, so no one takes it for a failed host. */
export const spareDisabledReason = (claim: Pick<SpareClaim, 'incident'>): string => `nova-ha: spare host, given back after incident ${claim.incident}`;

export interface SpareRow {
  readonly spare: string;
  /** Whether it is in [capacity] spare_hosts (a claim may outlive its line in the config). */
  readonly configured: boolean;
  /** Its nova-compute service in Nova: enabled / disabled and up / down; 'not in Nova' when Nova lists none. */
  readonly service: string;
  readonly claim: SpareClaim | undefined;
  /** Instances on it now; undefined when Nova could not list them. */
  readonly instances: number | undefined;
}

/** Every configured spare and every claimed one, in the config's order, then the others by name. */
export async function listSpares(runtime: Runtime, nova: SparesNova): Promise<SpareRow[]> {
  const configured = runtime.config.capacity.spare_hosts;
  const claims = await new SpareClaims(runtime.kv).all();
  const services = new Map((await nova.listComputeServices()).map((s) => [s.host, s]));
  const names = [...configured, ...[...claims.keys()].filter((s) => !configured.includes(s)).sort()];
  const rows: SpareRow[] = [];
  for (const spare of names) {
    const service = services.get(spare);
    const instances = service ? await nova.listServersOnHost(spare).then((servers) => servers.length, () => undefined) : 0;
    rows.push({ spare, configured: configured.includes(spare), service: service ? `${service.status}, ${service.state}` : 'not in Nova', claim: claims.get(spare)?.value, instances });
  }
  return rows;
}

export type ReturnResult = { readonly returned: true; readonly detail: string } | { readonly returned: false; readonly instancesLeft: number; readonly detail: string };

/**
 * Gives a lent spare back if no instance is left on it: out of the aggregates nova-ha added it
 * to, disabled, then its claim deleted (last: until then no other incident can take it half
 * given back). With instances on it nothing is changed and the result says how many are left.
 */
export async function returnSpare(runtime: Runtime, nova: SparesNova, spare: string, by: string): Promise<ReturnResult> {
  const claims = new SpareClaims(runtime.kv);
  const claim = await claims.read(spare);
  if (!claim) throw new SpareError(`${spare} is not lent to any incident (no claim at ${runtime.kv.key(KEYS.spare(spare))}); see: nova-ha spares`);
  return giveBack(runtime, nova, claim, by);
}

async function giveBack(runtime: Runtime, nova: SparesNova, claim: Versioned<SpareClaim>, by: string): Promise<ReturnResult> {
  const { spare, incident, host } = claim.value;
  const store = new IncidentStore(runtime.kv);
  const open = (await store.current(host))?.value;
  if (open && open.id === incident && !['fenced', 'held'].includes(open.phase)) {
    throw new SpareError(`${spare} is lent to incident ${incident} of ${host}, which is still in phase ${open.phase}; let it finish (nova-ha status) and return the spare afterwards`);
  }
  const servers = await nova.listServersOnHost(spare);
  if (servers.length > 0) {
    const names = servers.slice(0, 5).map((s) => s.name || s.id).join(', ');
    return { returned: false, instancesLeft: servers.length, detail: `${spare} still runs ${servers.length} instance${servers.length === 1 ? '' : 's'} (${names}${servers.length > 5 ? ', ...' : ''}); nothing was changed: migrate them away (openstack server migrate --live-migration SERVER), then run: nova-ha spares return ${spare}` };
  }
  const left: string[] = [];
  for (const aggregate of claim.value.aggregates) {
    await nova.removeHostFromAggregate(aggregate.id, spare);
    left.push(aggregate.name);
  }
  const service = (await nova.listComputeServices()).find((s) => s.host === spare);
  if (service && service.status === 'enabled') await nova.disableService(service.id, spareDisabledReason(claim.value));
  if (!(await new SpareClaims(runtime.kv).release(spare, claim.index))) {
    throw new SpareError(`the claim on ${spare} changed while it was given back (another nova-ha wrote it); run nova-ha spares return ${spare} again`);
  }
  const detail = `${spare} given back: ${service ? 'disabled in Nova' : 'not in Nova any more'}${left.length ? `, left aggregates ${left.join(', ')}` : ''}, claim of incident ${incident} deleted`;
  await store.change(host, (i) => (i && i.id === incident ? withStep(i, { at: Date.now(), step: SPARE_RETURNED, outcome: 'done', detail, by }) : undefined));
  runtime.logger.info('spare-returned', { host, incident, spare, detail });
  return { returned: true, detail };
}

/**
 * What unfencing the failed host does with the spares lent to its incident: each is marked for
 * return, and given back at once if it is empty; one line per spare says what became of it.
 */
export async function giveBackSparesOf(runtime: Runtime, nova: SparesNova, host: string, incidentId: string, by: string): Promise<string[]> {
  const claims = new SpareClaims(runtime.kv);
  const lent = [...(await claims.all()).values()].filter((c) => c.value.host === host && c.value.incident === incidentId);
  const lines: string[] = [];
  for (const claim of lent) {
    const marked = await claims.change(claim.value.spare, incidentId, (c) => (c.returnRequested ? c : { ...c, returnRequested: { at: Date.now(), by } }));
    const current = marked ? await claims.read(claim.value.spare) : undefined;
    if (!current) continue;
    try {
      lines.push((await giveBack(runtime, nova, current, by)).detail);
    } catch (error) {
      lines.push(`${claim.value.spare} was not given back: ${(error as Error).message}`);
    }
  }
  return lines;
}
