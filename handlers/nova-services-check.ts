/**
 * Controllers' script check: nova-compute of every host as Nova's API sees it, from one call to
 * the service list per interval, by one controller at a time (a poller lock), into one KV
 * document the evaluation reads. The API being unreachable, or no nova-scheduler up, is recorded
 * too: nothing is fenced while instances could not be evacuated.
 */
import { holdPollerLock } from '../lib/systems/consul/poller-lock.js';
import { EXIT, printStatus, runHandler } from '../lib/shared/handler.js';
import { NovaClient } from '../lib/systems/nova/index.js';
import { KEYS, novaServiceState, type NovaDoc, type NovaServiceState } from '../lib/state/records.js';
import { createRuntime } from '../lib/recovery/runtime.js';

void runHandler('nova-services-check', 'check', [], async ({ config }) => {
  const runtime = createRuntime(config, 'nova-services-check');
  const interval = config.nova.poll_interval;
  const lock = await holdPollerLock(runtime.clusters.mgmt, runtime.kv.key(KEYS.poller('nova')), 'nova', runtime.node, runtime.stateDir, Math.max(10, Math.ceil((3 * interval) / 1000)));
  if (!lock.held) {
    printStatus(`OK: standby, ${lock.holder} reads Nova's service list`);
    return EXIT.ok;
  }
  const key = runtime.kv.key(KEYS.nova);
  const previous = (await runtime.kv.read<NovaDoc>(key))?.value;
  const now = Date.now();
  const nova = NovaClient.fromConfig(config, { logger: runtime.logger, retry: { retries: 1 } });
  let doc: NovaDoc;
  try {
    const services = await nova.listServices();
    const computes = services.filter((s) => s.binary === 'nova-compute');
    const schedulersUp = services.some((s) => s.binary === 'nova-scheduler' && s.state === 'up' && s.status === 'enabled');
    doc = {
      at: Date.now(),
      by: runtime.node,
      api: 'up',
      schedulers: schedulersUp ? 'up' : 'down',
      hosts: Object.fromEntries(computes.map((s): [string, NovaServiceState] => {
        const before = previous?.hosts[s.host];
        return [s.host, novaServiceState(s, before && before.state === s.state ? before.since : now)];
      })),
    };
  } catch (error) {
    // Written anyway: "the API does not answer" is itself what the evaluation must know.
    doc = { at: Date.now(), by: runtime.node, api: 'down', schedulers: 'unknown', hosts: {}, error: (error as Error).message };
  }
  await runtime.kv.write(key, doc);
  if (doc.api !== 'up') {
    printStatus(`CRITICAL: Nova's API does not answer: ${doc.error}`);
    return EXIT.critical;
  }
  const down = Object.entries(doc.hosts).filter(([, s]) => s.state === 'down').map(([h, s]) => `${h}${s.forcedDown ? ' (forced down)' : ''}`);
  if (doc.schedulers !== 'up') {
    printStatus(`CRITICAL: no nova-scheduler is up: nothing could be evacuated${down.length ? `; nova-compute down: ${down.join(', ')}` : ''}`);
    return EXIT.critical;
  }
  if (down.length > 0) {
    printStatus(`WARNING: nova-compute down in Nova: ${down.join(', ')} (of ${Object.keys(doc.hosts).length})`);
    return EXIT.warning;
  }
  printStatus(`OK: nova-compute up on ${Object.keys(doc.hosts).length} hosts`);
  return EXIT.ok;
});
