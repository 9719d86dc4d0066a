/**
 * Controllers' script check: every compute host's chassis power, read from its BMC by one
 * controller at a time (a poller lock that another controller takes over when this one dies or
 * its view goes stale), with bounded concurrency, into the power view in KV: a key per host,
 * written when it changes, then the poll's summary (lib/state/views.ts). One batched poller scales
 * to thousands of hosts where a script check per host would not (a process per host per interval
 * on every controller); decisions still read the BMC afresh.
 */
import { holdPollerLock } from '../lib/systems/consul/poller-lock.js';
import { EXIT, runHandler } from '../lib/shared/handler.js';
import { bmcFor, chassisPower } from '../lib/systems/power/ipmi.js';
import { mapLimit } from '../lib/shared/pool.js';
import { KvWriteError } from '../lib/systems/consul/kv.js';
import { pollTargets } from '../lib/state/poll-targets.js';
import { KEYS, type PowerHostState, type PowerPoll } from '../lib/state/records.js';
import { powerViewChanges, readViewHosts, viewWrites } from '../lib/state/views.js';
import { createRuntime } from '../lib/recovery/runtime.js';

await runHandler('power-check', 'check', [], async ({ config }) => {
  const runtime = createRuntime(config, 'power-check');
  const { kv } = runtime;
  const interval = config.ipmi.poll_interval;
  const summary = await kv.read<PowerPoll>(kv.key(KEYS.powerPoll));
  const lock = await holdPollerLock(runtime.clusters.mgmt, { key: kv.key(KEYS.poller('power')), name: 'power', node: runtime.node, stateDir: runtime.stateDir, ttlSeconds: Math.max(10, Math.ceil((3 * interval) / 1000)), viewAt: summary?.value.at, staleAfterMs: 1.5 * interval });
  if (!lock.held) {
    console.log(`OK: standby, ${lock.holder} reads the BMCs${summary ? ` (its view is ${Math.round((Date.now() - summary.value.at) / 1000)} s old)` : ''}`);
    return EXIT.ok;
  }
  if (lock.tookOver) runtime.logger.warn('poller-takeover', { step: 'power-poller', detail: `took over from ${lock.tookOver}: its power view was ${summary ? `${Math.round((Date.now() - summary.value.at) / 1000)} s old` : 'missing'}` });
  const [hosts, previous] = await Promise.all([pollTargets(kv), readViewHosts<PowerHostState>(kv, 'power')]);
  const now = Date.now();
  const results = await mapLimit(hosts, config.ipmi.poll_concurrency, async (host) => {
    try {
      return [host, await chassisPower(bmcFor(config, host), 'status')] as const;
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
    console.log(`CRITICAL: ${error.failed} of ${error.total} power view writes to Consul KV failed after retries: ${error.message}`);
    return EXIT.critical;
  }
  const off = results.filter(([, r]) => r.state === 'off').map(([h]) => h);
  const unknown = results.filter(([, r]) => r.state === 'unknown').map(([h, r]) => `${h} (${r.error})`);
  const took = Date.now() - now;
  // Not one BMC answered: more likely this controller's own out-of-band link; let the next run, on any controller, try.
  if (hosts.length > 0 && unknown.length === hosts.length) await lock.release();
  if (off.length === 0 && unknown.length === 0) {
    console.log(`OK: ${hosts.length} hosts powered on (read in ${took} ms)`);
    return EXIT.ok;
  }
  console.log([`WARNING: ${off.length ? `power off: ${off.join(', ')}` : ''}${off.length && unknown.length ? '; ' : ''}${unknown.length ? `BMC not answering: ${unknown.length}` : ''} (of ${hosts.length}, read in ${took} ms)`, ...unknown].join('\n').slice(0, 3500));
  return EXIT.warning;
});
