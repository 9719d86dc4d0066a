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
  /** The Glance image it was booted from (FakeNova.images); null: from a volume. */
  imageId?: string | null;
  /** The flavor Nova embeds in the server (2.47+). */
  flavor?: ServerFlavor;
}

/** What Nova (2.47+) embeds for a server of a flavor without extra specs. */
const PLAIN_FLAVOR: ServerFlavor = { name: 'm1.small', vcpus: 1, ramMb: 512, diskGb: 1, extraSpecs: {} };

/** What an accepted evacuation does: rebuilt elsewhere at once, left in a task, or ends in ERROR. */
export type MoveBehaviour = 'completes' | 'stays-rebuilding' | 'errors';

export class NovaRefused extends Error {
  constructor(readonly statusCode: number, message: string) {
    super(message);
    this.name = 'NovaRefused';
  }
}

export type NovaMethod = 'listServersOnHost' | 'listServersChangedSince' | 'getServer' | 'evacuate' | 'liveMigrate' | 'listMigrations' | 'getComputeService' | 'forceDown' | 'forceDownAndDisable' | 'disableService' | 'enableService' | 'listAggregates' | 'getImage';

export class FakeNova implements FenceNova {
  readonly servers = new Map<string, FakeServer>();
  readonly services = new Map<string, ComputeService>();
  readonly migrations: Migration[] = [];
  /** Glance's images, by ID (getImage: 404 for any other). */
  readonly images = new Map<string, Image>();
  readonly aggregates: Aggregate[] = [];
  /** Where evacuated and migrated servers land. */
  target = 'cmp9';
  behaviour: MoveBehaviour = 'completes';
  readonly #failures = new Map<NovaMethod, Error[]>();
  readonly #before = new Map<NovaMethod, ((args: readonly unknown[]) => void)[]>();
  #ids = 0;

  constructor(readonly journal = new Journal()) {}

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

  /** A Glance image with these properties. */
  image(id: string, name: string, properties: Record<string, string> = {}): Image {
    const image = { id, name, properties };
    this.images.set(id, image);
    return image;
  }

  /** A host aggregate of these hosts with this metadata. */
  aggregate(name: string, hosts: readonly string[], metadata: Record<string, string> = {}): Aggregate {
    const aggregate = { id: String(this.aggregates.length + 1), name, hosts: [...hosts], metadata };
    this.aggregates.push(aggregate);
    return aggregate;
  }

  /** A flavor as Nova embeds it in a server (2.47+). */
  static flavor(name: string, extraSpecs: Record<string, string> | null = {}): ServerFlavor {
    return { name, vcpus: 1, ramMb: 512, diskGb: 1, extraSpecs };
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
    return { id: s.id, name: s.name, status: s.status, taskState: s.taskState, vmState: s.vmState, host: s.host, projectId: 'p1', metadata: { ...s.metadata }, locked: false, partial: false, fault: s.fault ?? null, imageId: s.imageId ?? null, flavor: s.flavor ?? PLAIN_FLAVOR };
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
    const migration: Migration = { id: String(++this.#ids), uuid: `mig-${this.#ids}`, instanceUuid: id, migrationType: type, status: { completes: type === 'evacuation' ? 'done' : 'completed', errors: 'error', 'stays-rebuilding': 'accepted' }[this.behaviour], sourceCompute: source, destCompute: this.target, createdAt: new Date().toISOString().replace('Z', ''), updatedAt: null };
    this.migrations.push(migration);
    server.updatedAt = Date.now();
    if (this.behaviour === 'completes') {
      server.host = this.target;
      server.status = server.vmState === 'stopped' ? 'SHUTOFF' : 'ACTIVE';
      server.taskState = null;
    } else if (this.behaviour === 'errors') {
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

  async listAggregates(): Promise<Aggregate[]> {
    this.#enter('listAggregates', []);
    return this.aggregates.map((a) => ({ ...a, hosts: [...a.hosts], metadata: { ...a.metadata } }));
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
