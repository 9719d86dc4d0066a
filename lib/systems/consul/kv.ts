/** JSON documents in Consul KV under nova-ha's prefix, with check-and-set updates and batched writes. */
import pRetry, { AbortError } from 'p-retry';
import { mapLimit } from '../../shared/pool.js';
import { TXN_MAX_OPS, TxnRefusedError, type ConsulApi, type KvEntry, type TxnOp } from './api.js';
import { describeConsulError } from './connect.js';

export interface Versioned<T> {
  readonly value: T;
  /** The key's ModifyIndex: pass it back as cas to write only if nobody wrote in between. */
  readonly index: number;
  readonly session?: string;
}

export class KvConflictError extends Error {
  override name = 'KvConflictError';
}

/** Some writes of a batch were not applied after their retries: nothing may treat them as written. */
export class KvWriteError extends Error {
  override name = 'KvWriteError';
  constructor(readonly failed: number, readonly total: number, readonly reasons: readonly string[]) {
    super(`${failed} of ${total} KV writes failed after retries (${reasons.slice(0, 3).join('; ')}${reasons.length > 3 ? '; ...' : ''})`);
  }
}

/** A document to write, or (value undefined) a key to delete. */
export interface KvChange {
  readonly key: string;
  readonly value: unknown;
  /** Write (or delete) only if the key's ModifyIndex is still this (0: only if absent). */
  readonly cas?: number;
}

export interface BatchOptions {
  /** Transactions in flight at once: Consul counts every open connection of a client against http_max_conns_per_client (200). */
  readonly concurrency?: number;
  /** Attempts per transaction for transport failures (a refused check-and-set is not retried). */
  readonly attempts?: number;
  readonly minBackoffMs?: number;
}

export class JsonKv {
  constructor(readonly api: ConsulApi, readonly prefix: string) {}

  key(...parts: string[]): string {
    return [this.prefix, ...parts].join('/');
  }

  async read<T>(key: string): Promise<Versioned<T> | undefined> {
    const entry = await this.api.kvGet(key);
    return entry ? parse<T>(entry) : undefined;
  }

  /** Every document under a folder, by the rest of its key. */
  async tree<T>(folder: string): Promise<Map<string, Versioned<T>>> {
    const out = new Map<string, Versioned<T>>();
    await this.eachUnder(folder, (name, entry) => {
      const parsed = parse<T>(entry);
      if (parsed) out.set(name, parsed);
    });
    return out;
  }

  /** Every document's value under a folder, by the rest of its key: tree without the versions, for reads of every host. */
  async values<T>(folder: string): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    await this.eachUnder(folder, (name, entry) => {
      const value = parseValue<T>(entry.Value!);
      if (value !== undefined) out.set(name, value);
    });
    return out;
  }

  private async eachUnder(folder: string, visit: (name: string, entry: KvEntry) => void): Promise<void> {
    const base = `${folder.replace(/\/$/, '')}/`;
    for (const entry of await this.api.kvTree(base)) {
      if (entry.Value === null || entry.Key.endsWith('/')) continue;
      visit(entry.Key.slice(base.length), entry);
    }
  }

  /** The names of the documents directly or deeper under a folder, by the rest of their key. */
  async keys(folder: string): Promise<string[]> {
    const base = `${folder.replace(/\/$/, '')}/`;
    return (await this.api.kvKeys(base)).filter((k) => !k.endsWith('/')).map((k) => k.slice(base.length));
  }

  write(key: string, value: unknown, cas?: number): Promise<boolean> {
    return this.api.kvPut(key, JSON.stringify(value), cas === undefined ? {} : { cas });
  }

  /**
   * Many changes at once, packed into Consul transactions of at most TXN_MAX_OPS operations
   * (each atomic), a few in flight, each retried with backoff on transport failures. Resolves
   * only when every change landed; otherwise throws KvWriteError with the count that did not.
   */
  async writeAll(changes: readonly KvChange[], options: BatchOptions = {}): Promise<void> {
    const ops = changes.map(toOp);
    const batches: TxnOp[][] = [];
    for (let i = 0; i < ops.length; i += TXN_MAX_OPS) batches.push(ops.slice(i, i + TXN_MAX_OPS));
    const reasons: string[] = [];
    let failed = 0;
    await mapLimit(batches, options.concurrency ?? 4, async (batch) => {
      try {
        await pRetry(async () => {
          try {
            await this.api.txn(batch);
          } catch (error) {
            if (error instanceof TxnRefusedError || error instanceof RangeError) throw new AbortError(error);
            throw error;
          }
        }, { retries: (options.attempts ?? 4) - 1, minTimeout: options.minBackoffMs ?? 200, factor: 2, randomize: true });
      } catch (error) {
        failed += batch.length;
        reasons.push(error instanceof TxnRefusedError ? error.message : describeConsulError(error));
      }
    });
    if (failed > 0) throw new KvWriteError(failed, ops.length, reasons);
  }

  delete(key: string, cas?: number): Promise<boolean> {
    return this.api.kvDelete(key, cas);
  }

  /**
   * Read-modify-write with check-and-set, retried when another writer got in between.
   * `change` returns the new value, or undefined (or the very object it was given) to leave the
   * document as it is: no write.
   */
  async update<T>(key: string, change: (current: T | undefined) => T | undefined, attempts = 8): Promise<T | undefined> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const current = await this.read<T>(key);
      const next = change(current?.value);
      if (next === undefined || (current !== undefined && next === current.value)) return current?.value;
      if (await this.write(key, next, current?.index ?? 0)) return next;
    }
    throw new KvConflictError(`${key}: still changing after ${attempts} check-and-set attempts; another writer keeps racing`);
  }
}

function toOp(change: KvChange): TxnOp {
  if (change.value === undefined) return change.cas === undefined ? { verb: 'delete', key: change.key } : { verb: 'delete-cas', key: change.key, index: change.cas };
  const value = JSON.stringify(change.value);
  return change.cas === undefined ? { verb: 'set', key: change.key, value } : { verb: 'cas', key: change.key, value, index: change.cas };
}

function parse<T>(entry: KvEntry): Versioned<T> | undefined {
  if (entry.Value === null) return undefined;
  const value = parseValue<T>(entry.Value);
  return value === undefined ? undefined : { value, index: entry.ModifyIndex, ...(entry.Session ? { session: entry.Session } : {}) };
}

function parseValue<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    // A value that is not ours (someone wrote by hand): treat as absent rather than crash the handler.
    return undefined;
  }
}
