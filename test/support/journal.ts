/**
 * One ordered record of every call the fakes (Consul, Nova, the BMC) received, so a test can say
 * what nova-ha recorded before and after each call it made, and an order check that fails when a
 * step is missing (an indexOf of -1 is "before" everything).
 */
import { expect } from 'vitest';

export interface JournalEntry {
  /** Which fake: "consul:mgmt", "nova", "bmc". */
  readonly system: string;
  readonly method: string;
  readonly args: readonly unknown[];
  /** For Consul: whose agent was asked. */
  readonly agent?: string;
  /** For KV writes: the key and the parsed document written (undefined for a delete). */
  readonly key?: string;
  readonly value?: unknown;
}

export class Journal {
  readonly entries: JournalEntry[] = [];

  add(entry: JournalEntry): void {
    this.entries.push(entry);
  }

  /** Entries of one system (and method). */
  of(system: string, method?: string): JournalEntry[] {
    return this.entries.filter((e) => e.system === system && (method === undefined || e.method === method));
  }

  /** The position of the first entry that matches, or -1. */
  indexOf(match: (entry: JournalEntry) => boolean, from = 0): number {
    for (let i = from; i < this.entries.length; i++) if (match(this.entries[i]!)) return i;
    return -1;
  }
}

/**
 * Fails unless every item is present in `list` and each appears after the one before it (first
 * occurrences). Use it for ordered steps instead of indexOf(a) < indexOf(b), which passes when a
 * is missing.
 */
export function expectInOrder<T>(list: readonly T[], ...items: readonly T[]): void {
  let from = 0;
  for (const [n, item] of items.entries()) {
    const at = list.indexOf(item, from);
    expect(at, `${String(item)} ${list.includes(item) ? `is not after ${String(items[n - 1])}` : 'is missing'} in: ${list.map(String).join(', ')}`).toBeGreaterThanOrEqual(0);
    from = at + 1;
  }
}
