/**
 * Room before evacuating (issue 17): the free capacity of the hosts Nova could use, from
 * Placement's inventories and usages, an instance's needs from its flavor, and a plan that puts
 * the failed host's instances, highest priority first, onto that room. Pure: the caller reads
 * Placement and Nova and passes what it read. The plan is advisory: Nova's scheduler decides.
 */

/** The resource classes nova-ha estimates; Nova's scheduler asks Placement for these three per instance. */
export const CAPACITY_RESOURCES = ['VCPU', 'MEMORY_MB', 'DISK_GB'] as const;
export type CapacityResource = (typeof CAPACITY_RESOURCES)[number];

export type Amounts = Readonly<Record<CapacityResource, number>>;

export const NO_AMOUNTS: Amounts = { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 };

/** One resource class of a provider's inventory, as Placement returns it. */
export interface InventoryRecord {
  readonly total: number;
  readonly reserved?: number;
  readonly allocation_ratio?: number;
  readonly min_unit?: number;
  readonly max_unit?: number;
  readonly step_size?: number;
}

/** How much of one class a single allocation may take on a provider (Placement rejects others). */
export interface UnitLimits {
  readonly minUnit: number;
  readonly maxUnit: number;
  readonly stepSize: number;
}

/** A host nova-ha may count as room, with what is free on its compute node provider. */
export interface HostRoom {
  readonly host: string;
  readonly free: Amounts;
  /** Per class; a class without limits takes any amount. */
  readonly limits?: Partial<Record<CapacityResource, UnitLimits>>;
}

/**
 * Free amount per class: capacity − used, where capacity = int((total − reserved) × allocation_ratio)
 * as Placement computes it. A class the provider has no inventory of has no room (0), and a
 * provider used beyond its capacity (ratios lowered after the fact) has none either, never less.
 */
export function freeAmounts(inventories: Readonly<Record<string, InventoryRecord | undefined>>, usages: Readonly<Record<string, number | undefined>>): Amounts {
  const free = (resource: CapacityResource): number => {
    const inventory = inventories[resource];
    if (!inventory) return 0;
    const capacity = Math.floor((inventory.total - (inventory.reserved ?? 0)) * (inventory.allocation_ratio ?? 1));
    return Math.max(0, capacity - (usages[resource] ?? 0));
  };
  return { VCPU: free('VCPU'), MEMORY_MB: free('MEMORY_MB'), DISK_GB: free('DISK_GB') };
}

/** The unit limits of a provider's inventories, for the classes that have any. */
export function unitLimits(inventories: Readonly<Record<string, InventoryRecord | undefined>>): Partial<Record<CapacityResource, UnitLimits>> {
  const limits: Partial<Record<CapacityResource, UnitLimits>> = {};
  for (const resource of CAPACITY_RESOURCES) {
    const inventory = inventories[resource];
    if (inventory) limits[resource] = { minUnit: inventory.min_unit ?? 1, maxUnit: inventory.max_unit ?? Number.MAX_SAFE_INTEGER, stepSize: inventory.step_size ?? 1 };
  }
  return limits;
}

/** A flavor as Nova embeds it in a server (microversion 2.47 on) or lists it. */
export interface FlavorSize {
  readonly vcpus: number;
  /** MB */
  readonly ram: number;
  /** Root disk, GB. */
  readonly disk: number;
  /** GB */
  readonly ephemeral?: number;
  /** MB (Nova's flavor API gives "" for none). */
  readonly swap?: number;
}

/**
 * What one instance asks Placement for when it is rebuilt elsewhere, as Nova's
 * resources_from_flavor computes it: root + ephemeral + swap rounded up to GB of disk, no root
 * disk when it boots from a volume.
 */
export function instanceNeeds(flavor: FlavorSize, bootsFromVolume = false): Amounts {
  const swapGb = Math.ceil((flavor.swap ?? 0) / 1024);
  return { VCPU: flavor.vcpus, MEMORY_MB: flavor.ram, DISK_GB: (bootsFromVolume ? 0 : flavor.disk) + (flavor.ephemeral ?? 0) + swapGb };
}

export interface InstanceDemand {
  readonly id: string;
  readonly name: string;
  readonly needs: Amounts;
}

export interface PlacedInstance<T extends InstanceDemand> {
  readonly instance: T;
  readonly host: string;
}

