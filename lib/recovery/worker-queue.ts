/**
 * The hosts waiting for a worker on this controller, and the cap on workers running at once
 * ([policy] max_workers): a mass failure must not start a process per failed host. An evaluation
 * queues every host that needs a worker, most urgent first, and starts workers only for free
 * slots, each for one of the most urgent queued hosts; a worker takes that host, then the most
 * urgent queued host, and the next when it is done, until the queue is empty. The queue is one
 * file per host in the state dir; a worker takes an entry by unlinking it, which only one process
 * can do.
 */
import { mkdirSync, readdirSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FENCE_PHASES } from '../decision/model.js';
import type { Decision } from '../decision/policy.js';
import type { Incident } from '../state/incident.js';
import { Slots, type HeldSlot } from '../shared/slots.js';

export interface QueuedHost {
  readonly host: string;
  /** 0 most urgent (urgency()). */
  readonly urgency: number;
}

/**
 * How urgent a worker for this decision is: a fence under way first (instances are down until it
 * ends), then new fences, repairs, closing recovered incidents, confirming failures, draining, and
 * last recording holds and alerts.
 */
export function urgency(decision: Decision, incident: Incident | undefined): number {
  switch (decision.action) {
    case 'fence':
      return incident && (incident.fenceStarted || FENCE_PHASES.includes(incident.phase)) ? 0 : 1;
    case 'repair':
      return 2;
    case 'close':
      return 3;
    case 'wait':
      return 4;
    case 'drain':
      return 5;
    default:
      return 6;
  }
}

/** Entries older than this were queued by evaluations long past: the next evaluation queues what is still needed. */
const STALE_MS = 5 * 60_000;

export class WorkerQueue {
  readonly slots: Slots;
  private readonly dir: string;

  constructor(stateDir: string, maxWorkers: number, private readonly now: () => number = Date.now) {
    this.dir = join(stateDir, 'workers', 'queue');
    this.slots = new Slots(join(stateDir, 'workers', 'slots'), maxWorkers);
  }

  private entries(): { name: string; host: string }[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names.filter((n) => /^\d-/.test(n)).sort().map((name) => ({ name, host: decodeURIComponent(name.slice(2)) }));
  }

  /** Queues the hosts at their urgency (a host queued already moves to it); returns the queue's length. */
  enqueue(hosts: readonly QueuedHost[]): number {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const existing = new Map(this.entries().map((e) => [e.host, e.name]));
    const at = new Date(this.now());
    for (const { host, urgency } of hosts) {
      const name = `${Math.max(0, Math.min(9, urgency))}-${encodeURIComponent(host)}`;
      const old = existing.get(host);
      if (old && old !== name) remove(join(this.dir, old));
      // Written again even when present: a worker may have taken it since it was listed.
      writeFileSync(join(this.dir, name), '', { mode: 0o600 });
      utimesSync(join(this.dir, name), at, at);
      existing.set(host, name);
    }
    return existing.size;
  }

  /** The most urgent queued hosts, at most count, left in the queue. */
  peek(count: number): string[] {
    return this.entries().slice(0, Math.max(0, count)).map((e) => e.host);
  }

  /** Takes this host out of the queue; false when it was not queued (or another worker took it). */
  takeHost(host: string): boolean {
    const entry = this.entries().find((e) => e.host === host);
    return entry !== undefined && remove(join(this.dir, entry.name));
  }

  /** Takes the most urgent queued host, or undefined when none is left. */
  take(): string | undefined {
    for (const { name, host } of this.entries()) {
      const path = join(this.dir, name);
      let stale: boolean;
      try {
        stale = this.now() - statSync(path).mtimeMs > STALE_MS;
      } catch {
        continue;
      }
      // Unlinking is the claim: of two workers, one succeeds.
      if (!remove(path) || stale) continue;
      return host;
    }
    return undefined;
  }

  get length(): number {
    return this.entries().length;
  }

  /** Workers that could start now without passing the cap. */
  freeSlots(): number {
    return Math.max(0, this.slots.size - this.slots.busy());
  }

  claimSlot(): HeldSlot | undefined {
    return this.slots.claim();
  }
}

function remove(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}
