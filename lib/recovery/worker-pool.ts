/**
 * One worker process of this controller: it holds one of the [policy] max_workers slots, works
 * the host it was started for, then the queue, most urgent host first, one host at a time, until
 * the queue is empty. Without a free slot it leaves its host queued for the workers that hold
 * them (a host that was not queued is queued again by the next evaluation if it still needs a
 * worker). After
 * giving its slot back it looks at the queue once more: an evaluation that queued a host just
 * then may have found every slot taken and started no worker for it.
 */
import type { Observer } from '../decision/observation.js';
import type { Effects } from './effects.js';
import type { Runtime } from './runtime.js';
import { runWorker, type WorkerOutcome } from './worker.js';
import type { WorkerQueue } from './worker-queue.js';

export interface PoolRun {
  readonly hosts: ReadonlyMap<string, WorkerOutcome>;
  /** False when every slot was taken: another worker works the queue. */
  readonly gotSlot: boolean;
}

export async function workQueue(runtime: Runtime, effects: Effects, queue: WorkerQueue, observer: Observer, first: string, work = runWorker): Promise<PoolRun> {
  const hosts = new Map<string, WorkerOutcome>();
  let gotSlot = false;
  let next: string | undefined = first;
  for (;;) {
    const slot = queue.claimSlot();
    if (!slot) {
      if (next !== undefined) runtime.logger.info('worker-queued', { host: next, detail: `all ${queue.slots.size} worker slots ([policy] max_workers) are busy: the host waits in the queue for the workers that hold them` });
      break;
    }
    gotSlot = true;
    try {
      if (next !== undefined) queue.takeHost(next);
      for (let host = next ?? queue.take(); host !== undefined; host = queue.take()) {
        const outcome = await work(runtime, effects, host, observer);
        hosts.set(host, outcome);
        runtime.logger.debug('worker-host-done', { host, outcome, slot: slot.slot });
      }
      next = undefined;
    } finally {
      slot.release();
    }
    if (queue.length === 0) break;
  }
  // Alerts go out in the background while hosts are worked; a failing mail server holds up only the exit.
  await runtime.notifier.flush(runtime.config.notifications.retry_for);
  return { hosts, gotSlot };
}
