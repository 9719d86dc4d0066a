/**
 * A simulation of the part of Nova the evacuation engine talks to (EvacuationNova / FenceNova),
 * in memory, for unit tests of the engine's decisions: servers on hosts, evacuations and live
 * migrations that Nova accepts at once and finishes a little later (or fails the way Nova
 * does), migration records, and a log of every call, in order. It is a simulation: nothing of
 * Nova's scheduler or compute runs, and its clock is this process's.
 */
import type { FenceNova } from '../../lib/recovery/fence.js';
import type { ActionResult, Aggregate, ComputeService, Image, Migration, MigrationFilter, Server } from '../../lib/systems/nova/index.js';

export interface SimServer {
  id: string;
  name: string;
  status: string;
  taskState: string | null;
  vmState: string | null;
  host: string | null;
  metadata: Record<string, string>;
  fault: { message: string; code: number | null } | null;
  /** Nova's updated_at (ms). */
  updatedAt: number;
}

/** How Nova ends a move it accepted. */
export type Ending =
  | { readonly kind: 'moved'; readonly to: string }
  | { readonly kind: 'no-valid-host' }
  | { readonly kind: 'rolled-back' };

export interface SimCall {
  readonly at: number;
  readonly call: string;
  readonly id?: string;
}

export class NovaSim implements FenceNova {
  readonly servers = new Map<string, SimServer>();
  readonly migrations: Migration[] = [];
  readonly calls: SimCall[] = [];
  /** How long an accepted move takes (ms) before Nova ends it. */
  moveMs = 30;
  /** How Nova ends the move of each server (default: moved to cmp9). */
  readonly endings = new Map<string, Ending>();
  /** Servers whose later writes carry an updated_at this far in the past (a Nova host's clock behind). */
  readonly clockBehind = new Map<string, number>();
  /** Calls that fail before Nova acts: server id -> remaining refusals. */
  readonly refuse = new Map<string, number>();
  /** POSTs in flight right now, and the most there ever were. */
  inFlight = 0;
  maxInFlight = 0;
  /** How long a POST takes to be answered (ms). */
  postMs = 5;
  /** Between a rebuilt server's state and its new host, as in Nova's compute (ms; 0: at once). */
  hostLagMs = 0;
  readonly service: ComputeService = { id: 'svc-cmp1', binary: 'nova-compute', host: 'cmp1', zone: 'nova', status: 'enabled', state: 'down', forcedDown: false, disabledReason: null, updatedAt: null };

  constructor(host: string, count: number, options: { readonly stopped?: readonly number[] } = {}) {
    for (let i = 0; i < count; i++) {
      const id = `vm-${String(i).padStart(3, '0')}`;
      const stopped = options.stopped?.includes(i) ?? false;
      this.servers.set(id, { id, name: id, status: stopped ? 'SHUTOFF' : 'ACTIVE', taskState: null, vmState: stopped ? 'stopped' : 'active', host, metadata: {}, fault: null, updatedAt: Date.now() - 3_600_000 });
    }
  }

  callsOf(call: string): SimCall[] {
    return this.calls.filter((c) => c.call === call);
  }

  private log(call: string, id?: string): void {
    this.calls.push({ at: Date.now(), call, ...(id ? { id } : {}) });
  }

  private view(s: SimServer): Server {
    return { id: s.id, name: s.name, status: s.status, taskState: s.taskState, vmState: s.vmState, host: s.host, projectId: 'p1', metadata: { ...s.metadata }, locked: false, partial: false, fault: s.fault ? { ...s.fault } : null };
  }

  private touch(s: SimServer): void {
    s.updatedAt = Date.now() - (this.clockBehind.get(s.id) ?? 0);
  }

  async listServersOnHost(host: string): Promise<Server[]> {
    this.log('list-host');
    return [...this.servers.values()].filter((s) => s.host === host).map((s) => this.view(s));
  }

  async listServersChangedSince(since: number): Promise<Server[]> {
    this.log('list-changed');
    return [...this.servers.values()].filter((s) => s.updatedAt >= since).map((s) => this.view(s));
  }

  async getServer(id: string): Promise<Server> {
    this.log('get', id);
    const s = this.servers.get(id);
    if (!s) throw new Error(`sim: no server ${id}`);
    return this.view(s);
  }

