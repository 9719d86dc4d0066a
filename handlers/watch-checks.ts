/**
 * Consul `checks` watch handler (controllers, one watch per network's agent). Consul runs it on
 * every health transition with the cluster's checks on stdin and waits for it, so it only
 * evaluates and hands recovery to workers. The stdin is the local agent's view: it triggers the
 * evaluation, which reads every cluster's leader itself.
 */
import { evaluate } from '../lib/recovery/evaluate.js';
import { EXIT, readStdin, runHandler } from '../lib/shared/handler.js';
import { NETWORKS } from '../lib/decision/model.js';
import { createRuntime } from '../lib/recovery/runtime.js';
import { observerFromAgent, workerDispatcher } from '../lib/recovery/spawn-worker.js';
import { WorkerQueue } from '../lib/recovery/worker-queue.js';
import { parseWatchChecks } from '../lib/systems/consul/watch-input.js';

void runHandler('watch-checks', 'handler', ['network'], async ({ config, configFile, args }) => {
  const runtime = createRuntime(config, 'watch-checks');
  const network = args['network'];
  if (!network || !(NETWORKS as readonly string[]).includes(network)) {
    runtime.logger.error('bad-arguments', { error: `--network must be one of ${NETWORKS.join(', ')}, found ${network ?? 'nothing'}`, fix: 'fix the watch in the agent config (install.sh renders it)' });
    return EXIT.badInput;
  }
  const parsed = parseWatchChecks(await readStdin());
  if (!parsed.ok) {
    runtime.logger.error('bad-watch-input', { network, error: parsed.error, fix: 'nothing done; Consul calls again on the next change' });
    return EXIT.badInput;
  }
  const observer = observerFromAgent(runtime.node);
  const started = Date.now();
  const result = await evaluate(runtime, observer, workerDispatcher(configFile, observer, new WorkerQueue(runtime.stateDir, config.policy.max_workers)), `watch:${network}`);
  runtime.logger.info('watch-evaluated', { network, checks: parsed.checks.length, hosts: result.hosts.length, queued: result.workersQueued.length, workers: result.workersStarted, ms: Date.now() - started, ...(result.errors.length ? { errors: result.errors } : {}) });
  await runtime.notifier.flush(2000);
  // Records that did not land are an error Consul logs (invariant 13); the evaluate check shows them too.
  return result.recordsLost > 0 ? EXIT.error : EXIT.ok;
});