export interface HeldInstance<T extends InstanceDemand> {
  readonly instance: T;
  /** What this instance lacks on the host that came closest to taking it (all zero when a unit limit refused it). */
  readonly missing: Amounts;
  readonly reason: string;
}

export interface PlacementPlan<T extends InstanceDemand> {
  /** In the caller's order. */
  readonly fits: readonly PlacedInstance<T>[];
  readonly held: readonly HeldInstance<T>[];
  /** The room left on each host after the instances that fit. */
  readonly left: readonly HostRoom[];
  /** The whole estimate in one line for the incident, the CLI and the email. */
  readonly summary: string;
}

const add = (a: Amounts, b: Amounts): Amounts => ({ VCPU: a.VCPU + b.VCPU, MEMORY_MB: a.MEMORY_MB + b.MEMORY_MB, DISK_GB: a.DISK_GB + b.DISK_GB });
const shortOf = (needs: Amounts, free: Amounts): Amounts => ({
  VCPU: Math.max(0, needs.VCPU - free.VCPU),
  MEMORY_MB: Math.max(0, needs.MEMORY_MB - free.MEMORY_MB),
  DISK_GB: Math.max(0, needs.DISK_GB - free.DISK_GB),
});
const isZero = (a: Amounts): boolean => a.VCPU === 0 && a.MEMORY_MB === 0 && a.DISK_GB === 0;

/** "12 GiB", "1.5 GiB", "512 MiB": memory the way operators read it. */
export function formatMemory(mb: number): string {
  if (mb < 1024) return `${mb} MiB`;
  const gib = mb / 1024;
  return `${Number.isInteger(gib) ? gib : gib.toFixed(1)} GiB`;
}

