/**
 * nova-ha doctor's readings: everything its checks look at, read without changing anything
 * (lib/decision/doctor.ts gives the verdicts). Run by the operator (`nova-ha doctor`) and by the
 * controllers' periodic Consul check, which differ in one thing: only the operator's run sends
 * the dry evacuate (a request Nova refuses, but one that lands in a server's log and in counts of
 * evacuate requests), and stores Nova's answer in KV; the periodic check shows that answer with
 * its age, and sends the dry force-down at most once a day.
 */
import type { Config, ConfigProblem } from '../config/load.js';
import type { Network } from '../config/schema.js';
import { freeAmounts, instanceNeeds, unitLimits, type HostRoom, type InstanceDemand } from '../decision/capacity.js';
import { parseRepairKeyLine } from '../decision/checks.js';
import type { HaRead } from '../decision/ha-policy.js';
import {
  bmcVerdict,
  clockOffset,
  clocksVerdict,
  configVerdict,
  consulVerdict,
  novaVerdict,
  nPlusOneVerdict,
  repairKeysVerdict,
  summarize,
  type CapacityReading,
  type SpareReading,
  type ConsulReading,
  type DoctorReport,
  type DoctorRow,
  type DryAnswer,
  type Listing,
  type NovaInput,
  type RepairKeyInput,
} from '../decision/doctor.js';
import { NETWORKS } from '../decision/model.js';
import { repairKeyFingerprint } from '../recovery/repair-request.js';
import { readHostPower } from '../recovery/fence-levels.js';
import type { Runtime } from '../recovery/runtime.js';
import type { Logger } from '../shared/log.js';
import { mapLimit } from '../shared/pool.js';
import { pollTargets } from '../state/poll-targets.js';
import { KEYS } from '../state/records.js';
import { SpareClaims } from '../state/spares.js';
import type { ConsulApi } from '../systems/consul/api.js';
import { describeConsulError } from '../systems/consul/connect.js';
import { DOCTOR_INTERVAL } from '../systems/consul/fragments.js';
import type { JsonKv } from '../systems/consul/kv.js';
import { NOVA_COMPUTE_CHECK, ROLE_META } from '../systems/consul/names.js';
import { NovaClient, type Aggregate, type ClockReading, type ComputeService, type ProbeAnswer } from '../systems/nova/index.js';
import { bmcConfigured, type PowerResult } from '../systems/power/ipmi.js';
import { configProblems } from './config-check.js';

/** The part of the Nova client the doctor uses. */
export interface DoctorNova {
  listServices(): Promise<ComputeService[]>;
  listServerIds(limit: number): Promise<string[]>;
  probeServiceUpdate(): Promise<ProbeAnswer>;
  probeEvacuate(serverId: string): Promise<ProbeAnswer>;
  clockReading(): Promise<ClockReading>;
  /** The host aggregates: each host's availability zone, as the capacity step counts room. */
  listAggregates(): Promise<Aggregate[]>;
}

/** One compute node resource provider of Placement: its host, free room, and what its instances take. */
export interface ProviderLoad {
  readonly host: string;
  readonly room: HostRoom;
  readonly instances: readonly InstanceDemand[];
}

