/**
 * A typed facade over the `consul` npm client, limited to what nova-ha uses. The package's
 * typings lack options the API accepts (consistent, filter, index...), so the loose calls are
 * confined to this file.
 */
import { EventEmitter } from 'node:events';
import type { ConsulClient } from './connect.js';

export interface CatalogNode {
  readonly Node: string;
  readonly Address: string;
  readonly Meta?: Readonly<Record<string, string>> | null;
}

export interface HealthCheck {
  readonly Node: string;
  readonly CheckID: string;
  readonly Name: string;
  readonly Status: string;
  readonly Output: string;
  readonly ServiceID?: string;
}

export interface AgentMember {
  readonly Name: string;
  readonly Addr: string;
  readonly Port: number;
  /** role "consul" marks a server, whose RPC port is port. */
  readonly Tags?: Readonly<Record<string, string>>;
  /** Serf's member status: 1 alive, 2 leaving, 3 left, 4 failed. */
  readonly Status?: number;
}

export interface KvEntry {
  readonly Key: string;
  readonly Value: string | null;
  readonly ModifyIndex: number;
  readonly CreateIndex: number;
  readonly LockIndex: number;
  readonly Session?: string;
}

export interface SessionInfo {
  readonly ID: string;
  readonly Node: string;
  readonly Name: string;
  readonly TTL: string;
}

export interface PutOptions {
  /** Write only if the key's ModifyIndex is this (0: only if absent). */
  readonly cas?: number;
  readonly acquire?: string;
  readonly release?: string;
}

/** One operation of a Consul transaction (/v1/txn): the KV verbs nova-ha uses. */
export type TxnOp =
  | { readonly verb: 'set'; readonly key: string; readonly value: string }
  | { readonly verb: 'cas'; readonly key: string; readonly value: string; readonly index: number }
  | { readonly verb: 'delete'; readonly key: string }
  | { readonly verb: 'delete-cas'; readonly key: string; readonly index: number };

/** Consul 1.8 refuses a transaction of more operations than this. */
export const TXN_MAX_OPS = 64;

export class TxnRefusedError extends Error {
  override name = 'TxnRefusedError';
}

/** The entries with their values decoded from base64, each dropped from the list once handed out. */
function* decodedOneByOne(entries: (KvEntry | undefined)[]): Generator<KvEntry> {
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    entries[i] = undefined;
    yield typeof entry.Value === 'string' ? { ...entry, Value: Buffer.from(entry.Value, 'base64').toString('utf8') } : entry;
  }
}

type Loose = (options: Record<string, unknown>) => Promise<unknown>;
const loose = (fn: unknown, self: unknown): Loose => (fn as Loose).bind(self);

export class ConsulApi {
  constructor(readonly client: ConsulClient) {}

  catalogNodes(filter?: string): Promise<CatalogNode[]> {
    return loose(this.client.catalog.node.list, this.client.catalog.node)({ consistent: true, ...(filter ? { filter } : {}) }) as Promise<CatalogNode[]>;
  }

  /**
   * Checks of every node in the cluster, in any state, from the leader; filter and nodeMeta
   * ("key:value", nodes carrying that meta only) are applied by Consul, so only what matches travels.
   */
  healthChecks(filter?: string, nodeMeta?: string): Promise<HealthCheck[]> {
    return loose(this.client.health.state, this.client.health)({ state: 'any', consistent: true, ...(filter ? { filter } : {}), ...(nodeMeta ? { 'node-meta': nodeMeta } : {}) }) as Promise<HealthCheck[]>;
  }

  /**
   * One node's checks from the leader, with the index to block on. With `index`, a blocking query:
   * Consul answers when the node's checks change or after `waitMs`; `cancel` (an emitter) ends it early.
   */
  async healthNodeIndexed(node: string, options: { index?: number; waitMs?: number; cancel?: EventEmitter } = {}): Promise<{ checks: HealthCheck[]; index: number }> {
    const ctx = Object.assign(options.cancel ?? new EventEmitter(), { includeResponse: true });
    const blocking = options.index !== undefined ? { index: options.index, wait: `${Math.max(1, Math.round((options.waitMs ?? 10_000) / 1000))}s`, timeout: (options.waitMs ?? 10_000) + 15_000 } : {};
    const [res, body] = (await loose(this.client.health.node, this.client.health)({ node, consistent: true, ctx, ...blocking })) as [{ headers: Record<string, string | undefined> }, HealthCheck[] | null];
    return { checks: body ?? [], index: Number(res.headers['x-consul-index'] ?? 0) };
  }

  async kvGet(key: string): Promise<KvEntry | undefined> {
    const entry = (await loose(this.client.kv.get, this.client.kv)({ key, consistent: true })) as KvEntry | null | undefined;
    return entry ?? undefined;
  }

  /**
   * Every entry under a prefix, from the leader. The body is taken as Consul sent it (raw: Consul
   * applies raw to single-key reads only, so a recursive read still answers a JSON list) and each
   * value is decoded from base64 as the caller reaches it: at 10,000 hosts the decoded values of
   * a prefix do not all sit in memory at once beside the ones already parsed.
   */
  async kvTree(prefix: string): Promise<Iterable<KvEntry>> {
    const body = (await loose(this.client.kv.get, this.client.kv)({ key: prefix, recurse: true, consistent: true, raw: true })) as Buffer | null | undefined;
    if (!body || body.length === 0) return [];
    const entries = JSON.parse(body.toString('utf8')) as unknown;
    if (!Array.isArray(entries)) throw new Error(`Consul answered a read of ${prefix} with no list of entries`);
    return decodedOneByOne(entries as (KvEntry | undefined)[]);
  }

