/**
 * Controllers' script check: every compute host's power, read as the fence reads it (its fence
 * levels with method = agent, else its BMC) by one controller at a time (a poller lock that
 * another takes over when this one dies or its view goes stale), with bounded concurrency, into
 * the power view in KV: a key per host, written when it changes, then the poll's summary
 * (lib/state/views.ts). One batched poller scales to thousands of hosts where a script check per
 * host would not (a process per host per interval on every controller); decisions still read the
 * power afresh.
 */
import { EXIT, printStatus, runHandler } from '../lib/shared/handler.js';
import { mapLimit } from '../lib/shared/pool.js';
import { KvWriteError } from '../lib/systems/consul/kv.js';
import { pollTargets } from '../lib/state/poll-targets.js';
import { KEYS, type PowerHostState, type PowerPoll } from '../lib/state/records.js';
import { powerViewChanges, readViewHosts, viewWrites } from '../lib/state/views.js';
import { takePollerTurn, viewAge } from '../lib/state/poller-turn.js';
import { createRuntime } from '../lib/recovery/runtime.js';
import { readHostPower } from '../lib/recovery/fence-levels.js';

void runHandler('power-check', 'check', [], async ({ config }) => {
  const runtime = createRuntime(config, 'power-check');
  const { kv } = runtime;
  const interval = config.ipmi.poll_interval;
  const { lock, previous: summary } = await takePollerTurn<PowerPoll>({ api: runtime.clusters.mgmt, ...runtime }, 'power', kv.key(KEYS.powerPoll), interval);
  if (!lock.held) {
    printStatus(`OK: standby, ${lock.holder} reads the BMCs${viewAge(summary)}`);
    return EXIT.ok;
  }
  const [hosts, previous] = await Promise.all([pollTargets(kv), readViewHosts<PowerHostState>(kv, 'power')]);
  const now = Date.now();
  const results = await mapLimit(hosts, config.ipmi.poll_concurrency, async (host) => {
    try {
      return [host, await readHostPower(config, host)] as const;
    } catch (error) {
      return [host, { state: 'unknown' as const, error: (error as Error).message }] as const;
    }
  });
  try {
    await kv.writeAll(viewWrites(kv, 'power', powerViewChanges(previous, results, now)));
    await kv.writeAll([{ key: kv.key(KEYS.powerPoll), value: { at: Date.now(), by: runtime.node } satisfies PowerPoll }]);
  } catch (error) {
    if (!(error instanceof KvWriteError)) throw error;
    // No fresh summary: the view ages and counts as unknown after three intervals.
    printStatus(`CRITICAL: ${error.failed} of ${error.total} power view writes to Consul KV failed after retries: ${error.message}`);
    return EXIT.critical;
  }
  const off = results.filter(([, r]) => r.state === 'off').map(([h]) => h);
  const unknown = results.filter(([, r]) => r.state === 'unknown').map(([h, r]) => `${h} (${r.error})`);
  const took = Date.now() - now;
  if (off.length === 0 && unknown.length === 0) {
    printStatus(`OK: ${hosts.length} hosts powered on (read in ${took} ms)`);
    return EXIT.ok;
  }
  printStatus([`WARNING: ${off.length ? `power off: ${off.join(', ')}` : ''}${off.length && unknown.length ? '; ' : ''}${unknown.length ? `BMC not answering: ${unknown.length}` : ''} (of ${hosts.length}, read in ${took} ms)`, ...unknown].join('\n').slice(0, 3500));
  return EXIT.warning;
});
