/**
 * A simulation of Nova behind the interfaces the recovery code takes (EvacuationNova, FenceNova
 * and what unfence uses), in memory, for unit tests. It keeps servers, compute services and
 * migration records, and behaves as Nova does where it matters to nova-ha: an evacuation is
 * refused while the source's service is up ("still in use"), so Nova itself refuses a second
 * evacuation once the server is on a live host; an accepted one leaves a migration record and
 * rebuilds the server elsewhere. Every call is recorded, accepted or not, so a test counts
 * nova-ha's own calls, not what Nova let through. The real Nova runs in the lab tests.
 */
import type { ActionResult } from '../../lib/systems/nova/client.js';
import type { Aggregate, ComputeService, Image, Migration, MigrationFilter, Server } from '../../lib/systems/nova/index.js';
import type { PlacementInventory, ResourceProvider } from '../../lib/systems/nova/index.js';
import type { ServerFault, ServerFlavor } from '../../lib/systems/nova/types.js';
import type { FenceNova } from '../../lib/recovery/fence.js';
import { Journal } from './journal.js';

export interface FakeServer {
  id: string;
  name: string;
  host: string | null;
  status: string;
  vmState: string | null;
  taskState: string | null;
  metadata: Record<string, string>;
  partial?: boolean;
  fault?: ServerFault | null;
  /** When Nova last changed it (ms): what a changes-since list compares. */
  updatedAt?: number;
  /** The Glance image it was booted from (FakeNova.images); null or absent: from a volume. */
  imageId?: string | null;
  /** The flavor Nova embeds in the server (2.47+); absent: PLAIN_FLAVOR. */
  flavor?: ServerFlavor;
}

/** A flavor of the given sizes (disk in GB, ram in MB), its extra specs shown. */
export const flavor = (vcpus: number, ram: number, disk: number, name = `f${vcpus}-${ram}-${disk}`, extraSpecs: Readonly<Record<string, string>> | null = {}): ServerFlavor => ({ name, vcpus, ram, disk, ephemeral: 0, swap: 0, extraSpecs });

/** What Nova (2.47+) embeds for a server of a flavor without extra specs. */
const PLAIN_FLAVOR: ServerFlavor = flavor(1, 512, 1, 'm1.small');

/** What the fake's Nova shows of a server: its flavor, and whether it boots from a volume (no image of its own). */
const flavorOf = (server: FakeServer): ServerFlavor => server.flavor ?? PLAIN_FLAVOR;
const bootsFromVolume = (server: FakeServer): boolean => (server.imageId ?? null) === null;

type Sized = 'VCPU' | 'MEMORY_MB' | 'DISK_GB';

/** What Nova's allocations in Placement hold for a server: a server booted from a volume has no root disk on its host. */
function allocationOf(server: FakeServer): Record<Sized, number> {
  const size = flavorOf(server);
  return { VCPU: size.vcpus, MEMORY_MB: size.ram, DISK_GB: bootsFromVolume(server) ? 0 : size.disk };
}

/**
 * Placement over the same hosts: a compute node provider per host given inventories, its usage
 * the sum of its servers' flavors (as Nova's allocations would be), plus any extra usage set.
 */
export class FakePlacement {
  readonly totals = new Map<string, Record<string, PlacementInventory>>();
  readonly extraUsage = new Map<string, Record<string, number>>();
  /** Every read fails with this while set. */
  failure: Error | undefined;
  reads = 0;

  constructor(private readonly nova: FakeNova) {}

  /** A provider for host with these totals (ratio 1, nothing reserved unless given). */
  provide(host: string, vcpus: number, ramMb: number, diskGb: number, over: Partial<Record<Sized, Partial<PlacementInventory>>> = {}): void {
    const inventory = (total: number, extra: Partial<PlacementInventory> = {}): PlacementInventory => ({ total, reserved: 0, allocation_ratio: 1, min_unit: 1, max_unit: total, step_size: 1, ...extra });
    this.totals.set(host, { VCPU: inventory(vcpus, over.VCPU), MEMORY_MB: inventory(ramMb, over.MEMORY_MB), DISK_GB: inventory(diskGb, over.DISK_GB) });
  }

