/** A recovery worker for one host, started by the watch handler or the periodic check. */
import { EXIT, runHandler } from '../lib/shared/handler.js';
import { controllerEffects } from '../lib/recovery/controller-effects.js';
import { createRuntime } from '../lib/recovery/runtime.js';
import { observerFromAgent } from '../lib/recovery/spawn-worker.js';
import { runWorker } from '../lib/recovery/worker.js';

void runHandler('worker', 'handler', ['host', 'observer-started-at'], async ({ config, args }) => {
  const host = args['host'];
  if (!host) throw new Error('--host is required');
  const runtime = createRuntime(config, 'worker', undefined);
  const outcome = await runWorker(runtime, controllerEffects(runtime), host, observerFromAgent(runtime.node, args['observer-started-at']));
  return outcome === 'lost' ? EXIT.error : EXIT.ok;
});
