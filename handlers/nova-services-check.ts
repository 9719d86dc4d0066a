/**
 * Controllers' script check: nova-compute of every host as Nova's API sees it, from one call to
 * the service list per interval, by one controller at a time (a poller lock that another
 * controller takes over when this one dies or its view goes stale), into the Nova view in KV: a
 * key per host, written when it changes, then the poll's summary (lib/state/views.ts). The API
 * being unreachable, or no nova-scheduler up, is recorded too: nothing is fenced while instances
 * could not be evacuated.
 */
import { EXIT, printStatus, runHandler } from '../lib/shared/handler.js';
import { NovaClient } from '../lib/systems/nova/index.js';
import { KvWriteError } from '../lib/systems/consul/kv.js';
import { KEYS, type NovaPoll, type NovaServiceState } from '../lib/state/records.js';
import { novaViewChanges, readViewHosts, viewWrites } from '../lib/state/views.js';
import { takePollerTurn, viewAge } from '../lib/state/poller-turn.js';
import { createRuntime } from '../lib/recovery/runtime.js';

/** Consul keeps 4 KiB of a check's output: a list of a thousand hosts is cut short, not lost whole. */
const OUTPUT_LIMIT = 3500;

void runHandler('nova-services-check', 'check', [], async ({ config }) => {
  const runtime = createRuntime(config, 'nova-services-check');
  const { kv } = runtime;
  const interval = config.nova.poll_interval;
  const { lock, previous: summary } = await takePollerTurn<NovaPoll>({ api: runtime.clusters.mgmt, ...runtime }, 'nova', kv.key(KEYS.novaPoll), interval);
  if (!lock.held) {
    printStatus(`OK: standby, ${lock.holder} reads Nova's service list${viewAge(summary)}`);
    return EXIT.ok;
  }
  const [previous, open] = await Promise.all([readViewHosts<NovaServiceState>(kv, 'nova'), kv.keys(kv.key(KEYS.incidents))]);
  const now = Date.now();
  const nova = NovaClient.fromConfig(config, { logger: runtime.logger, retry: { retries: 1 } });
  let poll: NovaPoll;
  let current = previous;
  try {
    const services = await nova.listServices();
    const computes = services.filter((s) => s.binary === 'nova-compute');
    const schedulersUp = services.some((s) => s.binary === 'nova-scheduler' && s.state === 'up' && s.status === 'enabled');
    const changes = novaViewChanges(previous, computes, new Set(open), now);
    try {
      await kv.writeAll(viewWrites(kv, 'nova', changes));
    } catch (error) {
      if (!(error instanceof KvWriteError)) throw error;
      // No summary: the view ages and counts as unknown after three intervals, never as fresh with some hosts missing.
      printStatus(`CRITICAL: ${error.failed} of ${error.total} Nova view writes to Consul KV failed after retries: ${error.message}`);
      return EXIT.critical;
    }
    current = new Map([...[...previous].filter(([h]) => !changes.remove.includes(h)), ...changes.set]);
    poll = { at: Date.now(), by: runtime.node, api: 'up', schedulers: schedulersUp ? 'up' : 'down' };
  } catch (error) {
    // Written anyway: "the API does not answer" is itself what the evaluation must know.
    poll = { at: Date.now(), by: runtime.node, api: 'down', schedulers: 'unknown', error: (error as Error).message };
  }
  await kv.writeAll([{ key: kv.key(KEYS.novaPoll), value: poll }]);
  if (poll.api !== 'up') {
    // Another controller may reach Nova where this one cannot: the next run, wherever it is, tries.
    await lock.release();
    printStatus(`CRITICAL: Nova's API does not answer: ${poll.error}`);
    return EXIT.critical;
  }
  const down = [...current].filter(([, s]) => s.state === 'down').map(([h, s]) => `${h}${s.forcedDown ? ' (forced down)' : ''}`);
  if (poll.schedulers !== 'up') {
    printStatus(`CRITICAL: no nova-scheduler is up: nothing could be evacuated${down.length ? `; nova-compute down: ${down.join(', ')}` : ''}`.slice(0, OUTPUT_LIMIT));
    return EXIT.critical;
  }
  if (down.length > 0) {
    printStatus(`WARNING: nova-compute down in Nova: ${down.join(', ')} (of ${current.size})`.slice(0, OUTPUT_LIMIT));
    return EXIT.warning;
  }
  printStatus(`OK: nova-compute up on ${current.size} hosts`);
  return EXIT.ok;
});