/** "2 vCPU, 4 GiB and 40 GB disk", leaving out the zero ones ("nothing" when all are). */
export function formatAmounts(amounts: Amounts, { keepZeros = false } = {}): string {
  const parts = [
    ...(keepZeros || amounts.VCPU > 0 ? [`${amounts.VCPU} vCPU`] : []),
    ...(keepZeros || amounts.MEMORY_MB > 0 ? [formatMemory(amounts.MEMORY_MB)] : []),
    ...(keepZeros || amounts.DISK_GB > 0 ? [`${amounts.DISK_GB} GB disk`] : []),
  ];
  if (parts.length === 0) return 'nothing';
  return parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]!}`;
}

/** Why a provider refuses the amount in one allocation whatever is free, or undefined when its limits allow it. */
function unitRefusal(room: HostRoom, needs: Amounts): string | undefined {
  for (const resource of CAPACITY_RESOURCES) {
    const limits = room.limits?.[resource];
    const amount = needs[resource];
    if (!limits || amount === 0) continue;
    if (amount < limits.minUnit) return `${room.host} takes at least ${limits.minUnit} ${resource} per instance`;
    if (amount > limits.maxUnit) return `${room.host} takes at most ${limits.maxUnit} ${resource} per instance`;
    if (amount % limits.stepSize !== 0) return `${room.host} takes ${resource} in steps of ${limits.stepSize}`;
  }
  return undefined;
}

const fitsOn = (room: HostRoom, needs: Amounts): boolean => isZero(shortOf(needs, room.free)) && unitRefusal(room, needs) === undefined;

/**
 * Roomiest first: most free memory, then vCPU, then disk, then by name. Nova's default weighers
 * spread instances onto the host with the most free RAM, so placing them the same way predicts
 * what Nova will do; packing tighter (best fit) would promise room Nova's spreading then misses.
 */
const roomier = (a: HostRoom, b: HostRoom): number =>
  b.free.MEMORY_MB - a.free.MEMORY_MB || b.free.VCPU - a.free.VCPU || b.free.DISK_GB - a.free.DISK_GB || a.host.localeCompare(b.host);

const describeHosts = (rooms: readonly HostRoom[], zone: string | undefined): string => {
  const where = zone === undefined ? '' : ` in zone ${zone}`;
  if (rooms.length === 0) return `no usable compute host${where}`;
  const total = rooms.reduce((sum, room) => add(sum, room.free), NO_AMOUNTS);
  return `${rooms.length} usable host${rooms.length === 1 ? '' : 's'}${where} with ${formatAmounts(total, { keepZeros: true })} free`;
};

/** Why one instance is held: what it lacks on the closest host, or the unit limit that refused it. */
function holdReason(needs: Amounts, rooms: readonly HostRoom[]): { missing: Amounts; reason: string } {
  if (rooms.length === 0) return { missing: needs, reason: `needs ${formatAmounts(needs)}: no usable compute host` };
  const closest = rooms
    .map((room) => ({ room, missing: shortOf(needs, room.free), refusal: unitRefusal(room, needs) }))
    .sort((a, b) => Number(a.refusal !== undefined) - Number(b.refusal !== undefined) || countShort(a.missing) - countShort(b.missing) || shortSize(a.missing, needs) - shortSize(b.missing, needs) || roomier(a.room, b.room))[0]!;
  if (closest.refusal !== undefined && isZero(closest.missing)) return { missing: NO_AMOUNTS, reason: `needs ${formatAmounts(needs)} and ${closest.refusal}` };
  return {
    missing: closest.missing,
    reason: `needs ${formatAmounts(closest.missing)} more than the closest host, ${closest.room.host}, has free (${formatAmounts(closest.room.free, { keepZeros: true })})`,
  };
}

const countShort = (missing: Amounts): number => CAPACITY_RESOURCES.filter((resource) => missing[resource] > 0).length;
/** How far short as a share of the need: a host 1 GiB short is closer than one 8 GiB short. */
const shortSize = (missing: Amounts, needs: Amounts): number =>
  CAPACITY_RESOURCES.reduce((sum, resource) => sum + (needs[resource] > 0 ? missing[resource] / needs[resource] : 0), 0);

/**
 * Places the instances, in the caller's (priority) order, each onto one host: the roomiest host
 * it fits on. An instance that fits nowhere is held and the next ones are still tried: a smaller
 * instance of lower priority may use room a bigger one could not. `zone`, when the hosts were
 * narrowed to one availability zone, is named in the summary.
 */
export function planPlacement<T extends InstanceDemand>(instances: readonly T[], hosts: readonly HostRoom[], zone?: string): PlacementPlan<T> {
  const rooms: { -readonly [K in keyof HostRoom]: HostRoom[K] }[] = hosts.map((room) => ({ ...room }));
  const fits: PlacedInstance<T>[] = [];
  const heldInstances: T[] = [];
  for (const instance of instances) {
    const target = rooms.filter((room) => fitsOn(room, instance.needs)).sort(roomier)[0];
    if (!target) {
      heldInstances.push(instance);
      continue;
    }
    target.free = shortOf(target.free, instance.needs);
    fits.push({ instance, host: target.host });
  }
  const left: readonly HostRoom[] = rooms;
  const held = heldInstances.map((instance) => ({ instance, ...holdReason(instance.needs, left) }));
  return { fits, held, left, summary: summarize(instances.length, fits.length, held, describeHosts(hosts, zone), left) };
}

/**
 * The held instances' needs beyond all the room left after the others: what would have to appear
 * for them all (spread over hosts); none when the room is there but no single host can take one.
 */
function summarize<T extends InstanceDemand>(count: number, fitting: number, held: readonly HeldInstance<T>[], room: string, left: readonly HostRoom[]): string {
  const instances = `instance${count === 1 ? '' : 's'}`;
  if (held.length === 0) return `room for all ${count} ${instances} (${room})`;
  const heldNeeds = held.reduce((sum, entry) => add(sum, entry.instance.needs), NO_AMOUNTS);
  const leftFree = left.reduce((sum, host) => add(sum, host.free), NO_AMOUNTS);
  const shortfall = shortOf(heldNeeds, leftFree);
  const missing = isZero(shortfall) ? 'no single host has room for any of them' : `needs ${formatAmounts(shortfall)} more`;
  return `room for ${fitting} of ${count} ${instances}; ${held.length} held: ${missing} (${room})`;
}

/** Whether the other usable hosts can take every instance of `host`: the N+1 question (the doctor asks it). */
export function canAbsorb<T extends InstanceDemand>(host: string, instances: readonly T[], hosts: readonly HostRoom[], zone?: string): PlacementPlan<T> & { readonly absorbed: boolean } {
  const plan = planPlacement(instances, hosts.filter((room) => room.host !== host), zone);
  return { ...plan, absorbed: plan.held.length === 0 };
}

/**
 * Nova's [DEFAULT] default_availability_zone as shipped: the zone of every host in no aggregate
 * that names one. nova-ha does not read Nova's own config, so a cloud that renamed its default
 * zone sees its zoneless hosts apart from hosts in an aggregate naming that zone.
 */
export const NOVA_DEFAULT_ZONE = 'nova';

/** A host aggregate as far as zones go: Nova puts hosts into a zone through its availability_zone metadata. */
export interface ZoneAggregate {
  readonly hosts: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * The availability zone Nova puts `host` in: the availability_zone of its aggregates (Nova
 * refuses a host two different ones; should it have them anyway, they are joined as Nova lists
 * them, so only a host with the same set compares equal), else the default zone.
 */
export function availabilityZoneOf(host: string, aggregates: readonly ZoneAggregate[]): string {
  const zones = [...new Set(aggregates.flatMap((a) => (a.hosts.includes(host) && a.metadata.availability_zone ? [a.metadata.availability_zone] : [])))].sort();
  return zones.length > 0 ? zones.join(',') : NOVA_DEFAULT_ZONE;
}

export interface ZoneFilter {
  /** The failed host's zone; undefined when no aggregate names a zone (one zone for the whole cloud: nothing to narrow). */
  readonly zone: string | undefined;
  readonly inZone: readonly string[];
  /** The candidates in other zones: no room for the failed host's instances. */
  readonly elsewhere: readonly string[];
}

/**
 * The candidates in the failed host's availability zone. An instance booted into a zone keeps it
 * in its request spec, and Nova's scheduler rebuilds it only on a host of that zone; an instance
 * booted without one may go further, so counting only the failed host's zone may count less room
 * than Nova finds, never more. A failed host in no zone aggregate is in the default zone
 * (NOVA_DEFAULT_ZONE): then only hosts also in none, or in an aggregate naming that zone, count.
 */
export function sameZone(failedHost: string, candidates: readonly string[], aggregates: readonly ZoneAggregate[]): ZoneFilter {
  if (!aggregates.some((a) => a.metadata.availability_zone)) return { zone: undefined, inZone: candidates, elsewhere: [] };
  const zone = availabilityZoneOf(failedHost, aggregates);
  const inZone = candidates.filter((host) => availabilityZoneOf(host, aggregates) === zone);
  return { zone, inZone, elsewhere: candidates.filter((host) => !inZone.includes(host)) };
}

/**
 * The room of the usable hosts, rounded (memory to GiB, disk to 10 GB) so that the noise of
 * Placement's usages does not count as room appearing: what a fenced host's incident keeps to
 * tell, at the next evaluation, whether retrying its left-behind instances may now succeed.
 */
export type RoomSignature = Readonly<Record<string, Amounts>>;

export function roomSignature(hosts: readonly HostRoom[]): RoomSignature {
  return Object.fromEntries(
    [...hosts].sort((a, b) => a.host.localeCompare(b.host)).map((room) => [room.host, { VCPU: room.free.VCPU, MEMORY_MB: Math.floor(room.free.MEMORY_MB / 1024) * 1024, DISK_GB: Math.floor(room.free.DISK_GB / 10) * 10 }]),
  );
}

/**
 * How the room grew since `before`, in operator words ("2 usable compute hosts now, 1 before";
 * "more room on cmp3: 2 vCPU and 4 GiB"), or undefined when it did not: no host came and no
 * host's free amount of any class went up. Without a `before` any room counts as grown.
 */
export function roomGrowth(before: RoomSignature | undefined, now: RoomSignature): string | undefined {
  const hostsNow = Object.keys(now);
  if (before === undefined) return hostsNow.length > 0 ? `${countHosts(hostsNow.length)} now` : undefined;
  const hostsBefore = Object.keys(before);
  const arrived = hostsNow.filter((host) => before[host] === undefined);
  if (arrived.length > 0) return `${countHosts(hostsNow.length)} now, ${hostsBefore.length} before (${arrived.join(', ')} usable again)`;
  const grown = hostsNow.flatMap((host) => {
    const more = shortOf(now[host]!, before[host]!);
    return isZero(more) ? [] : [`${host}: ${formatAmounts(more)}`];
  });
  return grown.length > 0 ? `more room on ${grown.join('; ')}` : undefined;
}

const countHosts = (count: number): string => `${count} usable compute host${count === 1 ? '' : 's'}`;
