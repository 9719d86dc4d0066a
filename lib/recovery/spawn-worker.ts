/**
 * Hands hosts to worker processes that outlive the handler (Consul waits for handlers to exit):
 * the hosts go into this controller's worker queue, and workers start only for free slots, each
 * for one of the most urgent queued hosts (worker-queue.ts).
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import type { Observer } from '../decision/observation.js';
import { processStartedAt } from '../shared/proc.js';
import type { QueuedHost, WorkerQueue } from './worker-queue.js';

export interface Dispatched {
  /** Hosts waiting in the queue after this dispatch. */
  readonly queued: number;
  /** Worker processes started. */
  readonly started: number;
}

export type Dispatch = (hosts: readonly QueuedHost[]) => Dispatched;

export function workerDispatcher(configFile: string | undefined, observer: Observer, queue: WorkerQueue): Dispatch {
  return (hosts) => {
    const queued = queue.enqueue(hosts);
    const first = queue.peek(queue.freeSlots());
    for (const host of first) {
      const args = [siblingHandler('worker'), '--host', host, '--observer-started-at', String(observer.startedAt), ...(configFile ? ['--config', configFile] : [])];
      spawn(process.execPath, args, { detached: true, stdio: 'ignore' }).unref();
    }
    return { queued, started: first.length };
  };
}

/**
 * This controller as an observer. Consul starts handlers and checks itself, so the parent
 * process is the agent and its start time opens the quiet period.
 */
export function observerFromAgent(node: string, startedAtArg?: string): Observer {
  const given = startedAtArg === undefined ? Number.NaN : Number(startedAtArg);
  return { node, startedAt: Number.isFinite(given) ? given : (processStartedAt(process.ppid) ?? Date.now()) };
}

/** A compiled handler next to the running one (dist/handlers/NAME.js). */
export function siblingHandler(name: string): string {
  return join(dirname(process.argv[1]!), `${name}.js`);
}
