/**
 * The capacity step (issue 17): before a fenced host's instances are evacuated, the room Nova
 * could use for them, from its compute services, nova-ha's open incidents and Placement, and
 * which of the instances, in priority order, fit. A read that fails makes the room unknown, never
 * a verdict: then every instance is evacuated as without the step, and the operators are told.
 */
import { freeAmounts, instanceNeeds, planPlacement, roomSignature, sameZone, unitLimits, type Amounts, type HostRoom, type InstanceDemand, type RoomSignature } from '../decision/capacity.js';
import type { HaRead } from '../decision/ha-policy.js';
import { roomHosts, totalNeeds } from '../decision/spares.js';
import type { HeldInstance, Incident } from '../state/incident.js';
import type { Aggregate, ComputeService, PlacementInventory, ResourceProvider, Server } from '../systems/nova/index.js';

/** The reads the step makes. */
export interface RoomSources {
  listComputeServices(): Promise<ComputeService[]>;
  /** The host aggregates, for the failed host's availability zone; read only when the caller has no read of its own. */
  listAggregates(): Promise<Aggregate[]>;
  readonly placement: {
    providerOf(host: string): Promise<ResourceProvider | undefined>;
    inventories(uuid: string): Promise<Record<string, PlacementInventory>>;
    usages(uuid: string): Promise<Record<string, number>>;
  };
  /** nova-ha's open incidents: a host being confirmed, fenced or held is no room. */
  openIncidents(): Promise<readonly Incident[]>;
  /** The spare hosts ([capacity] spare_hosts) and those lent to the incident: no other spare counts as room. */
  spares?(incidentId: string): Promise<{ readonly configured: readonly string[]; readonly lent: readonly string[] }>;
}

export type Room =
  | {
      readonly known: true;
      readonly hosts: readonly HostRoom[];
      /** Hosts Nova could use but nova-ha does not count: an incident of theirs is open. */
      readonly busy: readonly string[];
      /** Usable hosts Placement has no provider for (a nova-compute that never reported). */
      readonly unplaced: readonly string[];
      /** The failed host's availability zone, when the cloud has zones: only hosts in it are room. */
      readonly zone?: string;
      /** Hosts Nova could use but in another availability zone than the failed host. */
      readonly elsewhere?: readonly string[];
      /** Why the zone was not checked (the aggregates unread): every zone's hosts counted. */
      readonly zoneUnchecked?: string;
    }
  | { readonly known: false; readonly reason: string };

