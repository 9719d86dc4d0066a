/**
 * The controllers' periodic script check: re-evaluates every host (watches can miss transitions
 * while a cluster changes leader), resumes incidents whose worker died, and shows the overall
 * state as its status: passing all healthy, warning incidents open, critical held for an operator.
 */
import { checkStatus, evaluate } from '../lib/evaluate.js';
import { runHandler } from '../lib/handler.js';
import { createRuntime } from '../lib/runtime.js';
import { observerFromAgent, workerSpawner } from '../lib/spawn-worker.js';

await runHandler('evaluate', [], async ({ config, configFile }) => {
  const runtime = createRuntime(config, 'evaluate');
  const observer = observerFromAgent(runtime.node);
  const result = await evaluate(runtime, observer, workerSpawner(configFile, observer), 'periodic');
  const status = checkStatus(result);
  console.log(status.output.slice(0, 3500));
  await runtime.notifier.flush(2000);
  return status.code;
});
