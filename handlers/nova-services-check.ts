/**
 * Controllers' script check: nova-compute of every host as Nova's API sees it, from one call to
 * the service list per interval, by one controller at a time (a poller lock that another
 * controller takes over when this one dies or its view goes stale), into one KV document the
 * evaluation reads. The API being unreachable, or no nova-scheduler up, is recorded
 * too: nothing is fenced while instances could not be evacuated.
 */
import { EXIT, printStatus, runHandler } from '../lib/shared/handler.js';
import { NovaClient } from '../lib/systems/nova/index.js';
import { KEYS, novaServiceState, type NovaDoc, type NovaServiceState } from '../lib/state/records.js';
import { takePollerTurn, viewAge } from '../lib/state/poller-turn.js';
import { createRuntime } from '../lib/recovery/runtime.js';

void runHandler('nova-services-check', 'check', [], async ({ config }) => {
  const runtime = createRuntime(config, 'nova-services-check');
  const interval = config.nova.poll_interval;
  const key = runtime.kv.key(KEYS.nova);
  const { lock, previous } = await takePollerTurn<NovaDoc>({ api: runtime.clusters.mgmt, ...runtime }, 'nova', key, interval);
  if (!lock.held) {
    printStatus(`OK: standby, ${lock.holder} reads Nova's service list${viewAge(previous)}`);
    return EXIT.ok;
  }
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
    // Another controller may reach Nova where this one cannot: the next run, wherever it is, tries.
    await lock.release();
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
