/** Which effects this controller has, from its config: Consul events always; IPMI, fence levels and Nova when configured. */
import { fenceAndEvacuate, move, countOutcomes, type FenceDeps } from './fence.js';
import { powerOffAfterDump, powerOffThroughLevels, powerOnThroughLevels, readPowerThroughLevels } from './fence-levels.js';
import type { Config } from '../config/load.js';
import { settingsFromConfig } from '../decision/policy.js';
import { KEYS, type KdumpRecord } from '../state/records.js';
import { consulEffects, type Effects } from './effects.js';
import { withStep } from '../state/incident.js';
import { bmcConfigured, bmcFor, chassisPower, IpmiConfigError } from '../systems/power/ipmi.js';
import { NovaClient } from '../systems/nova/index.js';
import type { Runtime } from './runtime.js';

const DRAIN_REASON = 'nova-ha: draining';

/** How this controller powers a host off for a fence (its levels), and after a crash dump; undefined with [fencing] method = none. */
export function fencePowerOff(runtime: Runtime): Pick<FenceDeps, 'powerOff' | 'powerOffAfterDump'> | undefined {
  const { config } = runtime;
  if (config.fencing.method === 'none') return undefined;
  const kdump = settingsFromConfig(config).kdump;
  return {
    powerOff: (host, context) => powerOffThroughLevels(config, host, context),
    ...(kdump ? { powerOffAfterDump: (host, context, deferredAt) => powerOffAfterDump(config, host, context, deferredAt, async () => (await runtime.kv.read<KdumpRecord>(runtime.kv.key(KEYS.kdump(host))))?.value, kdump) } : {}),
  };
}

const usesLevels = (config: Config): boolean => config.fencing.method === 'agent';

export function controllerEffects(runtime: Runtime): Effects {
  const { config } = runtime;
  const effects: Effects = { ...consulEffects(runtime) };
  let nova: NovaClient | undefined;
  const novaClient = (): NovaClient => (nova ??= NovaClient.fromConfig(config, { logger: runtime.logger }));

  if (usesLevels(config)) {
    effects.readPower = async (host) => {
      const { state, errors } = await readPowerThroughLevels(config, host);
      if (state === 'unknown') runtime.logger.warn('power-unknown', { host, error: errors.join('; ') || 'no fence level answers' });
      return state;
    };
    effects.powerOn = (host) => powerOnThroughLevels(config, host);
  } else if (bmcConfigured(config)) {
    effects.readPower = async (host) => {
      try {
        return (await chassisPower(bmcFor(config, host), 'status')).state;
      } catch (error) {
        // No BMC configured for this host: its power is unknown (an alert, never an evacuation).
        if (!(error instanceof IpmiConfigError)) throw error;
        runtime.logger.error('bmc-not-configured', { host, error: error.message });
        return 'unknown';
      }
    };
    effects.powerOn = async (host) => {
      const result = await chassisPower(bmcFor(config, host), 'on');
      if (result.state !== 'on') throw new Error(result.error ?? `the BMC of ${host} did not accept power on`);
    };
  }
  const powerOff = fencePowerOff(runtime);
  if (powerOff) effects.fence = (run) => fenceAndEvacuate({ runtime, nova: novaClient(), ...powerOff }, run);
  if (config.evacuation.live_migrate_on_tenant_failure) {
    effects.drain = async (run) => {
      let incident = await run.change((i) => withStep({ ...i, attempts: { ...i.attempts, drain: i.attempts.drain ?? Date.now() } }, { at: Date.now(), step: 'drain', outcome: 'started', by: runtime.node }));
      try {
        // No new instances on a host being drained; undone when its incident closes (undrain).
        const service = await novaClient().getComputeService(run.host);
        if (service.status === 'enabled') await novaClient().disableService(service.id, `${DRAIN_REASON} (incident ${incident.id}: tenant network down)`);
        const outcomes = await move({ runtime, nova: novaClient() }, run, 'live-migration', incident);
        const counts = countOutcomes(outcomes);
        incident = await run.change((i) => withStep(i, { at: Date.now(), step: 'drain', outcome: counts.failed ? 'failed' : 'done', detail: `${counts.migrated} live-migrated, ${counts.skipped} skipped, ${counts.failed} failed, of ${outcomes.length}`, by: runtime.node }));
      } catch (error) {
        incident = await run.change((i) => withStep(i, { at: Date.now(), step: 'drain', outcome: 'failed', detail: (error as Error).message, by: runtime.node }));
      }
      runtime.notifier.notify({ host: run.host, event: 'drained', summary: 'tenant network down', action: 'instances live-migrated away', reason: incident.timeline.at(-1)?.detail ?? '', incidentId: incident.id, timeline: incident.timeline, instances: incident.instances ?? [] });
      return incident;
    };
    effects.undrain = async (host) => {
      const service = await novaClient().getComputeService(host);
      if (service.status === 'disabled' && (service.disabledReason ?? '').startsWith(DRAIN_REASON)) await novaClient().enableService(service.id);
    };
  }
  return effects;
}