  evacuate(id: string, options: { readonly fromHost: string }): Promise<ActionResult> {
    return this.move(id, options.fromHost, 'evacuation', 'rebuilding');
  }

  liveMigrate(id: string, options: { readonly fromHost: string }): Promise<ActionResult> {
    return this.move(id, options.fromHost, 'live-migration', 'migrating');
  }

  private async move(id: string, fromHost: string, type: 'evacuation' | 'live-migration', task: string): Promise<ActionResult> {
    this.log(type, id);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, this.postMs));
      const refusals = this.refuse.get(id) ?? 0;
      if (refusals > 0) {
        this.refuse.set(id, refusals - 1);
        throw new Error(`sim: Nova refused the ${type} of ${id} (409 busy)`);
      }
      const s = this.servers.get(id)!;
      if (s.host !== fromHost || s.taskState) throw new Error(`sim: ${id} is on ${s.host} with task ${s.taskState}: not moved again`);
      s.taskState = task;
      this.touch(s);
      const migration = { id: String(this.migrations.length + 1), uuid: `mig-${id}-${this.migrations.length + 1}`, instanceUuid: id, migrationType: type, status: 'accepted', sourceCompute: fromHost, destCompute: null as string | null, createdAt: new Date().toISOString().replace('Z', ''), updatedAt: null };
      this.migrations.push(migration);
      const wasStopped = s.vmState === 'stopped';
      setTimeout(() => this.end(s, migration, wasStopped), this.moveMs);
      return { requestId: `req-${id}`, attempts: 1, confirmedBy: 'response', acceptedAt: Math.floor(Date.now() / 1000) * 1000 };
    } finally {
      this.inFlight--;
    }
  }

  private end(s: SimServer, migration: Migration & { status: string; destCompute: string | null }, wasStopped: boolean): void {
    const ending = this.endings.get(s.id) ?? { kind: 'moved', to: 'cmp9' };
    const index = this.migrations.indexOf(migration);
    if (ending.kind === 'moved') {
      // Nova's order: the server is ACTIVE (or SHUTOFF) with no task, then its host changes and the migration is done.
      Object.assign(s, { status: wasStopped ? 'SHUTOFF' : 'ACTIVE', vmState: wasStopped ? 'stopped' : 'active', taskState: null });
      const finish = (): void => {
        s.host = ending.to;
        this.migrations[index] = { ...migration, status: migration.migrationType === 'evacuation' ? 'done' : 'completed', destCompute: ending.to };
        this.touch(s);
      };
      if (this.hostLagMs > 0) setTimeout(finish, this.hostLagMs);
      else finish();
    } else if (ending.kind === 'no-valid-host') {
      Object.assign(s, { status: 'ERROR', vmState: 'error', taskState: null, fault: { message: 'No valid host was found. There are not enough hosts available.', code: 500 } });
      this.migrations[index] = { ...migration, status: 'error' };
    } else {
      Object.assign(s, { taskState: null });
      this.migrations[index] = { ...migration, status: 'failed' };
    }
    this.touch(s);
  }

  /** No aggregates, and the servers name no image: the HA policy reads only their metadata here. */
  async listAggregates(): Promise<Aggregate[]> {
    return [];
  }

  async getImage(id: string): Promise<Image> {
    throw new Error(`NovaSim has no images (asked for ${id})`);
  }

  async listMigrations(filter: MigrationFilter): Promise<Migration[]> {
    this.log('migrations');
    return this.migrations.filter((m) => (!filter.type || m.migrationType === filter.type) && (!filter.sourceCompute || m.sourceCompute === filter.sourceCompute) && (!filter.instanceUuid || m.instanceUuid === filter.instanceUuid));
  }

  async getComputeService(host: string): Promise<ComputeService> {
    this.log('get-service');
    return { ...this.service, host };
  }

  async forceDownAndDisable(serviceId: string, reason: string): Promise<ComputeService> {
    this.log('force-down-and-disable', serviceId);
    Object.assign(this.service, { forcedDown: true, status: 'disabled', disabledReason: reason });
    return { ...this.service };
  }

  async disableService(serviceId: string, reason: string): Promise<ComputeService> {
    this.log('disable', serviceId);
    Object.assign(this.service, { status: 'disabled', disabledReason: reason });
    return { ...this.service };
  }
}
