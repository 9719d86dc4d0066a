/**
 * Notification dedupe shared by every controller: a claim is a KV key written with
 * check-and-set, so of several handlers that want to send the same alert, one wins.
 */
import { createHash } from 'node:crypto';
import type { DedupeStore } from '../systems/notify/index.js';
import { KEYS } from './records.js';
import type { JsonKv } from '../systems/consul/kv.js';

interface Claim {
  readonly key: string;
  readonly at: number;
  readonly by: string;
}

export class KvDedupeStore implements DedupeStore {
  readonly #claimed = new Map<string, number>();

  constructor(private readonly kv: JsonKv, private readonly node: string, private readonly now: () => number = Date.now) {}

  private path(key: string): string {
    return this.kv.key(KEYS.notify(createHash('sha256').update(key).digest('hex').slice(0, 32)));
  }

  async claim(key: string, windowMs: number): Promise<boolean> {
    const path = this.path(key);
    const current = await this.kv.read<Claim>(path);
    const now = this.now();
    if (current && now - current.value.at < windowMs) return false;
    const won = await this.kv.write(path, { key, at: now, by: this.node } satisfies Claim, current?.index ?? 0);
    if (won) {
      const written = await this.kv.read<Claim>(path);
      if (written) this.#claimed.set(key, written.index);
    }
    return won;
  }

  async release(key: string): Promise<void> {
    const index = this.#claimed.get(key);
    if (index === undefined) return;
    this.#claimed.delete(key);
    await this.kv.delete(this.path(key), index);
  }
}

/**
 * Deletes the claims older than maxAgeMs (their windows long over), so notify/ keeps the recent
 * alerts only, not one key per alert ever sent; returns how many went.
 */
export async function pruneKvDedupe(kv: JsonKv, maxAgeMs: number, now = Date.now()): Promise<number> {
  const claims = await kv.tree<Claim>(kv.key(KEYS.notifyAll));
  const old = [...claims].filter(([, c]) => typeof c.value.at !== 'number' || now - c.value.at > maxAgeMs).map(([name]) => name);
  await kv.writeAll(old.map((name) => ({ key: kv.key(KEYS.notify(name)), value: undefined })));
  return old.length;
}

/**
 * The KV store, and when it cannot answer within a moment (this controller cut off from the mgmt
 * leader, the very case an "observer isolated" alert is about), a store of this node's own: a
 * local dedupe is better than an email on every run, or none at all.
 */
export class FallbackDedupeStore implements DedupeStore {
  constructor(private readonly primary: DedupeStore, private readonly fallback: DedupeStore, private readonly waitMs = 1500) {}

  private within<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${this.waitMs} ms`)), this.waitMs)));
    return Promise.race([work, late]).finally(() => clearTimeout(timer));
  }

  async claim(key: string, windowMs: number): Promise<boolean> {
    try {
      return await this.within(this.primary.claim(key, windowMs));
    } catch {
      return this.fallback.claim(key, windowMs);
    }
  }

  async release(key: string): Promise<void> {
    await Promise.allSettled([this.within(this.primary.release(key)), this.fallback.release(key)]);
  }
}
