/**
 * "The same event of the same incident (or, without one, of the same host) is sent once within
 * dedupe_window", across the short-lived handler processes of up to three controllers: they
 * share nothing but a store. A later incident of the same host is news again.
 */
import type { Notification } from './notification.js';

export interface DedupeStore {
  /**
   * Atomically claims key for windowMs: true means the caller is the one to send; false means
   * someone claimed it less than windowMs ago (and is sending, or has sent).
   */
  claim(key: string, windowMs: number): Promise<boolean>;
  /**
   * Gives up this store's claim on key, because nothing could be sent: the next notification
   * for the key goes out instead of being suppressed for a window in which no one was told.
   */
  release(key: string): Promise<void>;
}

export function dedupeKey(n: Pick<Notification, 'host' | 'event' | 'incidentId' | 'occurrence'>): string {
  const occurrence = n.occurrence ?? n.incidentId;
  return occurrence ? `${n.host}/${n.event}/${occurrence}` : `${n.host}/${n.event}`;
}

/** Within one process only: for tests, and tools that run once. */
export class MemoryDedupeStore implements DedupeStore {
  readonly #claimedAt = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  async claim(key: string, windowMs: number): Promise<boolean> {
    const at = this.#claimedAt.get(key);
    const now = this.now();
    if (at !== undefined && now - at < windowMs) return false;
    this.#claimedAt.set(key, now);
    return true;
  }

  async release(key: string): Promise<void> {
    this.#claimedAt.delete(key);
  }
}
