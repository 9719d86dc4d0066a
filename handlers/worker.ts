/** A recovery worker, started by the watch handler or the periodic check: it works this controller's worker queue. */
import { EXIT, runHandler } from '../lib/shared/handler.js';
import { controllerEffects } from '../lib/recovery/controller-effects.js';
import { createRuntime } from '../lib/recovery/runtime.js';
import { observerFromAgent } from '../lib/recovery/spawn-worker.js';
import { workQueue } from '../lib/recovery/worker-pool.js';
import { WorkerQueue } from '../lib/recovery/worker-queue.js';

await runHandler('worker', 'handler', ['observer-started-at'], async ({ config, args }) => {
  const runtime = createRuntime(config, 'worker', undefined);
  const queue = new WorkerQueue(runtime.stateDir, config.policy.max_workers);
  const run = await workQueue(runtime, controllerEffects(runtime), queue, observerFromAgent(runtime.node, args['observer-started-at']));
  return [...run.hosts.values()].includes('lost') ? EXIT.error : EXIT.ok;
});