export interface DoctorSources {
  readonly config: Config;
  readonly configFile: string;
  /** check-config's problems with the file (lib/operator/config-check.ts). */
  readonly configProblems: () => readonly ConfigProblem[];
  readonly node: string;
  readonly clusters: Readonly<Record<Network, ConsulApi>>;
  readonly kv: JsonKv;
  readonly nova: DoctorNova;
  /** Placement's compute node providers of these hosts, with their instances. */
  readonly providers: (hosts: readonly string[]) => Promise<readonly ProviderLoad[]>;
  /** Whether any BMC or fence agent is configured, and one host's power read as the power check reads it. */
  readonly bmcConfigured: boolean;
  readonly readPower: (host: string) => Promise<PowerResult>;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** cli: the operator's run (sends the dry evacuate); check: the periodic Consul check (never does). */
export type DoctorMode = 'cli' | 'check';

interface DryAnswers {
  readonly forceDown?: DryAnswer;
  readonly evacuate?: DryAnswer;
}

/** The periodic check asks Nova the dry force-down at most this often. */
export const FORCE_DOWN_ASK_EVERY = 24 * 3600_000;
/** A controller's clock record counts for this long: three runs of the periodic check. */
export const CLOCK_RECORD_KEPT = 3 * DOCTOR_INTERVAL;

const failure = (error: unknown): string => (error instanceof Error ? error.message : String(error));

async function listing(read: () => Promise<number>): Promise<Listing> {
  try {
    return { ok: true, count: await read() };
  } catch (error) {
    return { ok: false, error: failure(error) };
  }
}

async function dry(ask: () => Promise<ProbeAnswer>, now: () => number): Promise<DryAnswer> {
  try {
    const answer = await ask();
    return { request: answer.request, status: answer.status, message: answer.message, ...(answer.requestId ? { requestId: answer.requestId } : {}), at: now() };
  } catch (error) {
    return { request: 'the dry request', message: failure(error), at: now() };
  }
}

async function readNova(sources: DoctorSources, mode: DoctorMode, services: ComputeService[] | Error, now: () => number): Promise<NovaInput> {
  const { nova, kv, node } = sources;
  const servicesListing: Listing = services instanceof Error ? { ok: false, error: services.message } : { ok: true, count: services.length };
  let serverIds: string[] = [];
  const servers = await listing(async () => (serverIds = await nova.listServerIds(1)).length);
  const key = kv.key(KEYS.doctorDryAnswers(node));
  let stored: DryAnswers = {};
  try {
    stored = (await kv.read<DryAnswers>(key))?.value ?? {};
  } catch (error) {
    sources.logger.warn('doctor-kv-read-failed', { key, error: describeConsulError(error) });
  }
  const askForceDown = mode === 'cli' || stored.forceDown === undefined || now() - stored.forceDown.at >= FORCE_DOWN_ASK_EVERY;
  const forceDown = askForceDown ? await dry(() => nova.probeServiceUpdate(), now) : stored.forceDown;
  let evacuate: DryAnswer | string | undefined = stored.evacuate;
  if (mode === 'cli') {
    const server = serverIds[0];
    evacuate = server ? await dry(() => nova.probeEvacuate(server), now) : servers.ok ? 'no server exists to ask about: run nova-ha doctor again once one does' : 'the servers could not be listed';
  }
  const next: DryAnswers = { ...(forceDown ? { forceDown } : {}), ...(typeof evacuate === 'object' ? { evacuate } : {}) };
  if (askForceDown) {
    try {
      await kv.write(key, next);
    } catch (error) {
      sources.logger.warn('doctor-kv-write-failed', { key, error: describeConsulError(error) });
    }
  }
  return { services: servicesListing, servers, ...(forceDown ? { forceDown } : {}), ...(evacuate !== undefined ? { evacuate } : {}), now: now() };
}

async function readCapacity(sources: DoctorSources, services: ComputeService[] | Error): Promise<CapacityReading> {
  if (services instanceof Error) return { ok: false, error: `Nova's service list (which hosts are usable) could not be read: ${services.message}` };
  let providers: readonly ProviderLoad[];
  const computes = services.filter((s) => s.binary === 'nova-compute');
  const [zones, spares] = await Promise.all([readAggregates(sources), readSpares(sources, computes)]);
  try {
    providers = await sources.providers(computes.map((s) => s.host));
  } catch (error) {
    return { ok: false, error: failure(error) };
  }
  // A spare is room only once lent, whatever its state in Nova: readSpares says which a failure would borrow.
  const configured = new Set(sources.config.capacity.spare_hosts);
  const usable = new Set(computes.filter((s) => s.status === 'enabled' && s.state === 'up' && !s.forcedDown && !configured.has(s.host)).map((s) => s.host));
  return { ok: true, hosts: providers.map((p) => ({ host: p.host, usable: usable.has(p.host), room: p.room, instances: p.instances })), zones, ...(spares ? { spares } : {}) };
}

async function readAggregates(sources: DoctorSources): Promise<HaRead<readonly Aggregate[]>> {
  try {
    return { ok: true, value: await sources.nova.listAggregates() };
  } catch (error) {
    return { ok: false, why: failure(error) };
  }
}

/**
 * The configured spares a failure would borrow now: up and not forced down in Nova (they are
 * kept disabled) and claimed by no incident (a claim lasts until the spare is given back).
 * Undefined without spare_hosts.
 */
async function readSpares(sources: DoctorSources, computes: readonly ComputeService[]): Promise<HaRead<SpareReading> | undefined> {
  const { spare_hosts: configured, spare_aggregates: joinZone } = sources.config.capacity;
  if (configured.length === 0) return undefined;
  try {
    const claims = await new SpareClaims(sources.kv).all();
    const up = new Set(computes.filter((s) => s.state === 'up' && !s.forcedDown).map((s) => s.host));
    return { ok: true, value: { free: configured.filter((spare) => up.has(spare) && !claims.has(spare)), joinZone } };
  } catch (error) {
    return { ok: false, why: describeConsulError(error) };
  }
}

async function readBmcs(sources: DoctorSources): Promise<DoctorRow> {
  if (!sources.bmcConfigured) return bmcVerdict({ configured: false });
  let hosts: string[];
  try {
    hosts = await pollTargets(sources.kv);
  } catch (error) {
    return bmcVerdict({ configured: true, error: describeConsulError(error) });
  }
  const readings = await mapLimit(hosts, sources.config.ipmi.poll_concurrency, async (host) => {
    try {
      const result = await sources.readPower(host);
      return { host, state: result.state, ...(result.error ? { error: result.error } : {}) };
    } catch (error) {
      return { host, state: 'unknown' as const, error: failure(error) };
    }
  });
  return bmcVerdict({ configured: true, hosts: readings });
}

async function readConsul(sources: DoctorSources): Promise<ConsulReading[]> {
  return Promise.all(
    NETWORKS.map(async (network): Promise<ConsulReading> => {
      const api = sources.clusters[network];
      let catalog: Listing;
      try {
        catalog = { ok: true, count: (await api.catalogNodes()).length };
      } catch (error) {
        catalog = { ok: false, error: describeConsulError(error) };
      }
      if (network !== 'mgmt') return { network, catalog };
      const key = sources.kv.key(KEYS.novaPoll);
      try {
        await api.kvGet(key);
        return { network, catalog, kv: { ok: true, key } };
      } catch (error) {
        return { network, catalog, kv: { ok: false, key, error: describeConsulError(error) } };
      }
    }),
  );
}

async function readRepairKeys(sources: DoctorSources): Promise<RepairKeyInput> {
  const own = repairKeyFingerprint(sources.config.remediation.hmac_key);
  try {
    const checks = await sources.clusters.mgmt.healthChecks(`CheckID == "${NOVA_COMPUTE_CHECK}"`, `${ROLE_META}:compute`);
    const computes = checks.filter((c) => c.CheckID === NOVA_COMPUTE_CHECK).map((c) => {
      const keys = parseRepairKeyLine(c.Output ?? '');
      return { host: c.Node, ...(keys ? { keys } : {}) };
    });
    return { ok: true, own, computes: computes.sort((a, b) => a.host.localeCompare(b.host)) };
  } catch (error) {
    return { ok: false, error: describeConsulError(error) };
  }
}

async function readClocks(sources: DoctorSources, now: () => number): Promise<DoctorRow> {
  const { kv, node, nova } = sources;
  const windowMs = sources.config.remediation.max_age;
  try {
    const offsetMs = clockOffset(await nova.clockReading());
    await kv.write(kv.key(KEYS.doctorClock(node)), { node, offsetMs, at: now() });
  } catch (error) {
    // The others' records are still compared; this controller's own is missing from them.
    sources.logger.warn('doctor-clock-not-measured', { error: failure(error) });
  }
  try {
    const records = [...(await kv.tree<{ offsetMs: number; at: number }>(kv.key(KEYS.doctorClocks)))].map(([name, r]) => ({ node: name, offsetMs: r.value.offsetMs, at: r.value.at }));
    return clocksVerdict({ records, now: now(), windowMs, staleAfterMs: CLOCK_RECORD_KEPT });
  } catch (error) {
    return clocksVerdict({ error: describeConsulError(error) });
  }
}

/** Every check, read concurrently where they are independent, and their summary. */
export async function runDoctor(sources: DoctorSources, mode: DoctorMode): Promise<DoctorReport> {
  const now = sources.now ?? Date.now;
  const services = await sources.nova.listServices().catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
  const [capacity, bmc, nova, consul, repairKeys, clocks] = await Promise.all([
    readCapacity(sources, services),
    readBmcs(sources),
    readNova(sources, mode, services, now),
    readConsul(sources),
    readRepairKeys(sources),
    readClocks(sources, now),
  ]);
  const report = summarize([configVerdict(sources.configFile, sources.configProblems()), nPlusOneVerdict(capacity), bmc, novaVerdict(nova), consulVerdict(consul), repairKeysVerdict(repairKeys), clocks]);
  sources.logger.info('doctor', { mode, status: report.status, checks: Object.fromEntries(report.rows.map((r) => [r.check, r.status])) });
  return report;
}

/** The rows as the Consul check prints them under its status line (the CLI prints a table). */
export function renderRows(report: DoctorReport): string {
  return report.rows.map((r) => `${r.check} ${r.status}: ${r.found}`).join('\n');
}

/** The real sources on a controller: its clusters and KV, Nova and Placement with its credentials, its BMC access. */
export function doctorSources(runtime: Runtime, configFile: string): DoctorSources {
  const { config } = runtime;
  const nova = NovaClient.fromConfig(config, { logger: runtime.logger, retry: { retries: 1 } });
  return {
    config,
    configFile,
    configProblems: () => configProblems(configFile),
    node: runtime.node,
    clusters: runtime.clusters,
    kv: runtime.kv,
    nova,
    providers: (hosts) => placementLoads(nova, config, hosts),
    bmcConfigured: bmcConfigured(config) || config.fencing.method === 'agent',
    readPower: (host) => readHostPower(config, host),
    logger: runtime.logger,
  };
}

/**
 * Each host's compute node provider in Placement (free room and unit limits) and its instances'
 * needs from their flavors (compute microversion 2.47 on), as evacuation's capacity check counts
 * them. A host without a provider, or a server without its flavor, makes the reading fail: an
 * estimate that leaves them out would promise room that is not there.
 */
export async function placementLoads(nova: NovaClient, config: Config, hosts: readonly string[]): Promise<ProviderLoad[]> {
  const endpoint = config.capacity.placement_endpoint;
  const placement = nova.placement(endpoint ? new URL(endpoint) : undefined);
  return mapLimit([...hosts], 4, async (host) => {
    const provider = await placement.providerOf(host);
    if (!provider) throw new Error(`Placement has no resource provider for ${host} (its nova-compute never reported to Placement?)`);
    const [inventories, usages, servers] = await Promise.all([placement.inventories(provider.uuid), placement.usages(provider.uuid), nova.listServersOnHost(host)]);
    const instances = servers.map((server) => {
      if (!server.flavor) throw new Error(`Nova gives no flavor sizes for server ${server.id} on ${host}: it embeds them from compute microversion 2.47 on, and this cloud speaks an older one`);
      return { id: server.id, name: server.name, needs: instanceNeeds(server.flavor, server.bootsFromVolume) };
    });
    return { host, room: { host, free: freeAmounts(inventories, usages), limits: unitLimits(inventories) }, instances };
  });
}
