/**
 * The watchdog feeder of a compute node: a long-running process, unlike every other handler, run
 * by the nova-ha-watchdog systemd service that install.sh installs when [watchdog] enabled = true
 * (a watchdog must be held open by one process for as long as it is armed; Consul runs nothing
 * that long). It runs as the Consul agents' user; the service gives that user the device.
 * SIGTERM disarms the watchdog once the controllers can see it disarmed (lib/node/watchdog-feeder.ts).
 */
import { EXIT, runHandler } from '../lib/shared/handler.js';
import { createLoggerFor, nodeNameOf } from '../lib/shared/log.js';
import { addressOf, connect, describeConsulError } from '../lib/systems/consul/connect.js';
import { ConsulApi } from '../lib/systems/consul/api.js';
import { WATCHDOG_CHECK } from '../lib/systems/consul/names.js';
import { deviceInfo, Watchdog, watchdogProblems } from '../lib/systems/watchdog/device.js';
import { formatProblem } from '../lib/config/load.js';
import { armedOutput } from '../lib/systems/watchdog/publication.js';
import { feedInterval, runFeeder, type FeederIo } from '../lib/node/watchdog-feeder.js';
import type { CheckStatus } from '../lib/decision/model.js';

const asStatus = (status: string | undefined): CheckStatus | undefined => (status === 'passing' || status === 'warning' || status === 'critical' ? status : undefined);

void runHandler('watchdog', 'handler', [], async ({ config }) => {
  const settings = config.watchdog;
  if (config.DEFAULT.role !== 'compute' || !settings.enabled) throw new Error('the watchdog feeder runs only on a compute node with [watchdog] enabled = true');
  const log = createLoggerFor(config, 'watchdog');
  const self = nodeNameOf(config);
  // The same checks as check-config: a device that is there and counts the configured timeout.
  const refused = watchdogProblems(config).filter((p) => !p.warning);
  if (refused.length > 0) throw new Error(refused.map(formatProblem).join('; '));
  const info = deviceInfo(settings.device);
  if (info.kind === 'simulation') log.warn('watchdog-simulation', { detail: `${info.path} is a FIFO: the lab's simulated watchdog, not a device; its timeout is taken from [watchdog] timeout` });

  // A read counts only if it answers within a feed interval: the client gives up then.
  const interval = feedInterval(settings.timeout);
  const api = (network: 'mgmt' | 'storage'): ConsulApi => new ConsulApi(connect(addressOf(config, network), interval, config.consul.ca_file || undefined));
  const clusters = { mgmt: api('mgmt'), storage: api('storage') };
  const io: FeederIo = {
    async readHealth(network) {
      try {
        const checks = await clusters[network].healthNode(self);
        return { ok: true, serfHealth: asStatus(checks.find((c) => c.CheckID === 'serfHealth')?.Status) };
      } catch (error) {
        return { ok: false, error: describeConsulError(error) };
      }
    },
    async readChecks() {
      try {
        const checks = await clusters.mgmt.agentChecks();
        return { ok: true, status: new Map([...checks].map(([id, status]) => [id, asStatus(status)])) };
      } catch (error) {
        return { ok: false, error: describeConsulError(error) };
      }
    },
    publish: (status, output) => clusters.mgmt.ttlCheck(WATCHDOG_CHECK, status, output),
    async published(status) {
      const checks = await clusters.mgmt.healthNode(self);
      return checks.find((c) => c.CheckID === WATCHDOG_CHECK)?.Status === status;
    },
    watchdog: new Watchdog(settings.device),
    log,
  };
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
  log.info('watchdog-start', { detail: `${settings.device}, timeout ${settings.timeout} ms, fed every ${interval} ms while a leader of mgmt or storage sees ${self} alive${settings.required_checks.length ? ` and ${settings.required_checks.join(', ')} pass` : ''}` });
  const outcome = await runFeeder(io, { timeoutMs: settings.timeout, requiredChecks: settings.required_checks, armedOutput: armedOutput({ timeoutMs: settings.timeout, device: settings.device, simulation: info.kind === 'simulation' }) }, stop.signal);
  return outcome === 'left-armed' ? EXIT.error : EXIT.ok;
});