  #read(): void {
    this.reads++;
    if (this.failure) throw this.failure;
  }

  async providerOf(host: string): Promise<ResourceProvider | undefined> {
    this.#read();
    return this.totals.has(host) ? { uuid: `rp-${host}`, name: host } : undefined;
  }

  async inventories(uuid: string): Promise<Record<string, PlacementInventory>> {
    this.#read();
    return this.totals.get(uuid.replace(/^rp-/, '')) ?? {};
  }

  async usages(uuid: string): Promise<Record<string, number>> {
    this.#read();
    return this.usedOn(uuid.replace(/^rp-/, ''));
  }

  /** Whether host has room for one more such server (what Nova's scheduler asks Placement). */
  hasRoom(host: string, server: FakeServer): boolean {
    const totals = this.totals.get(host);
    if (!totals) return false;
    const used = this.usedOn(host);
    const needs = allocationOf(server);
    const free = (resource: Sized): number => Math.floor((totals[resource]!.total - totals[resource]!.reserved) * totals[resource]!.allocation_ratio) - used[resource];
    return free('VCPU') >= needs.VCPU && free('MEMORY_MB') >= needs.MEMORY_MB && free('DISK_GB') >= needs.DISK_GB;
  }

  usedOn(host: string): Record<Sized, number> {
    const used = { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0, ...this.extraUsage.get(host) };
    for (const server of this.nova.servers.values()) {
      if (server.host !== host) continue;
      const allocation = allocationOf(server);
      used.VCPU += allocation.VCPU;
      used.MEMORY_MB += allocation.MEMORY_MB;
      used.DISK_GB += allocation.DISK_GB;
    }
    return used;
  }
}

/** What an accepted evacuation does: rebuilt elsewhere at once, left in a task, or ends in ERROR. */
export type MoveBehaviour = 'completes' | 'stays-rebuilding' | 'errors';

export class NovaRefused extends Error {
  constructor(readonly statusCode: number, message: string) {
    super(message);
    this.name = 'NovaRefused';
  }
}

export type NovaMethod = 'listComputeServices' | 'listServersOnHost' | 'listServersChangedSince' | 'getServer' | 'evacuate' | 'liveMigrate' | 'listMigrations' | 'getComputeService' | 'forceDown' | 'forceDownAndDisable' | 'disableService' | 'enableService' | 'listAggregates' | 'addHostToAggregate' | 'removeHostFromAggregate' | 'getImage';

/** A host aggregate as the fake keeps it: its hosts change with add_host and remove_host. */
export interface FakeAggregate extends Omit<Aggregate, 'hosts'> {
  hosts: string[];
}

export class FakeNova implements FenceNova {
  readonly servers = new Map<string, FakeServer>();
  readonly services = new Map<string, ComputeService>();
  readonly migrations: Migration[] = [];
  /** Host aggregates by ID: hosts are added and removed as Nova's add_host / remove_host do. */
  readonly aggregates = new Map<string, FakeAggregate>();
  /** Glance's images, by ID (getImage: 404 for any other). */
  readonly images = new Map<string, Image>();
  /** Where evacuated and migrated servers land. */
  target = 'cmp9';
  behaviour: MoveBehaviour = 'completes';
  readonly #failures = new Map<NovaMethod, Error[]>();
  readonly #before = new Map<NovaMethod, ((args: readonly unknown[]) => void)[]>();
  #ids = 0;
  readonly placementApi = new FakePlacement(this);

  constructor(readonly journal = new Journal()) {}

  placement(): FakePlacement {
    return this.placementApi;
  }

  async listComputeServices(): Promise<ComputeService[]> {
    this.#enter('listComputeServices', []);
    return [...this.services.values()].map((s) => ({ ...s }));
  }

  /**
   * Where the next evacuated server lands: the fixed target, or, with scheduling on, the first
   * usable host with room for its flavor (NoValidHost, as Nova's scheduler, when none has).
   */
  scheduling = false;

  /** A compute service, up and enabled unless told otherwise. */
  service(host: string, over: Partial<ComputeService> = {}): ComputeService {
    const service: ComputeService = { id: `svc-${host}`, binary: 'nova-compute', host, zone: 'nova', status: 'enabled', state: 'up', forcedDown: false, disabledReason: null, updatedAt: null, ...over };
    this.services.set(host, service);
    return service;
  }

  /** A server on host, ACTIVE unless told otherwise. */
  server(id: string, host: string, over: Partial<FakeServer> = {}): FakeServer {
    const server: FakeServer = { id, name: id, host, status: 'ACTIVE', vmState: 'active', taskState: null, metadata: {}, updatedAt: Date.now(), ...over };
    this.servers.set(id, server);
    return server;
  }

  /** A host aggregate with these hosts and this metadata. */
  aggregate(id: string, name: string, hosts: readonly string[], metadata: Record<string, string> = {}): FakeAggregate {
    const aggregate = { id, name, hosts: [...hosts], metadata };
    this.aggregates.set(id, aggregate);
    return aggregate;
  }

  /** A Glance image with these properties. */
  image(id: string, name: string, properties: Record<string, string> = {}): Image {
    const image = { id, name, properties };
    this.images.set(id, image);
    return image;
  }