  /** The keys under a prefix (no values), from the leader. */
  async kvKeys(prefix: string): Promise<string[]> {
    try {
      return ((await loose(this.client.kv.keys, this.client.kv)({ key: prefix, consistent: true })) as string[] | null) ?? [];
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return [];
      throw error;
    }
  }

  /** True when written; false when a cas or acquire condition failed. */
  async kvPut(key: string, value: string, options: PutOptions = {}): Promise<boolean> {
    return (await loose(this.client.kv.set, this.client.kv)({ key, value, ...options })) as boolean;
  }

  /**
   * Applies up to TXN_MAX_OPS operations atomically: all or none. A refused transaction (a cas
   * that did not match) throws TxnRefusedError with Consul's reasons; other failures throw as they come.
   */
  async txn(ops: readonly TxnOp[]): Promise<void> {
    if (ops.length === 0) return;
    if (ops.length > TXN_MAX_OPS) throw new RangeError(`a Consul transaction takes at most ${TXN_MAX_OPS} operations, not ${ops.length}`);
    const body = ops.map((op) => ({
      KV: {
        Verb: op.verb,
        Key: op.key,
        ...('value' in op ? { Value: Buffer.from(op.value).toString('base64') } : {}),
        ...('index' in op ? { Index: op.index } : {}),
      },
    }));
    try {
      await this.client.transaction.create(body as never);
    } catch (error) {
      const e = error as { statusCode?: number; response?: { body?: { Errors?: { OpIndex: number; What: string }[] } } };
      if (e.statusCode === 409) {
        const why = e.response?.body?.Errors?.map((x) => `${ops[x.OpIndex]?.key ?? `operation ${x.OpIndex}`}: ${x.What}`).join('; ');
        throw new TxnRefusedError(`Consul refused the transaction${why ? `: ${why}` : ''}`);
      }
      throw error;
    }
  }

  async kvDelete(key: string, cas?: number): Promise<boolean> {
    return (await loose(this.client.kv.del, this.client.kv)({ key, ...(cas === undefined ? {} : { cas }) })) as boolean;
  }

  async sessionCreate(options: { name: string; ttl: string; lockDelay: string; nodeChecks: readonly string[]; behavior: 'release' | 'delete' }): Promise<string> {
    const result = (await loose(this.client.session.create, this.client.session)({ name: options.name, ttl: options.ttl, lockdelay: options.lockDelay, checks: options.nodeChecks, behavior: options.behavior })) as { ID: string };
    return result.ID;
  }

  /** False when the session no longer exists (expired or invalidated). */
  async sessionRenew(id: string): Promise<boolean> {
    try {
      const result = (await loose(this.client.session.renew, this.client.session)({ id })) as unknown[] | null;
      return Array.isArray(result) && result.length > 0;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return false;
      throw error;
    }
  }

  async sessionDestroy(id: string): Promise<void> {
    await loose(this.client.session.destroy, this.client.session)({ id });
  }

  async sessionInfo(id: string): Promise<SessionInfo | undefined> {
    const result = (await loose(this.client.session.info, this.client.session)({ id, consistent: true })) as SessionInfo | SessionInfo[] | null;
    return (Array.isArray(result) ? result[0] : result) ?? undefined;
  }

  async eventFire(name: string, payload: string, nodeFilter?: string): Promise<string> {
    const result = (await loose(this.client.event.fire, this.client.event)({ name, payload, ...(nodeFilter ? { node: nodeFilter } : {}) })) as { ID: string };
    return result.ID;
  }

  /** One node's checks, from the leader (a consistent read). */
  healthNode(node: string): Promise<HealthCheck[]> {
    return loose(this.client.health.node, this.client.health)({ node, consistent: true }) as Promise<HealthCheck[]>;
  }

  /** The checks this agent runs itself, as it last ran them (no leader needed). */
  async agentChecks(): Promise<Map<string, string>> {
    const checks = (await loose(this.client.agent.check.list, this.client.agent.check)({})) as Record<string, { Status: string }>;
    return new Map(Object.entries(checks).map(([id, c]) => [id, c.Status]));
  }

  /** Sets a TTL check of this agent: passing, warning or critical, with its output. */
  async ttlCheck(id: string, status: 'passing' | 'warning' | 'critical', output: string): Promise<void> {
    const check = this.client.agent.check;
    const call = status === 'passing' ? check.pass : status === 'warning' ? check.warn : check.fail;
    await loose(call, check)({ id, note: output });
  }

  /** This agent's own member list: its gossip view, for addresses only, never for states. */
  agentMembers(): Promise<AgentMember[]> {
    return loose(this.client.agent.members, this.client.agent)({}) as Promise<AgentMember[]>;
  }

  /** Asks this agent to join the member at address ("host:port"); fails when it cannot reach it. */
  async agentJoin(address: string): Promise<void> {
    await loose(this.client.agent.join, this.client.agent)({ address });
  }
}
