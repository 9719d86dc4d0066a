/**
 * Controllers' script check: every compute host's chassis power, read from its BMC by one
 * controller at a time (a poller lock), with bounded concurrency, into one KV document the
 * evaluation reads. One batched poller scales to 1,000 hosts where 1,000 script checks would not
 * (a process per host per interval on every controller); decisions still read the BMC afresh.
 */
import { holdPollerLock } from '../lib/systems/consul/poller-lock.js';
import { EXIT, printStatus, runHandler } from '../lib/shared/handler.js';
import { bmcFor, chassisPower } from '../lib/systems/power/ipmi.js';
import { mapLimit } from '../lib/shared/pool.js';
import { pollTargets } from '../lib/state/poll-targets.js';
import { KEYS, type PowerDoc } from '../lib/state/records.js';
import { createRuntime } from '../lib/recovery/runtime.js';

void runHandler('power-check', 'check', [], async ({ config }) => {
  const runtime = createRuntime(config, 'power-check');
  const interval = config.ipmi.poll_interval;
  const lock = await holdPollerLock(runtime.clusters.mgmt, runtime.kv.key(KEYS.poller('power')), 'power', runtime.node, runtime.stateDir, Math.max(10, Math.ceil((3 * interval) / 1000)));
  if (!lock.held) {
    printStatus(`OK: standby, ${lock.holder} reads the BMCs`);
    return EXIT.ok;
  }
  const hosts = await pollTargets(runtime.kv);
  const key = runtime.kv.key(KEYS.power);
  const previous = (await runtime.kv.read<PowerDoc>(key))?.value;
  const now = Date.now();
  const results = await mapLimit(hosts, config.ipmi.poll_concurrency, async (host) => {
    try {
      return [host, await chassisPower(bmcFor(config, host), 'status')] as const;
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
