/**
 * Controllers' script check: every compute host's power, read as the fence reads it (its fence
 * levels with method = agent, else its BMC) by one controller at a time (a poller lock that
 * another takes over when this one dies or its view goes stale), with bounded concurrency, into
 * one KV document the evaluation reads. One batched poller scales to 1,000 hosts where 1,000
 * script checks would not (a process per host per interval on every controller); decisions still
 * read the power afresh.
 */
import { EXIT, printStatus, runHandler } from '../lib/shared/handler.js';
import { mapLimit } from '../lib/shared/pool.js';
import { pollTargets } from '../lib/state/poll-targets.js';
import { KEYS, type PowerDoc } from '../lib/state/records.js';
import { takePollerTurn, viewAge } from '../lib/state/poller-turn.js';
import { createRuntime } from '../lib/recovery/runtime.js';
import { readHostPower } from '../lib/recovery/fence-levels.js';

void runHandler('power-check', 'check', [], async ({ config }) => {
  const runtime = createRuntime(config, 'power-check');
  const interval = config.ipmi.poll_interval;
  const key = runtime.kv.key(KEYS.power);
  const { lock, previous } = await takePollerTurn<PowerDoc>({ api: runtime.clusters.mgmt, ...runtime }, 'power', key, interval);
  if (!lock.held) {
    printStatus(`OK: standby, ${lock.holder} reads the BMCs${viewAge(previous)}`);
    return EXIT.ok;
  }
  const hosts = await pollTargets(runtime.kv);
  const now = Date.now();
  const results = await mapLimit(hosts, config.ipmi.poll_concurrency, async (host) => {
    try {
      return [host, await readHostPower(config, host)] as const;
    } catch (error) {
      return [host, { state: 'unknown' as const, error: (error as Error).message }] as const;
    }
  });
  const doc: PowerDoc = {
    at: Date.now(),
    by: runtime.node,
    hosts: Object.fromEntries(results.map(([host, r]) => {
      const before = previous?.hosts[host];
      return [host, { state: r.state, since: before && before.state === r.state ? before.since : now, ...(r.error ? { error: r.error } : {}) }];
    })),
  };
  await runtime.kv.write(key, doc);
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
