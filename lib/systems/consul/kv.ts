/** JSON documents in Consul KV under nova-ha's prefix, with check-and-set updates. */
import type { ConsulApi, KvEntry } from './api.js';

export interface Versioned<T> {
  readonly value: T;
  /** The key's ModifyIndex: pass it back as cas to write only if nobody wrote in between. */
  readonly index: number;
  readonly session?: string;
}

export class KvConflictError extends Error {
  override name = 'KvConflictError';
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
    const base = `${folder.replace(/\/$/, '')}/`;
    const out = new Map<string, Versioned<T>>();
    for (const entry of await this.api.kvTree(base)) {
      if (entry.Value === null || entry.Key.endsWith('/')) continue;
      const parsed = parse<T>(entry);
      if (parsed) out.set(entry.Key.slice(base.length), parsed);
    }
    return out;
  }

  write(key: string, value: unknown, cas?: number): Promise<boolean> {
    return this.api.kvPut(key, JSON.stringify(value), cas === undefined ? {} : { cas });
  }

  delete(key: string, cas?: number): Promise<boolean> {
    return this.api.kvDelete(key, cas);
  }

  /**
   * Read-modify-write with check-and-set, retried when another writer got in between.
   * `change` returns the new value, or undefined to leave the document as it is.
   */
  async update<T>(key: string, change: (current: T | undefined) => T | undefined, attempts = 8): Promise<T | undefined> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const current = await this.read<T>(key);
      const next = change(current?.value);
      if (next === undefined) return current?.value;
      if (await this.write(key, next, current?.index ?? 0)) return next;
    }
    throw new KvConflictError(`${key}: still changing after ${attempts} check-and-set attempts; another writer keeps racing`);
  }
}

function parse<T>(entry: KvEntry): Versioned<T> | undefined {
  if (entry.Value === null) return undefined;
  try {
    return { value: JSON.parse(entry.Value) as T, index: entry.ModifyIndex, ...(entry.Session ? { session: entry.Session } : {}) };
  } catch {
    // A value that is not ours (someone wrote by hand): treat as absent rather than crash the handler.
    return undefined;
  }
}
