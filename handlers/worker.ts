/** A recovery worker for one host, started by the watch handler or the periodic check. */
import { EXIT, runHandler } from '../lib/handler.js';
import { handsFor } from '../lib/hands-for.js';
import { createRuntime } from '../lib/runtime.js';
import { observerFromAgent } from '../lib/spawn-worker.js';
import { runWorker } from '../lib/workflow.js';

await runHandler('worker', 'handler', ['host', 'observer-started-at'], async ({ config, args }) => {
  const host = args['host'];
  if (!host) throw new Error('--host is required');
  const runtime = createRuntime(config, 'worker', undefined);
  const outcome = await runWorker(runtime, handsFor(runtime), host, observerFromAgent(runtime.node, args['observer-started-at']));
  return outcome === 'lost' ? EXIT.error : EXIT.ok;
});