  /** A flavor of PLAIN_FLAVOR's sizes as Nova embeds it in a server (2.47+), with these extra specs (null: Nova hides them). */
  static flavor(name: string, extraSpecs: Record<string, string> | null = {}): ServerFlavor {
    return flavor(PLAIN_FLAVOR.vcpus, PLAIN_FLAVOR.ram, PLAIN_FLAVOR.disk, name, extraSpecs);
  }

  failNext(method: NovaMethod, error: Error = new NovaRefused(503, 'Service Unavailable')): void {
    this.#failures.set(method, [...(this.#failures.get(method) ?? []), error]);
  }

  /** Runs hook before every call of method, before it takes effect. */
  before(method: NovaMethod, hook: (args: readonly unknown[]) => void): void {
    this.#before.set(method, [...(this.#before.get(method) ?? []), hook]);
  }

  /** Calls of one method, in order, with their arguments. */
  calls(method: NovaMethod): unknown[][] {
    return this.journal.of('nova', method).map((e) => [...e.args]);
  }

  /** How many times nova-ha called evacuate (or liveMigrate) for each server. */
  callCounts(method: 'evacuate' | 'liveMigrate' = 'evacuate'): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [id] of this.calls(method)) counts.set(id as string, (counts.get(id as string) ?? 0) + 1);
    return counts;
  }

  #enter(method: NovaMethod, args: readonly unknown[]): void {
    this.journal.add({ system: 'nova', method, args });
    for (const hook of this.#before.get(method) ?? []) hook(args);
    const failure = this.#failures.get(method)?.shift();
    if (failure) throw failure;
  }

  #view(s: FakeServer): Server {
    if (s.partial) return { id: s.id, name: '', status: 'UNKNOWN', taskState: null, vmState: null, host: null, projectId: null, metadata: {}, locked: null, partial: true, fault: null };
    return { id: s.id, name: s.name, status: s.status, taskState: s.taskState, vmState: s.vmState, host: s.host, projectId: 'p1', metadata: { ...s.metadata }, locked: false, partial: false, fault: s.fault ?? null, imageId: s.imageId ?? null, bootsFromVolume: bootsFromVolume(s), flavor: flavorOf(s) };
  }

  #serviceOf(host: string): ComputeService {
    const service = this.services.get(host);
    if (!service) throw new NovaRefused(404, `Compute host ${host} could not be found.`);
    return service;
  }

  #move(id: string, type: 'evacuation' | 'live-migration'): ActionResult {
    const server = this.servers.get(id);
    if (!server) throw new NovaRefused(404, `Instance ${id} could not be found.`);
    const source = server.host ?? '';
    const service = this.services.get(source);
    if (type === 'evacuation' && service && service.state === 'up' && !service.forcedDown) throw new NovaRefused(409, `Compute service of ${source} is still in use.`);
    if (server.taskState) throw new NovaRefused(409, `Cannot '${type}' instance ${id} while it is in task_state ${server.taskState}`);
    const scheduled = this.scheduling ? [...this.services.values()].find((c) => c.host !== source && c.status === 'enabled' && c.state === 'up' && !c.forcedDown && this.placementApi.hasRoom(c.host, server))?.host : this.target;
    const behaviour: MoveBehaviour = scheduled === undefined ? 'errors' : this.behaviour;
    const migration: Migration = { id: String(++this.#ids), uuid: `mig-${this.#ids}`, instanceUuid: id, migrationType: type, status: { completes: type === 'evacuation' ? 'done' : 'completed', errors: 'error', 'stays-rebuilding': 'accepted' }[behaviour], sourceCompute: source, destCompute: scheduled ?? null, createdAt: new Date().toISOString().replace('Z', ''), updatedAt: null };
    this.migrations.push(migration);
    server.updatedAt = Date.now();
    if (behaviour === 'completes') {
      server.host = scheduled!;
      server.status = server.vmState === 'stopped' ? 'SHUTOFF' : 'ACTIVE';
      server.taskState = null;
    } else if (behaviour === 'errors') {
      server.status = 'ERROR';
      server.vmState = 'error';
      server.taskState = null;
      server.fault = { message: 'No valid host was found. There are not enough hosts available.', code: 500 };
    } else server.taskState = type === 'evacuation' ? 'rebuilding' : 'migrating';
    return { requestId: `req-${this.#ids}`, attempts: 1, confirmedBy: 'response' };
  }

  async listServersOnHost(host: string): Promise<Server[]> {
    this.#enter('listServersOnHost', [host]);
    return [...this.servers.values()].filter((s) => s.host === host).map((s) => this.#view(s));
  }

  async listServersChangedSince(since: number): Promise<Server[]> {
    this.#enter('listServersChangedSince', [since]);
    return [...this.servers.values()].filter((s) => (s.updatedAt ?? 0) >= since).map((s) => this.#view(s));
  }

  async getServer(id: string): Promise<Server> {
    this.#enter('getServer', [id]);
    const server = this.servers.get(id);
    if (!server) throw new NovaRefused(404, `Instance ${id} could not be found.`);
    return this.#view(server);
  }

  async evacuate(id: string, options: { readonly fromHost: string }): Promise<ActionResult> {
    this.#enter('evacuate', [id, options]);
    return this.#move(id, 'evacuation');
  }

  async liveMigrate(id: string, options: { readonly fromHost: string }): Promise<ActionResult> {
    this.#enter('liveMigrate', [id, options]);
    return this.#move(id, 'live-migration');
  }

  async listMigrations(filter: MigrationFilter): Promise<Migration[]> {
    this.#enter('listMigrations', [filter]);
    return this.migrations.filter((m) => (!filter.type || m.migrationType === filter.type) && (!filter.instanceUuid || m.instanceUuid === filter.instanceUuid) && (!filter.sourceCompute || m.sourceCompute === filter.sourceCompute));
  }

  async getImage(id: string): Promise<Image> {
    this.#enter('getImage', [id]);
    const image = this.images.get(id);
    if (!image) throw new NovaRefused(404, `No image found with ID ${id}`);
    return { ...image, properties: { ...image.properties } };
  }

  async getComputeService(host: string): Promise<ComputeService> {
    this.#enter('getComputeService', [host]);
    return { ...this.#serviceOf(host) };
  }

  async listAggregates(): Promise<Aggregate[]> {
    this.#enter('listAggregates', []);
    return [...this.aggregates.values()].map((a) => ({ ...a, hosts: [...a.hosts], metadata: { ...a.metadata } }));
  }

  /** Nova answers 409 for a host already in the aggregate (the client returns false), 404 for an unknown host. */
  async addHostToAggregate(aggregateId: string, host: string): Promise<boolean> {
    this.#enter('addHostToAggregate', [aggregateId, host]);
    const aggregate = this.aggregates.get(aggregateId);
    if (!aggregate) throw new NovaRefused(404, `Aggregate ${aggregateId} could not be found.`);
    if (!this.services.has(host)) throw new NovaRefused(404, `Compute host ${host} could not be found.`);
    if (aggregate.hosts.includes(host)) return false;
    aggregate.hosts.push(host);
    return true;
  }

  /** Nova answers 404 for a host not in the aggregate (the client returns false). */
  async removeHostFromAggregate(aggregateId: string, host: string): Promise<boolean> {
    this.#enter('removeHostFromAggregate', [aggregateId, host]);
    const aggregate = this.aggregates.get(aggregateId);
    if (!aggregate || !aggregate.hosts.includes(host)) return false;
    aggregate.hosts.splice(aggregate.hosts.indexOf(host), 1);
    return true;
  }

  async forceDown(serviceId: string, forcedDown: boolean): Promise<ComputeService> {
    this.#enter('forceDown', [serviceId, forcedDown]);
    const service = [...this.services.values()].find((s) => s.id === serviceId);
    if (!service) throw new NovaRefused(404, `Service ${serviceId} not found.`);
    // Cleared, the service reports again (its nova-compute runs): Nova shows it up.
    const next = { ...service, forcedDown, state: forcedDown ? 'down' as const : 'up' as const };
    this.services.set(service.host, next);
    return { ...next };
  }

  async forceDownAndDisable(serviceId: string, reason: string): Promise<ComputeService> {
    this.#enter('forceDownAndDisable', [serviceId, reason]);
    const service = [...this.services.values()].find((s) => s.id === serviceId);
    if (!service) throw new NovaRefused(404, `Service ${serviceId} not found.`);
    const next = { ...service, forcedDown: true, state: 'down' as const, status: 'disabled' as const, disabledReason: reason };
    this.services.set(service.host, next);
    return { ...next };
  }

  async disableService(serviceId: string, reason: string): Promise<ComputeService> {
    this.#enter('disableService', [serviceId, reason]);
    const service = [...this.services.values()].find((s) => s.id === serviceId);
    if (!service) throw new NovaRefused(404, `Service ${serviceId} not found.`);
    const next = { ...service, status: 'disabled' as const, disabledReason: reason };
    this.services.set(service.host, next);
    return { ...next };
  }

  async enableService(serviceId: string): Promise<ComputeService> {
    this.#enter('enableService', [serviceId]);
    const service = [...this.services.values()].find((s) => s.id === serviceId);
    if (!service) throw new NovaRefused(404, `Service ${serviceId} not found.`);
    const next = { ...service, status: 'enabled' as const, disabledReason: null };
    this.services.set(service.host, next);
    return { ...next };
  }
}
