/**
 * A simulation of one Consul cluster as nova-ha's ConsulApi sees it, in memory, for unit tests:
 * the catalog and health checks of its nodes, KV with Consul's check-and-set, sessions and
 * session locks (acquire, release, lock-delay, invalidation releases the lock), transactions,
 * user events and agent joins. Every call is recorded in a journal. A real Consul runs in the
 * integration tests; this one lets a unit test break the cluster at an exact point.
 */
import { TxnRefusedError, type AgentMember, type CatalogNode, type ConsulApi, type HealthCheck, type KvEntry, type PutOptions, type SessionInfo, type TxnOp } from '../../lib/systems/consul/api.js';
import { NODE_MAINTENANCE_CHECK, NOVA_COMPUTE_CHECK, ROLE_META, WATCHDOG_CHECK } from '../../lib/systems/consul/names.js';
import type { CheckStatus } from '../../lib/decision/model.js';
import { Journal } from './journal.js';

/** What handlers/nova-compute-check.ts prints for each status: the policy only trusts its own status line. */
const NOVA_COMPUTE_OUTPUT: Record<CheckStatus, string> = {
  passing: 'OK: nova-compute: systemd unit active',
  warning: 'WARNING: nova-compute: systemd unit activating',
  critical: 'CRITICAL: nova-compute: systemd unit inactive',
};

/** The part of ConsulApi nova-ha calls: the fake implements exactly this. */
export type ConsulSurface = Omit<ConsulApi, 'client'>;

export interface FakeNode {
  role?: 'controller' | 'compute';
  serfHealth?: CheckStatus;
  novaCompute?: CheckStatus;
  /** Its nova-compute check's whole output, when a test needs more than the status line (the repair key line). */
  novaComputeOutput?: string;
  maintenance?: boolean;
  address?: string;
  /** Its nova-ha-watchdog TTL check, as the feeder last set it. */
  watchdog?: { status: CheckStatus; output: string };
}

interface StoredKey {
  value: string;
  createIndex: number;
  modifyIndex: number;
  lockIndex: number;
  session?: string;
}

interface StoredSession {
  readonly id: string;
  readonly node: string;
  readonly name: string;
  readonly ttl: string;
  readonly lockDelayMs: number;
  readonly behavior: 'release' | 'delete';
}

/** An error as the consul client throws it for an HTTP status. */
export function consulError(statusCode: number, message: string): Error {
  return Object.assign(new Error(message), { statusCode });
}

const durationMs = (text: string): number => {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text);
  if (!match) return 0;
  return Number(match[1]) * ({ ms: 1, s: 1000, m: 60_000 } as const)[match[2] as 'ms' | 's' | 'm'];
};

/** What the cluster holds, shared by every agent of it. */
class ClusterState {
  readonly nodes = new Map<string, FakeNode>();
  /** The index at which each node's checks last changed (what a blocking health query reports). */
  readonly nodeIndex = new Map<string, number>();
  readonly events: { name: string; payload: string; node?: string; id: string }[] = [];
  readonly joins: string[] = [];
  readonly keys = new Map<string, StoredKey>();
  readonly sessions = new Map<string, StoredSession>();
  /** Keys nobody may acquire until this time (Consul's lock-delay after a session was lost). */
  readonly lockDelayUntil = new Map<string, number>();
  index = 10;
  ids = 0;
}

export class FakeConsul implements ConsulSurface {
  readonly #c: ClusterState;
  /** Why every call fails (no leader, unreachable); undefined: the cluster answers. */
  #down: Error | undefined;
  /** Calls that fail once each, by method, in order. */
  readonly #failures = new Map<string, Error[]>();
  /** Runs before a method's effect: a test can change the world at an exact point. */
  readonly #before = new Map<string, ((args: readonly unknown[]) => void)[]>();

  constructor(
    readonly network: string,
    /** The node whose agent nova-ha talks to (the controller): sessions are created on it. */
    readonly self: string,
    readonly journal = new Journal(),
    cluster = new ClusterState(),
  ) {
    this.#c = cluster;
  }

