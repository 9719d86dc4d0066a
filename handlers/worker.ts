/**
 * A recovery worker, started by the watch handler or the periodic check for one host: it works
 * that host, then this controller's worker queue (lib/recovery/worker-pool.ts).
 */
import { EXIT, runHandler } from '../lib/shared/handler.js';
import { controllerEffects } from '../lib/recovery/controller-effects.js';
import { createRuntime } from '../lib/recovery/runtime.js';
import { observerFromAgent } from '../lib/recovery/spawn-worker.js';
import { workQueue } from '../lib/recovery/worker-pool.js';
import { WorkerQueue } from '../lib/recovery/worker-queue.js';

void runHandler('worker', 'handler', ['host', 'observer-started-at'], async ({ config, args }) => {
  const host = args['host'];
  if (!host) throw new Error('--host is required');
  const runtime = createRuntime(config, 'worker', undefined);
  const queue = new WorkerQueue(runtime.stateDir, config.policy.max_workers);
  const run = await workQueue(runtime, controllerEffects(runtime), queue, observerFromAgent(runtime.node, args['observer-started-at']), host);
  return [...run.hosts.values()].includes('lost') ? EXIT.error : EXIT.ok;
});