const describeError = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * The room for `failedHost`'s instances: every nova-compute service enabled, up and not forced
 * down, in the failed host's availability zone (decision/capacity.ts sameZone), other than the
 * failed host, hosts with an open incident and spare hosts not lent to `incidentId`, with the
 * free amounts of its compute node provider. `aggregates` is a read the caller made already (the
 * evacuation's, for the HA policy); without it they are listed here. Aggregates that cannot be
 * read leave the zone unchecked, never the room unknown: the zone narrows an estimate, and
 * recovery is never blocked on it.
 */
export async function readRoom(sources: RoomSources, failedHost: string, incidentId = '', aggregates?: HaRead<readonly Aggregate[]>): Promise<Room> {
  let services: ComputeService[];
  let incidents: readonly Incident[];
  try {
    services = await sources.listComputeServices();
  } catch (error) {
    return { known: false, reason: `Nova's compute services could not be listed: ${describeError(error)}` };
  }
  try {
    incidents = await sources.openIncidents();
  } catch (error) {
    return { known: false, reason: `nova-ha's incidents could not be read, so which hosts are busy is unknown: ${describeError(error)}` };
  }
  const open = new Set(incidents.filter((i) => i.closedAt === undefined).map((i) => i.host));
  let candidates = [...new Set(services.filter((s) => s.binary === 'nova-compute' && s.status === 'enabled' && s.state === 'up' && !s.forcedDown && s.host !== failedHost).map((s) => s.host))].sort();
  if (sources.spares) {
    try {
      const spares = await sources.spares(incidentId);
      candidates = roomHosts(candidates, spares.configured, spares.lent);
    } catch (error) {
      return { known: false, reason: `the claims on spare hosts could not be read, so which spares are room is unknown: ${describeError(error)}` };
    }
  }
  const zoneRead = aggregates ?? (await sources.listAggregates().then(
    (value): HaRead<readonly Aggregate[]> => ({ ok: true, value }),
    (error: unknown): HaRead<readonly Aggregate[]> => ({ ok: false, why: describeError(error) }),
  ));
  const zones = zoneRead.ok ? sameZone(failedHost, candidates, zoneRead.value) : undefined;
  candidates = zones ? [...zones.inZone] : candidates;
  const zoneNotes = {
    ...(zones?.zone !== undefined ? { zone: zones.zone } : {}),
    ...(zones && zones.elsewhere.length > 0 ? { elsewhere: zones.elsewhere } : {}),
    ...(!zoneRead.ok ? { zoneUnchecked: `the host aggregates could not be read (${zoneRead.why})` } : {}),
  };
  const busy = candidates.filter((host) => open.has(host));
  const usable = candidates.filter((host) => !open.has(host));
  try {
    const rooms = await Promise.all(
      usable.map(async (host): Promise<HostRoom | undefined> => {
        const provider = await sources.placement.providerOf(host);
        if (!provider) return undefined;
        const [inventories, usages] = await Promise.all([sources.placement.inventories(provider.uuid), sources.placement.usages(provider.uuid)]);
        return { host, free: freeAmounts(inventories, usages), limits: unitLimits(inventories) };
      }),
    );
    const hosts = rooms.filter((room): room is HostRoom => room !== undefined);
    return { known: true, hosts, busy, unplaced: usable.filter((host) => !hosts.some((room) => room.host === host)), ...zoneNotes };
  } catch (error) {
    return { known: false, reason: `Placement could not be read: ${describeError(error)}` };
  }
}

export interface Admission {
  /** In the order given (priority): the instances to evacuate now. */
  readonly call: readonly Server[];
  readonly held: readonly HeldInstance[];
  /** One line: the estimate, or why there was none. */
  readonly summary: string;
  /** The room left once the instances that fit are placed, rounded: room beyond it is new room. Absent when unknown. */
  readonly signature?: RoomSignature;
  /** Why the room is unknown; absent when it was estimated. */
  readonly unknown?: string;
}

/** Every instance, unestimated: the room is unknown, and that is no reason to hold anyone. */
export const admitAll = (servers: readonly Server[], reason: string): Admission => ({ call: servers, held: [], summary: `the room was not estimated (${reason}); every instance is evacuated`, unknown: reason });

/** Which of `servers` (in priority order) fit the room, and what the others lack. */
export function admitByRoom(servers: readonly Server[], room: Room): Admission {
  if (!room.known) return admitAll(servers, room.reason);
  const unsized = servers.filter((s) => !s.flavor);
  if (unsized.length > 0) return admitAll(servers, `Nova gives no flavor sizes for ${unsized.map((s) => s.name || s.id).join(', ')} (compute microversion below 2.47)`);
  const demands: (InstanceDemand & { server: Server })[] = servers.map((server) => ({ id: server.id, name: server.name, needs: instanceNeeds(server.flavor!, server.bootsFromVolume ?? false), server }));
  const plan = planPlacement(demands, room.hosts, room.zone);
  const notes = [
    ...(room.busy.length > 0 ? [`not counted, an incident of theirs is open: ${room.busy.join(', ')}`] : []),
    ...(room.unplaced.length > 0 ? [`no resource provider in Placement: ${room.unplaced.join(', ')}`] : []),
    ...(room.elsewhere && room.elsewhere.length > 0 ? [`not counted, in another availability zone: ${room.elsewhere.join(', ')}`] : []),
    ...(room.zoneUnchecked !== undefined ? [`availability zone not checked, hosts of every zone counted: ${room.zoneUnchecked}`] : []),
  ];
  return {
    call: plan.fits.map((fit) => fit.instance.server),
    held: plan.held.map((held) => ({ id: held.instance.id, name: held.instance.name, reason: held.reason })),
    summary: `${plan.summary}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`,
    signature: roomSignature(plan.left),
  };
}

/** The held-for-room email's text: what was evacuated, who waits, what is missing, and the command. */
export function heldReason(host: string, admission: Admission, command: string): string {
  const held = admission.held.map((h) => `${h.name || h.id} (${h.reason})`).join('; ');
  return `The usable compute hosts have no room for every instance of ${host}: ${admission.summary}. Evacuated now, highest priority first: ${admission.call.map((s) => s.name || s.id).join(', ') || 'none'}. Held: ${held}. nova-ha evacuates the held instances by itself when room appears (a host enabled or recovered, usage dropped). To evacuate them yourself once there is room (add --ignore-capacity to call Nova for every one of them whatever the estimate says), run: ${command}`;
}

/** A host's free room in Placement; throws when Placement cannot say (no provider, a failed read). */
export async function freeRoomOf(placement: RoomSources['placement'], host: string): Promise<Amounts> {
  const provider = await placement.providerOf(host);
  if (!provider) throw new Error(`Placement has no resource provider for ${host} (its nova-compute never reported)`);
  const [inventories, usages] = await Promise.all([placement.inventories(provider.uuid), placement.usages(provider.uuid)]);
  return freeAmounts(inventories, usages);
}

/** What the held instances need together, from their flavors: the room spares are asked to add. */
export function heldNeeds(servers: readonly Server[], admission: Pick<Admission, 'held'>): Amounts {
  const held = new Set(admission.held.map((h) => h.id));
  return totalNeeds(servers.filter((s) => held.has(s.id) && s.flavor).map((s) => instanceNeeds(s.flavor!, s.bootsFromVolume ?? false)));
}