  /** The agent of another node in the same cluster (what that controller's nova-ha talks to). */
  agentOf(node: string): FakeConsul {
    return new FakeConsul(this.network, node, this.journal, this.#c);
  }

  get nodes(): Map<string, FakeNode> {
    return this.#c.nodes;
  }

  get events(): { name: string; payload: string; node?: string; id: string }[] {
    return this.#c.events;
  }

  get joins(): string[] {
    return this.#c.joins;
  }

  /** This fake as the ConsulApi nova-ha's code takes. */
  get api(): ConsulApi {
    return this as unknown as ConsulApi;
  }

  node(name: string, node: FakeNode): this {
    this.nodes.set(name, { ...this.nodes.get(name), ...node });
    this.#c.nodeIndex.set(name, ++this.#c.index);
    return this;
  }

  /** Every call fails with this (e.g. "No cluster leader") until up() is called. */
  down(error: Error = consulError(500, 'No cluster leader')): void {
    this.#down = error;
  }

  up(): void {
    this.#down = undefined;
  }

  /** The next call of method fails with error (repeat for more). */
  failNext(method: keyof ConsulSurface, error: Error = consulError(500, 'rpc error: EOF')): void {
    this.#failures.set(method, [...(this.#failures.get(method) ?? []), error]);
  }

  /** Runs hook before every call of method, before it takes effect. */
  before(method: keyof ConsulSurface, hook: (args: readonly unknown[]) => void): void {
    this.#before.set(method, [...(this.#before.get(method) ?? []), hook]);
  }

  /** Calls of one method, from the journal. */
  calls(method: keyof ConsulSurface): unknown[][] {
    return this.journal.of(`consul:${this.network}`, method).map((e) => [...e.args]);
  }

  #enter(method: string, args: readonly unknown[], extra: { key?: string; value?: unknown } = {}): void {
    this.journal.add({ system: `consul:${this.network}`, method, args, agent: this.self, ...extra });
    for (const hook of this.#before.get(method) ?? []) hook(args);
    if (this.#down) throw this.#down;
    const failure = this.#failures.get(method)?.shift();
    if (failure) throw failure;
  }

  // ---- reading what is stored (no journal entry: for assertions) ----

  /** The parsed document at key, or undefined. */
  peek<T>(key: string): T | undefined {
    const stored = this.#c.keys.get(key);
    return stored ? (JSON.parse(stored.value) as T) : undefined;
  }

  peekEntry(key: string): KvEntry | undefined {
    return this.#entry(key);
  }

  keys(prefix = ''): string[] {
    return [...this.#c.keys.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  /** Puts a document as another writer would (no journal entry). */
  seed(key: string, value: unknown): void {
    const existing = this.#c.keys.get(key);
    const index = ++this.#c.index;
    this.#c.keys.set(key, { value: JSON.stringify(value), createIndex: existing?.createIndex ?? index, modifyIndex: index, lockIndex: existing?.lockIndex ?? 0, ...(existing?.session ? { session: existing.session } : {}) });
  }

  sessionIds(): string[] {
    return [...this.#c.sessions.keys()];
  }

  /** The session ends as if its TTL ran out or its node failed: its locks are released. */
  invalidateSession(id: string, now = Date.now()): void {
    const session = this.#c.sessions.get(id);
    if (!session) return;
    this.#c.sessions.delete(id);
    for (const [key, stored] of this.#c.keys) {
      if (stored.session !== id) continue;
      if (session.behavior === 'delete') this.#c.keys.delete(key);
      else {
        delete stored.session;
        stored.modifyIndex = ++this.#c.index;
      }
      if (session.lockDelayMs > 0) this.#c.lockDelayUntil.set(key, now + session.lockDelayMs);
    }
  }

  #entry(key: string): KvEntry | undefined {
    const stored = this.#c.keys.get(key);
    if (!stored) return undefined;
    return { Key: key, Value: stored.value, CreateIndex: stored.createIndex, ModifyIndex: stored.modifyIndex, LockIndex: stored.lockIndex, ...(stored.session ? { Session: stored.session } : {}) };
  }

  #parsed(value: string): unknown {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }

  // ---- the ConsulApi surface ----

  async catalogNodes(filter?: string): Promise<CatalogNode[]> {
    this.#enter('catalogNodes', [filter]);
    // The one filter nova-ha sends (pollTargets): a node meta value.
    const meta = /^Meta\["([^"]+)"\] == "([^"]*)"$/.exec(filter ?? '');
    const matches = (n: FakeNode): boolean => !meta || (meta[1] === ROLE_META && n.role === meta[2]);
    return [...this.nodes].filter(([, n]) => matches(n)).sort(([a], [b]) => a.localeCompare(b)).map(([name, n]) => ({ Node: name, Address: n.address ?? '127.0.0.1', Meta: (n.role ? { [ROLE_META]: n.role } : {}) as Record<string, string> }));
  }

  async healthChecks(filter?: string, nodeMeta?: string): Promise<HealthCheck[]> {
    this.#enter('healthChecks', [filter, nodeMeta]);
    const [metaKey, metaValue] = nodeMeta?.split(':') ?? [];
    if (metaKey !== undefined && metaKey !== ROLE_META) return [];
    return this.#checks().filter((c) => metaValue === undefined || this.nodes.get(c.Node)?.role === metaValue);
  }

  #checks(): HealthCheck[] {
    const checks: HealthCheck[] = [];
    for (const [name, n] of [...this.nodes].sort(([a], [b]) => a.localeCompare(b))) {
      if (n.serfHealth) checks.push({ Node: name, CheckID: 'serfHealth', Name: 'Serf Health Status', Status: n.serfHealth, Output: '' });
      if (n.novaCompute) checks.push({ Node: name, CheckID: NOVA_COMPUTE_CHECK, Name: NOVA_COMPUTE_CHECK, Status: n.novaCompute, Output: n.novaComputeOutput ?? NOVA_COMPUTE_OUTPUT[n.novaCompute] });
      if (n.maintenance) checks.push({ Node: name, CheckID: NODE_MAINTENANCE_CHECK, Name: 'Node Maintenance Mode', Status: 'critical', Output: '' });
      if (n.watchdog) checks.push({ Node: name, CheckID: WATCHDOG_CHECK, Name: WATCHDOG_CHECK, Status: n.watchdog.status, Output: n.watchdog.output });
    }
    return checks;
  }

  async healthNode(node: string): Promise<HealthCheck[]> {
    this.#enter('healthNode', [node]);
    return this.#checks().filter((c) => c.Node === node);
  }

  /** One node's checks with the index they last changed at; a blocking call answers at once (the caller then pauses). */
  async healthNodeIndexed(node: string, options: { index?: number } = {}): Promise<{ checks: HealthCheck[]; index: number }> {
    this.#enter('healthNodeIndexed', [node, options.index]);
    return { checks: this.#checks().filter((c) => c.Node === node), index: this.#c.nodeIndex.get(node) ?? 1 };
  }

  /** The checks of this fake's own node, as its agent runs them. */
  async agentChecks(): Promise<Map<string, string>> {
    this.#enter('agentChecks', []);
    return new Map(this.#checks().filter((c) => c.Node === this.self && c.CheckID !== 'serfHealth').map((c) => [c.CheckID, c.Status]));
  }

  async ttlCheck(id: string, status: CheckStatus, output: string): Promise<void> {
    this.#enter('ttlCheck', [id, status, output]);
    if (id !== WATCHDOG_CHECK) throw consulError(404, `CheckID "${id}" does not have associated TTL`);
    this.node(this.self, { watchdog: { status, output } });
  }

  async kvGet(key: string): Promise<KvEntry | undefined> {
    this.#enter('kvGet', [key], { key });
    return this.#entry(key);
  }

  async kvTree(prefix: string): Promise<KvEntry[]> {
    this.#enter('kvTree', [prefix], { key: prefix });
    return this.keys(prefix).map((k) => this.#entry(k)!);
  }

  async kvKeys(prefix: string): Promise<string[]> {
    this.#enter('kvKeys', [prefix], { key: prefix });
    return this.keys(prefix);
  }

  async kvPut(key: string, value: string, options: PutOptions = {}): Promise<boolean> {
    this.#enter('kvPut', [key, value, options], { key, value: this.#parsed(value) });
    const existing = this.#c.keys.get(key);
    if (options.cas !== undefined && (options.cas === 0 ? existing !== undefined : existing?.modifyIndex !== options.cas)) return false;
    if (options.acquire !== undefined) {
      if (!this.#c.sessions.has(options.acquire)) throw consulError(500, `invalid session "${options.acquire}"`);
      if (existing?.session && existing.session !== options.acquire) return false;
      if (!existing?.session && (this.#c.lockDelayUntil.get(key) ?? 0) > Date.now()) return false;
    }
    if (options.release !== undefined && existing?.session !== options.release) return false;
    const index = ++this.#c.index;
    const session = options.acquire ?? (options.release !== undefined ? undefined : existing?.session);
    const lockIndex = (existing?.lockIndex ?? 0) + (options.acquire !== undefined && existing?.session !== options.acquire ? 1 : 0);
    this.#c.keys.set(key, { value, createIndex: existing?.createIndex ?? index, modifyIndex: index, lockIndex, ...(session ? { session } : {}) });
    return true;
  }

  async txn(ops: readonly TxnOp[]): Promise<void> {
    this.#enter('txn', [ops]);
    if (ops.length === 0) return;
    const refused = ops.map((op, i) => {
      if (op.verb !== 'cas' && op.verb !== 'delete-cas') return undefined;
      const current = this.#c.keys.get(op.key)?.modifyIndex;
      return (op.index === 0 ? current === undefined : current === op.index) ? undefined : `${op.key}: operation ${i}: current modify index ${current ?? 'none'} != ${op.index}`;
    }).filter((x) => x !== undefined);
    if (refused.length > 0) throw new TxnRefusedError(`Consul refused the transaction: ${refused.join('; ')}`);
    for (const op of ops) {
      if (op.verb === 'delete' || op.verb === 'delete-cas') this.#c.keys.delete(op.key);
      else {
        const existing = this.#c.keys.get(op.key);
        const index = ++this.#c.index;
        this.#c.keys.set(op.key, { value: op.value, createIndex: existing?.createIndex ?? index, modifyIndex: index, lockIndex: existing?.lockIndex ?? 0, ...(existing?.session ? { session: existing.session } : {}) });
      }
    }
  }

  async kvDelete(key: string, cas?: number): Promise<boolean> {
    this.#enter('kvDelete', [key, cas], { key });
    if (cas !== undefined && this.#c.keys.get(key)?.modifyIndex !== cas) return false;
    this.#c.keys.delete(key);
    return true;
  }

  async sessionCreate(options: { name: string; ttl: string; lockDelay: string; nodeChecks: readonly string[]; behavior: 'release' | 'delete' }): Promise<string> {
    this.#enter('sessionCreate', [options]);
    // Consul refuses a session tied to a check that is not passing.
    const self = this.nodes.get(this.self);
    if (options.nodeChecks.includes('serfHealth') && self?.serfHealth !== 'passing') throw consulError(500, `Check 'serfHealth' is in ${self?.serfHealth ?? 'missing'} state`);
    const id = `00000000-0000-4000-8000-${String(++this.#c.ids).padStart(12, '0')}`;
    this.#c.sessions.set(id, { id, node: this.self, name: options.name, ttl: options.ttl, lockDelayMs: durationMs(options.lockDelay), behavior: options.behavior });
    return id;
  }

  async sessionRenew(id: string): Promise<boolean> {
    this.#enter('sessionRenew', [id]);
    return this.#c.sessions.has(id);
  }

  async sessionDestroy(id: string): Promise<void> {
    this.#enter('sessionDestroy', [id]);
    this.invalidateSession(id);
  }

  async sessionInfo(id: string): Promise<SessionInfo | undefined> {
    this.#enter('sessionInfo', [id]);
    const s = this.#c.sessions.get(id);
    return s ? { ID: s.id, Node: s.node, Name: s.name, TTL: s.ttl } : undefined;
  }

  async eventFire(name: string, payload: string, nodeFilter?: string): Promise<string> {
    this.#enter('eventFire', [name, payload, nodeFilter]);
    const id = `event-${this.events.length + 1}`;
    this.events.push({ name, payload, ...(nodeFilter ? { node: nodeFilter } : {}), id });
    return id;
  }

  async agentMembers(): Promise<AgentMember[]> {
    this.#enter('agentMembers', []);
    return [...this.nodes].map(([name, n]) => ({ Name: name, Addr: n.address ?? '127.0.0.1', Port: 8301 }));
  }

  async agentJoin(address: string): Promise<void> {
    this.#enter('agentJoin', [address]);
    this.joins.push(address);
  }
}
