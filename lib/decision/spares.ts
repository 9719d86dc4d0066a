/**
 * Spare hosts ([capacity] spare_hosts, Masakari's reserved hosts, but tracked): which spares a
 * failed host may borrow, how many its shortfall needs, and which hosts count as room. Pure:
 * the caller reads Nova, Placement and the claims in KV, and does what is decided here.
 */
import { CAPACITY_RESOURCES, type Amounts, type CapacityResource } from './capacity.js';

/** What the held instances need together: the room spares are to add. */
export function totalNeeds(needs: readonly Amounts[]): Amounts {
  const sum = (c: CapacityResource): number => needs.reduce((total, n) => total + n[c], 0);
  return { VCPU: sum('VCPU'), MEMORY_MB: sum('MEMORY_MB'), DISK_GB: sum('DISK_GB') };
}

/** "4 vCPU, 8192 MB, 40 GB": only the classes given (all three by default). */
export function describeAmounts(amounts: Amounts, classes: readonly CapacityResource[] = CAPACITY_RESOURCES): string {
  const unit: Record<CapacityResource, string> = { VCPU: 'vCPU', MEMORY_MB: 'MB', DISK_GB: 'GB' };
  return classes.map((c) => `${amounts[c]} ${unit[c]}`).join(', ');
}

/** The classes of which something is still missing. */
export const shortOf = (shortfall: Amounts): CapacityResource[] => CAPACITY_RESOURCES.filter((c) => shortfall[c] > 0);

/** Who holds a spare (the claim in KV), as far as choosing needs to know. */
export interface SpareHolder {
  readonly incident: string;
  readonly host: string;
}

/** What was read of one configured spare; undefined fields could not be read or do not exist. */
export interface SpareSeen {
  readonly spare: string;
  /** Its nova-compute service in Nova: undefined when Nova lists none on that host. */
  readonly service: { readonly state: 'up' | 'down'; readonly forcedDown: boolean } | undefined;
  readonly claim: SpareHolder | undefined;
  /** Its free room in Placement; an Error when it could not be read (unknown, never "none"). */
  readonly free: Amounts | Error;
  /**
   * Set when it is in another availability zone than the failed host and lending leaves it there
   * ([capacity] spare_aggregates off): the failed host's instances could not land on it.
   */
  readonly otherZone?: { readonly spare: string; readonly failed: string };
}

export interface SkippedSpare {
  readonly spare: string;
  readonly reason: string;
}

export interface SpareChoice {
  /** The spares to lend, in the order of [capacity] spare_hosts, with their free room. */
  readonly lend: readonly { readonly spare: string; readonly free: Amounts }[];
  readonly skipped: readonly SkippedSpare[];
  /** What the lent spares still leave missing (zero in every class: covered). */
  readonly left: Amounts;
}

/**
 * Why a spare cannot be lent to the failed host's incident, or undefined when it can. A spare
 * this incident holds already is not lent again: it is counted as room by the capacity estimate.
 */
export function unlendable(seen: SpareSeen, failedHost: string, incidentId: string): string | undefined {
  if (seen.spare === failedHost) return 'it is the failed host itself';
  if (seen.claim && seen.claim.incident === incidentId) return 'already lent to this incident';
  if (seen.claim) return `lent to incident ${seen.claim.incident} of ${seen.claim.host}`;
  if (!seen.service) return `Nova lists no nova-compute service on ${seen.spare}; check the name in [capacity] spare_hosts against "openstack compute service list"`;
  if (seen.service.forcedDown) return 'its nova-compute service is forced down in Nova';
  if (seen.service.state === 'down') return 'its nova-compute service is down in Nova';
  if (seen.otherZone) return `it is in availability zone ${seen.otherZone.spare}, ${failedHost} in ${seen.otherZone.failed}: its instances cannot land there (with [capacity] spare_aggregates = true a lent spare joins the failed host's aggregates, and so its zone)`;
  if (seen.free instanceof Error) return `its free room is unknown (${seen.free.message})`;
  return undefined;
}

/**
 * The fewest spares, taken in the operator's order, that cover the shortfall: a spare is taken
 * only if it has room in a class still short. Spares left over are not lent (not mentioned);
 * when every usable spare is taken and something is still missing, `left` says what.
 */
export function chooseSpares(shortfall: Amounts, spares: readonly SpareSeen[], failedHost: string, incidentId: string): SpareChoice {
  const lend: { spare: string; free: Amounts }[] = [];
  const skipped: SkippedSpare[] = [];
  let left: Amounts = shortfall;
  for (const seen of spares) {
    if (shortOf(left).length === 0) break;
    const reason = unlendable(seen, failedHost, incidentId);
    if (reason) {
      skipped.push({ spare: seen.spare, reason });
      continue;
    }
    const free = seen.free as Amounts;
    const helps = shortOf(left).filter((c) => free[c] > 0);
    if (helps.length === 0) {
      skipped.push({ spare: seen.spare, reason: `no free room where room is missing (${describeAmounts(free, shortOf(left))} free)` });
      continue;
    }
    lend.push({ spare: seen.spare, free });
    left = Object.fromEntries(CAPACITY_RESOURCES.map((c) => [c, Math.max(0, left[c] - Math.max(0, free[c]))])) as Amounts;
  }
  return { lend, skipped, left };
}

/**
 * The hosts that count as room for a failed host's instances: every candidate but the spares,
 * except the spares lent to this very incident. A spare never counts as room for anything else.
 */
export function roomHosts(candidates: readonly string[], spareHosts: readonly string[], lentToIncident: readonly string[]): string[] {
  const spares = new Set(spareHosts);
  const lent = new Set(lentToIncident);
  return candidates.filter((h) => !spares.has(h) || lent.has(h));
}
