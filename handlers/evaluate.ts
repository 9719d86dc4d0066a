/**
 * The controllers' periodic script check: re-evaluates every host (watches can miss transitions
 * while a cluster changes leader), resumes incidents whose worker died, and shows the overall
 * state as its status: passing all healthy, warning incidents open, critical held for an operator.
 */
import { checkStatus, evaluate } from '../lib/recovery/evaluate.js';
import { printStatus, runHandler } from '../lib/shared/handler.js';
import { IncidentStore } from '../lib/state/incident-store.js';
import { createRuntime } from '../lib/recovery/runtime.js';
import { statusOf } from '../lib/operator/status.js';
import { observerFromAgent, workerDispatcher } from '../lib/recovery/spawn-worker.js';
import { WorkerQueue } from '../lib/recovery/worker-queue.js';
import { housekeeping } from '../lib/recovery/housekeeping.js';

void runHandler('evaluate', 'check', [], async ({ config, configFile }) => {
  const runtime = createRuntime(config, 'evaluate');
  const observer = observerFromAgent(runtime.node);
  const result = await evaluate(runtime, observer, workerDispatcher(configFile, observer, new WorkerQueue(runtime.stateDir, config.policy.max_workers)), 'periodic');
  const status = checkStatus(result);
  printStatus(status.output.slice(0, 3500));
  const textfile = config.metrics.textfile_path;
  if (textfile && result.incidents !== 'unknown') {
    try {
      // Loaded only where metrics are written: prom-client is not worth loading on every run elsewhere.
      const { renderMetrics, writeTextfile } = await import('../lib/operator/metrics.js');
      const closed = await new IncidentStore(runtime.kv).history();
      writeTextfile(textfile, await renderMetrics(statusOf(result.world, result.snapshot, runtime), [...result.incidents.values()], closed, runtime.stateDir));
    } catch (error) {
      runtime.logger.warn('metrics-failed', { file: textfile, error: (error as Error).message, fix: 'check that the directory is writable by the Consul agent\'s user' });
    }
  }
  await housekeeping(runtime);
  await runtime.notifier.flush(2000);
  return status.code;
});
