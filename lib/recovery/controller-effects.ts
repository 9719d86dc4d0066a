/** Which effects this controller has, from its config: Consul events always; IPMI, fence levels and Nova when configured. */
import { fenceAndEvacuate, move, countOutcomes, type CapacityStep, type FenceDeps } from './fence.js';
import { freeRoomOf, readRoom, type RoomSources } from './capacity.js';
import { retryLeftBehind, retrySettings } from './retry-left-behind.js';
import { lendSpares, type SpareNova } from './spares.js';
import { SpareClaims, sparesLentTo } from '../state/spares.js';
import type { Amounts } from '../decision/capacity.js';
import { IncidentStore } from '../state/incident-store.js';
import { powerOffAfterDump, powerOffThroughLevels, powerOnThroughLevels, readHostPower } from './fence-levels.js';
import { dumpEnded } from '../decision/fence-evidence.js';
import type { PowerState } from '../decision/model.js';
import { settingsFromConfig } from '../decision/policy.js';
import { KEYS, type KdumpRecord } from '../state/records.js';
import { consulEffects, type Effects, type FenceRun } from './effects.js';
import { withStep } from '../state/incident.js';
import { bmcConfigured, bmcFor, chassisPower } from '../systems/power/ipmi.js';
import { NovaClient } from '../systems/nova/index.js';
import type { Runtime } from './runtime.js';

const DRAIN_REASON = 'nova-ha: draining';

/** The power as this controller reads it (readHostPower); undefined with neither fence levels nor a BMC configured. */
function powerReader(runtime: Pick<Runtime, 'config' | 'logger'>): ((host: string) => Promise<PowerState>) | undefined {
  const { config } = runtime;
  if (config.fencing.method !== 'agent' && !bmcConfigured(config)) return undefined;
  return async (host) => {
    const { state, error } = await readHostPower(config, host);
    // Unknown is an alert, never an evacuation: the operator learns why from the log.
    if (state === 'unknown') runtime.logger.warn('power-unknown', { host, error });
    return state;
  };
}

export type FencePower = Required<Pick<FenceDeps, 'powerOff' | 'readPower'>> & Pick<FenceDeps, 'powerOffAfterDump' | 'dumping'>;

/**
 * How this controller powers a host off for a fence and reads its power back: both through the
 * host's fence levels (ipmitool alone for method = ipmi), so the re-reads before force-down,
 * evacuation and disable ask the devices that fenced it; with kdump awareness, also the power-off
 * after a crash dump. Undefined when nova-ha cannot power hosts off ([fencing] method = none, or
 * ipmi without [ipmi]).
 */
export function fencePower(runtime: Pick<Runtime, 'config' | 'logger' | 'kv'>): FencePower | undefined {
  const { config } = runtime;
  const readPower = powerReader(runtime);
  if (config.fencing.method === 'none' || !readPower) return undefined;
  const kdump = settingsFromConfig(config).kdump;
  const kdumpRecord = async (host: string): Promise<KdumpRecord | undefined> => (await runtime.kv.read<KdumpRecord>(runtime.kv.key(KEYS.kdump(host))))?.value;
  return {
    powerOff: (host, context) => powerOffThroughLevels(config, host, context),
    readPower,
    ...(kdump
      ? {
          powerOffAfterDump: (host, context, deferredAt) => powerOffAfterDump(config, host, context, deferredAt, () => kdumpRecord(host), kdump),
          dumping: async (host) => !dumpEnded(await kdumpRecord(host), Date.now(), kdump.intervalMs),
        }
      : {}),
  };
}

/** What the capacity step asks of Nova and Placement, spares included. */
export type CapacityNova = SpareNova & { placement(endpoint?: URL): RoomSources['placement'] };

/**
 * The capacity step as [capacity] configures it: undefined with check = false; `ignored` (the
 * operator's --ignore-capacity) records the step skipped and evacuates every instance.
 */
export function capacityStep(runtime: Runtime, nova: CapacityNova, ignored?: string): CapacityStep | undefined {
  const { capacity } = runtime.config;
  if (!capacity.check) return undefined;
  const placement = nova.placement(capacity.placement_endpoint);
  const store = new IncidentStore(runtime.kv);
  const claims = new SpareClaims(runtime.kv);
  const spares = capacity.spare_hosts.length > 0;
  return {
    readRoom: (host, incidentId, aggregates) => readRoom({
      listComputeServices: () => nova.listComputeServices(),
      listAggregates: () => nova.listAggregates(),
      placement,
      openIncidents: () => store.open(),
      // A spare counts as room only for the incident it is lent to, even with spare_hosts emptied since.
      spares: async (id) => {
        const all = await claims.all();
        return { configured: [...new Set([...capacity.spare_hosts, ...all.keys()])], lent: sparesLentTo(all, id) };
      },
    }, host, incidentId, aggregates),
    ...(spares ? { lendSpares: (run: FenceRun, shortfall: Amounts) => lendSpares({ runtime, nova, freeRoom: (host) => freeRoomOf(placement, host) }, run, shortfall) } : {}),
    ...(ignored !== undefined ? { ignored } : {}),
  };
}

export function controllerEffects(runtime: Runtime): Effects {
  const { config } = runtime;
  const effects: Effects = { ...consulEffects(runtime) };
  let nova: NovaClient | undefined;
  const novaClient = (): NovaClient => (nova ??= NovaClient.fromConfig(config, { logger: runtime.logger }));

  const readPower = powerReader(runtime);
  if (readPower) effects.readPower = readPower;
  if (config.fencing.method === 'agent') {
    effects.powerOn = (host) => powerOnThroughLevels(config, host);
  } else if (readPower) {
    effects.powerOn = async (host) => {
      const result = await chassisPower(bmcFor(config, host), 'on');
      if (result.state !== 'on') throw new Error(result.error ?? `the BMC of ${host} did not accept power on`);
    };
  }
  const power = fencePower(runtime);
  if (power) {
    effects.fence = (run) => {
      const capacity = capacityStep(runtime, novaClient());
      return fenceAndEvacuate({ runtime, nova: novaClient(), ...power, ...(capacity ? { capacity } : {}) }, run);
    };
    // The retry reads the room in Placement: without the capacity check it has nothing to wait for.
    if (config.capacity.check && config.capacity.retry_attempts > 0) {
      effects.retryLeftBehind = (run) => retryLeftBehind({ runtime, nova: novaClient(), ...power, capacity: capacityStep(runtime, novaClient())! }, run, retrySettings(config));
    }
  }
  if (config.evacuation.live_migrate_on_tenant_failure) {
    effects.drain = async (run) => {
      let incident = await run.change((i) => withStep({ ...i, attempts: { ...i.attempts, drain: i.attempts.drain ?? Date.now() } }, { at: Date.now(), step: 'drain', outcome: 'started', by: runtime.node }));
      try {
        // No new instances on a host being drained; undone when its incident closes (undrain).
        const service = await novaClient().getComputeService(run.host);
        if (service.status === 'enabled') await novaClient().disableService(service.id, `${DRAIN_REASON} (incident ${incident.id}: tenant network down)`);
        const { outcomes } = await move({ runtime, nova: novaClient() }, run, 'live-migration', incident);
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
