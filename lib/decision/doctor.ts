/**
 * nova-ha doctor's verdicts: what an operator needs to know before a failure, one row per check
 * (config, N+1 room, BMC credentials, Nova's role, Consul tokens, repair keys, clocks), each from
 * what lib/operator/doctor.ts read, and the summary as a monitoring plugin prints it: a status
 * line "OK: ..." / "WARNING: ..." / "CRITICAL: ..." / "UNKNOWN: ...", then " | " and perfdata.
 * A check whose reading could not be made is UNKNOWN, never a verdict.
 */
import type { ConfigProblem } from '../config/load.js';
import type { Network } from '../config/schema.js';
import { formatDuration } from '../shared/duration.js';
import { NO_AMOUNTS, canAbsorb, formatAmounts, sameZone, type Amounts, type HostRoom, type InstanceDemand, type ZoneAggregate } from './capacity.js';
import type { RepairKeyFingerprints } from './checks.js';
import type { HaRead } from './ha-policy.js';
import { chooseSpares } from './spares.js';

export const DOCTOR_CHECKS = ['config', 'n-plus-one', 'bmc', 'nova', 'consul', 'repair-keys', 'clocks'] as const;
export type DoctorCheck = (typeof DOCTOR_CHECKS)[number];

export type DoctorStatus = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';

/** One perfdata value; 'U' when the check could not measure it (the monitoring-plugins convention). */
export interface PerfDatum {
  readonly label: string;
  readonly value: number | 'U';
}

export interface DoctorRow {
  readonly check: DoctorCheck;
  readonly status: DoctorStatus;
  /** What was found, one line. */
  readonly found: string;
  readonly perfdata: readonly PerfDatum[];
}

export interface DoctorReport {
  readonly status: DoctorStatus;
  readonly rows: readonly DoctorRow[];
  /** "STATUS: text | perfdata": the plugin's first line. */
  readonly statusLine: string;
}

/**
 * The worst status wins; a real problem (CRITICAL, then WARNING) ranks above a check that could
 * not run, so an unknown row never hides one.
 */
const RANK: Record<DoctorStatus, number> = { OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3 };
export const worst = (statuses: readonly DoctorStatus[]): DoctorStatus => statuses.reduce<DoctorStatus>((a, b) => (RANK[b] > RANK[a] ? b : a), 'OK');

/** The monitoring-plugins exit codes, for the CLI. */
export const PLUGIN_EXIT: Record<DoctorStatus, number> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };

/**
 * The Consul check's exit codes: Consul reads 0 as passing, 1 as warning and anything else as
 * critical, so the plugin's 3 would turn "the doctor could not tell" into "critical". A check that
 * could not run must never read as a failure: UNKNOWN exits 1 (warning), its status line still
 * saying UNKNOWN.
 */
export const CONSUL_EXIT: Record<DoctorStatus, number> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 1 };

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const row = (check: DoctorCheck, status: DoctorStatus, found: string, perfdata: readonly PerfDatum[] = []): DoctorRow => ({ check, status, found, perfdata });

/** A row for a check that was not run, and why. */
export const notChecked = (check: DoctorCheck, why: string): DoctorRow => row(check, 'UNKNOWN', `not checked: ${why}`);

// ---- config ---------------------------------------------------------------------------------

/** check-config's problems: an error makes the config invalid, a warning does not. */
export function configVerdict(file: string, problems: readonly ConfigProblem[]): DoctorRow {
  const errors = problems.filter((p) => !p.warning);
  // As check-config prints a problem (lib/config/load.ts formatProblem, which this pure code may not import).
  const where = (p: ConfigProblem): string => [p.section ? `[${p.section}]` : '', p.key ? `${p.key}:` : ''].filter(Boolean).join(' ');
  const describe = (list: readonly ConfigProblem[]): string => list.slice(0, 3).map((p) => [where(p), p.message].filter(Boolean).join(' ')).join('; ') + (list.length > 3 ? '; ...' : '');
  if (errors.length > 0) return row('config', 'CRITICAL', `${file}: ${plural(errors.length, 'problem')}: ${describe(errors)} (nova-ha check-config lists them)`);
  if (problems.length > 0) return row('config', 'WARNING', `${file}: valid, ${plural(problems.length, 'warning')}: ${describe(problems)}`);
  return row('config', 'OK', `${file}: valid`);
}

// ---- N+1 --------------------------------------------------------------------------------------

/** One compute host as Placement and Nova's service list show it. */
export interface HostLoad {
  readonly host: string;
  /** Enabled, up and not forced down in Nova, and not a spare: the scheduler may place instances there. */
  readonly usable: boolean;
  readonly room: HostRoom;
  /** Its instances with what each takes (its allocation). */
  readonly instances: readonly InstanceDemand[];
}

/** The spares a failure would borrow ([capacity] spare_hosts; recovery/spares.ts). */
export interface SpareReading {
  /** Free (no incident's claim) and up, in the configured order: each host's entry gives its room. */
  readonly free: readonly string[];
  /** [capacity] spare_aggregates: a lent spare joins the failed host's aggregates, and so its zone. */
  readonly joinZone: boolean;
}

export type CapacityReading =
  | {
      readonly ok: true;
      readonly hosts: readonly HostLoad[];
      /** The host aggregates, for each host's availability zone; absent: not consulted. */
      readonly zones?: HaRead<readonly ZoneAggregate[]>;
      /** Absent: no spare configured; unread: the claims could not be read, so no spare counts. */
      readonly spares?: HaRead<SpareReading>;
    }
  | { readonly ok: false; readonly error: string };

const N_PLUS_ONE_LABELS = ['n_plus_one_hosts_short', 'n_plus_one_shortfall_vcpu', 'n_plus_one_shortfall_memory_mb', 'n_plus_one_shortfall_disk_gb'] as const;

const sum = (list: readonly Amounts[]): Amounts => list.reduce((a, b) => ({ VCPU: a.VCPU + b.VCPU, MEMORY_MB: a.MEMORY_MB + b.MEMORY_MB, DISK_GB: a.DISK_GB + b.DISK_GB }), NO_AMOUNTS);
const beyond = (needs: Amounts, free: Amounts): Amounts => ({ VCPU: Math.max(0, needs.VCPU - free.VCPU), MEMORY_MB: Math.max(0, needs.MEMORY_MB - free.MEMORY_MB), DISK_GB: Math.max(0, needs.DISK_GB - free.DISK_GB) });
/** Heaviest first: memory, then vCPU, then disk (what Nova's scheduler runs out of first, usually). */
const heavier = (a: Amounts, b: Amounts): number => b.MEMORY_MB - a.MEMORY_MB || b.VCPU - a.VCPU || b.DISK_GB - a.DISK_GB;

/**
 * Whether the other usable hosts of `failed`'s availability zone (decision/capacity.ts sameZone,
 * the evacuation's rule) take its instances, as the capacity step would find it: short of room,
 * the free spares are lent as recovery/spares.ts chooses them (for what the held instances need,
 * in the configured order, the fewest that cover it) and the room counted again with them.
 */
function absorbHost(failed: HostLoad, reading: Extract<CapacityReading, { ok: true }>) {
  const byHost = new Map(reading.hosts.map((h) => [h.host, h]));
  const zones = reading.zones?.ok ? reading.zones.value : undefined;
  const inZone = (hosts: readonly string[]) => (zones ? sameZone(failed.host, hosts, zones) : { zone: undefined, inZone: hosts, elsewhere: [] });
  const usable = inZone(reading.hosts.filter((h) => h.usable && h.host !== failed.host).map((h) => h.host));
  const rooms = usable.inZone.map((host) => byHost.get(host)!.room);
  const plan = canAbsorb(failed.host, failed.instances, rooms, usable.zone);
  const spares = reading.spares?.ok ? reading.spares.value : undefined;
  if (plan.absorbed || !spares) return { plan, lent: [] as string[] };
  const candidates = spares.free.filter((spare) => spare !== failed.host && byHost.has(spare));
  const lendable = spares.joinZone ? candidates : inZone(candidates).inZone;
  const seen = lendable.map((spare) => ({ spare, service: { state: 'up' as const, forcedDown: false }, claim: undefined, free: byHost.get(spare)!.room.free }));
  const lent = chooseSpares(sum(plan.held.map((held) => held.instance.needs)), seen, failed.host, '').lend.map((l) => l.spare);
  if (lent.length === 0) return { plan, lent };
  return { plan: canAbsorb(failed.host, failed.instances, [...rooms, ...lent.map((spare) => byHost.get(spare)!.room)], usable.zone), lent };
}

/**
 * Can the cloud lose any one host? Each host with instances is taken as the failed one and its
 * instances placed, one host each, on the free room of the other usable hosts of its
 * availability zone (the arithmetic and the zone rule of evacuation's capacity check), with the
 * free spares a failure would borrow when those are short. The row names the most loaded host:
 * the one short by the most, else the one with the largest instances in all. The shortfall is
 * what its held instances need beyond all the room left.
 */
export function nPlusOneVerdict(reading: CapacityReading): DoctorRow {
  if (!reading.ok) return row('n-plus-one', 'UNKNOWN', `Placement could not be read: ${reading.error}`, N_PLUS_ONE_LABELS.map((label) => ({ label, value: 'U' as const })));
  const loaded = reading.hosts.filter((h) => h.instances.length > 0);
  const perf = (short: number, shortfall: Amounts): PerfDatum[] => [
    { label: 'n_plus_one_hosts_short', value: short },
    { label: 'n_plus_one_shortfall_vcpu', value: shortfall.VCPU },
    { label: 'n_plus_one_shortfall_memory_mb', value: shortfall.MEMORY_MB },
    { label: 'n_plus_one_shortfall_disk_gb', value: shortfall.DISK_GB },
  ];
  if (loaded.length === 0) return row('n-plus-one', 'OK', `no instance on any of ${plural(reading.hosts.length, 'compute host')}`, perf(0, NO_AMOUNTS));
  const assessed = loaded.map((h) => {
    const { plan, lent } = absorbHost(h, reading);
    const shortfall = beyond(sum(plan.held.map((held) => held.instance.needs)), sum(plan.left.map((left) => left.free)));
    return { host: h, plan, lent, shortfall, total: sum(h.instances.map((i) => i.needs)) };
  });
  const short = assessed.filter((a) => !a.plan.absorbed);
  const ranked = short.length > 0 ? [...short].sort((a, b) => b.plan.held.length - a.plan.held.length || heavier(a.shortfall, b.shortfall) || a.host.host.localeCompare(b.host.host)) : [...assessed].sort((a, b) => heavier(a.total, b.total) || a.host.host.localeCompare(b.host.host));
  const top = ranked[0]!;
  const load = `${plural(top.host.instances.length, 'instance')}, ${formatAmounts(top.total)}`;
  const withSpares = (spares: readonly string[]): string => (spares.length > 0 ? ` with ${plural(spares.length, 'spare host')} (${spares.join(', ')}) lent` : '');
  const lent = withSpares(top.lent);
  // The spares another host needs are named too: the row tells what the cloud relies on.
  const othersLent = assessed.filter((a) => a !== top && a.lent.length > 0).map((a) => `${a.host.host}${withSpares(a.lent)}`);
  const caveats = [
    ...(reading.zones && !reading.zones.ok ? [`availability zones not checked, hosts of every zone counted: the host aggregates could not be read (${reading.zones.why})`] : []),
    ...(reading.spares && !reading.spares.ok ? [`no spare counted: their claims could not be read (${reading.spares.why})`] : []),
  ].map((caveat) => `; ${caveat}`).join('');
  if (short.length === 0) {
    return row('n-plus-one', 'OK', `the most loaded host, ${top.host.host} (${load}), fits on the other usable hosts${lent}: ${top.plan.summary}; so does every other host${othersLent.length ? ` (${othersLent.join('; ')})` : ''}${caveats}`, perf(0, NO_AMOUNTS));
  }
  const others = short.filter((a) => a !== top).map((a) => a.host.host);
  return row('n-plus-one', 'CRITICAL', `${top.host.host} (${load}) does not fit on the other usable hosts${lent ? ` even${lent}` : ''}: ${top.plan.summary}${others.length ? `; nor does ${others.join(', ')}` : ''}${caveats}`, perf(short.length, top.shortfall));
}

// ---- BMC ----------------------------------------------------------------------------------------

export interface BmcReading {
  readonly host: string;
  /** What a chassis power status read answered; unknown: no answer (wrong credentials, unreachable). */
  readonly state: 'on' | 'off' | 'unknown';
  readonly error?: string;
}

export type BmcInput = { readonly configured: false } | { readonly configured: true; readonly hosts: readonly BmcReading[] } | { readonly configured: true; readonly error: string };

export function bmcVerdict(input: BmcInput): DoctorRow {
  if (!input.configured) return row('bmc', 'WARNING', 'no BMC is configured ([ipmi] address_template or [ipmi:HOST] address, or [fencing] method = agent): no host can be fenced, so none is evacuated', [{ label: 'bmc_failed', value: 'U' }, { label: 'bmc_hosts', value: 0 }]);
  if ('error' in input) return row('bmc', 'UNKNOWN', `the compute hosts could not be listed: ${input.error}`, [{ label: 'bmc_failed', value: 'U' }, { label: 'bmc_hosts', value: 'U' }]);
  const hosts = input.hosts;
  const failed = hosts.filter((h) => h.state === 'unknown');
  const perf = [{ label: 'bmc_failed', value: failed.length }, { label: 'bmc_hosts', value: hosts.length }];
  if (hosts.length === 0) return row('bmc', 'UNKNOWN', 'no compute host is known (none in the mgmt catalog with the compute role, none in nova-ha\'s records)', perf);
  if (failed.length > 0) return row('bmc', 'CRITICAL', `${failed.length} of ${hosts.length} BMCs did not answer a power status read: ${failed.map((h) => `${h.host} (${h.error ?? 'no answer'})`).join('; ')}; fix the credentials or the BMC's address before one of them fails`, perf);
  const off = hosts.filter((h) => h.state === 'off').map((h) => h.host);
  return row('bmc', 'OK', `${plural(hosts.length, 'BMC')} answered a power status read${off.length ? ` (powered off: ${off.join(', ')})` : ''}`, perf);
}

// ---- Nova -------------------------------------------------------------------------------------

export type Listing = { readonly ok: true; readonly count: number } | { readonly ok: false; readonly error: string };

/** What Nova answered a request it was meant to refuse, when; no status: no HTTP answer. */
export interface DryAnswer {
  readonly request: string;
  readonly status?: number;
  readonly message: string;
  /** Nova's request ID: what to look for in nova-api's log. */
  readonly requestId?: string;
  readonly at: number;
}

export interface NovaInput {
  readonly services: Listing;
  readonly servers: Listing;
  /** Undefined: never asked. */
  readonly forceDown?: DryAnswer;
  /** Undefined: never asked (the CLI asks it); a string: why it could not be asked. */
  readonly evacuate?: DryAnswer | string;
  readonly now: number;
}

type Permission = 'allowed' | 'denied' | 'unclear';

/** PUT /os-services/<unknown ID>: Nova looks the service up only after its policy allowed the update. */
export function forceDownPermission(answer: DryAnswer): Permission {
  if (answer.status === 404 && /could not be found|not found/i.test(answer.message)) return 'allowed';
  if (answer.status === 403) return 'denied';
  return 'unclear';
}

/** Evacuate with force and no host (2.29): Nova refuses it after reading the server and its policy. */
export function evacuatePermission(answer: DryAnswer): Permission {
  if (answer.status === 400 && /non-provided destination/i.test(answer.message)) return 'allowed';
  if (answer.status === 403) return 'denied';
  return 'unclear';
}

const ago = (ms: number): string => (ms < 1000 ? 'just now' : `${formatDuration(ms)} ago`);

const describeAnswer = (answer: DryAnswer, now: number): string =>
  `${answer.request} → ${answer.status === undefined ? 'no answer' : `HTTP ${answer.status}`}${answer.message ? ` "${answer.message.slice(0, 120)}"` : ''}${answer.requestId ? ` (request ${answer.requestId})` : ''}, ${ago(Math.max(0, now - answer.at))}`;

const MEANING: Record<Permission, string> = { allowed: 'allowed (refused after the policy check)', denied: 'NOT allowed (refused by the policy)', unclear: 'cannot tell (refused before the policy check, or another answer)' };

export function novaVerdict(input: NovaInput): DoctorRow {
  const parts: string[] = [];
  const statuses: DoctorStatus[] = [];
  const listing = (what: string, l: Listing): void => {
    parts.push(l.ok ? `${what}: listed (${l.count})` : `${what}: NOT listed (${l.error})`);
    statuses.push(l.ok ? 'OK' : 'CRITICAL');
  };
  listing('services', input.services);
  listing('servers of all projects', input.servers);
  const permission = (what: string, answer: DryAnswer | string | undefined, meaning: (a: DryAnswer) => Permission, never: string): void => {
    if (answer === undefined || typeof answer === 'string') {
      parts.push(`${what}: unknown (${answer ?? never})`);
      statuses.push('UNKNOWN');
      return;
    }
    const verdict = meaning(answer);
    parts.push(`${what}: ${MEANING[verdict]}: ${describeAnswer(answer, input.now)}`);
    statuses.push(verdict === 'allowed' ? 'OK' : verdict === 'denied' ? 'CRITICAL' : 'UNKNOWN');
  };
  permission('force down', input.forceDown, forceDownPermission, 'not asked yet');
  permission('evacuate', input.evacuate, evacuatePermission, 'not asked yet: run nova-ha doctor once on a controller');
  return row('nova', worst(statuses), parts.join('; '));
}

// ---- Consul -----------------------------------------------------------------------------------

export interface ConsulReading {
  readonly network: Network;
  readonly catalog: Listing;
  /** mgmt only: a read under nova-ha's KV prefix. */
  readonly kv?: { readonly ok: true; readonly key: string } | { readonly ok: false; readonly key: string; readonly error: string };
}

export function consulVerdict(readings: readonly ConsulReading[]): DoctorRow {
  const parts: string[] = [];
  const failed: string[] = [];
  for (const r of readings) {
    const catalog = r.catalog.ok ? (r.catalog.count > 0 ? `catalog read (${plural(r.catalog.count, 'node')})` : 'the catalog read shows no node: the token lacks node:read') : `catalog NOT read (${r.catalog.error})`;
    if (!r.catalog.ok || r.catalog.count === 0) failed.push(r.network);
    const kv = r.kv ? (r.kv.ok ? `, KV ${r.kv.key} read` : `, KV ${r.kv.key} NOT read (${r.kv.error})`) : '';
    if (r.kv && !r.kv.ok && !failed.includes(r.network)) failed.push(r.network);
    parts.push(`${r.network}: ${catalog}${kv}`);
  }
  const text = parts.join('; ');
  return row('consul', failed.length > 0 ? 'CRITICAL' : 'OK', failed.length > 0 ? `nova-ha's token fails in ${failed.join(', ')} ([consul] <network>_token, docs/consul-acl): ${text}` : text);
}

// ---- repair keys ------------------------------------------------------------------------------

export interface ComputeRepairKey {
  readonly host: string;
  /** Undefined: its nova-compute check names no key (an older nova-ha there, or no result yet). */
  readonly keys?: RepairKeyFingerprints;
}

export type RepairKeyInput = { readonly ok: true; readonly own: string; readonly computes: readonly ComputeRepairKey[] } | { readonly ok: false; readonly error: string };

export function repairKeysVerdict(input: RepairKeyInput): DoctorRow {
  if (!input.ok) return row('repair-keys', 'UNKNOWN', `the computes' nova-compute checks could not be read: ${input.error}`, [{ label: 'repair_key_mismatch', value: 'U' }]);
  const { own, computes } = input;
  const mismatched = computes.filter((c) => c.keys && c.keys.current !== own && c.keys.previous !== own);
  const silent = computes.filter((c) => !c.keys).map((c) => c.host);
  const perf = [{ label: 'repair_key_mismatch', value: mismatched.length }];
  if (computes.length === 0) return row('repair-keys', 'UNKNOWN', 'no compute has a nova-compute check in the mgmt cluster', perf);
  if (mismatched.length > 0) {
    return row('repair-keys', 'CRITICAL', `${mismatched.length} of ${computes.length} computes would refuse this controller's repair requests (its key ${own}): ${mismatched.map((c) => `${c.host} accepts ${c.keys!.current}`).join(', ')}; set the same [remediation] hmac_key everywhere (docs/security.md)${silent.length ? `; no key shown by ${silent.join(', ')}` : ''}`, perf);
  }
  if (silent.length > 0) return row('repair-keys', 'WARNING', `${silent.join(', ')}: the nova-compute check names no repair key (nova-ha there is older, or the check has not run since); the ${computes.length - silent.length} others accept ${own}`, perf);
  return row('repair-keys', 'OK', `${plural(computes.length, 'compute')} accept this controller's repair key ${own}`, perf);
}

// ---- clocks -----------------------------------------------------------------------------------

/** A controller's clock against Nova's (the Date header), as its doctor check last measured it. */
export interface ClockRecord {
  readonly node: string;
  /** Nova's clock minus this controller's (ms). */
  readonly offsetMs: number;
  readonly at: number;
}

/**
 * Nova's Date header has whole seconds: Nova's clock was somewhere in [date, date + 1 s) when it
 * answered, taken here as the middle, against the middle of this node's request.
 */
export const clockOffset = (reading: { readonly date: number; readonly sentAt: number; readonly receivedAt: number }): number => Math.round(reading.date + 500 - (reading.sentAt + reading.receivedAt) / 2);

export interface ClockInput {
  readonly records: readonly ClockRecord[];
  readonly now: number;
  /** [remediation] max_age: a repair request signed further apart than this is refused. */
  readonly windowMs: number;
  /** Records older than this are left out (that controller's check has not run lately). */
  readonly staleAfterMs: number;
}

/** A record older than this is a controller long gone (decommissioned, renamed): not even named. */
const CLOCK_RECORD_FORGOTTEN = 24 * 3600_000;

export function clocksVerdict(input: ClockInput | { readonly error: string }): DoctorRow {
  if ('error' in input) return row('clocks', 'UNKNOWN', `the controllers' clock records could not be read: ${input.error}`, [{ label: 'clock_skew_ms', value: 'U' }, { label: 'clock_controllers', value: 'U' }]);
  const fresh = input.records.filter((r) => input.now - r.at <= input.staleAfterMs).sort((a, b) => a.offsetMs - b.offsetMs);
  const stale = input.records.filter((r) => !fresh.includes(r) && input.now - r.at <= CLOCK_RECORD_FORGOTTEN).map((r) => `${r.node} (measured ${formatDuration(input.now - r.at)} ago)`);
  const staleText = stale.length ? `; left out, too old: ${stale.join(', ')}` : '';
  if (fresh.length === 0) return row('clocks', 'UNKNOWN', `no controller measured its clock in the last ${formatDuration(input.staleAfterMs)}${staleText}`, [{ label: 'clock_skew_ms', value: 'U' }, { label: 'clock_controllers', value: 0 }]);
  const skew = fresh.at(-1)!.offsetMs - fresh[0]!.offsetMs;
  const perf = [{ label: 'clock_skew_ms', value: skew }, { label: 'clock_controllers', value: fresh.length }];
  const offsets = fresh.map((r) => `${r.node} ${r.offsetMs >= 0 ? '+' : ''}${r.offsetMs} ms`).join(', ');
  const text = `${plural(fresh.length, 'controller')} compared: skew ${skew} ms (Nova's clock minus each: ${offsets}); repair requests are refused beyond ${formatDuration(input.windowMs)} ([remediation] max_age)${staleText}`;
  if (skew >= input.windowMs) return row('clocks', 'CRITICAL', `${text}; sync the clocks (chrony/NTP)`, perf);
  if (skew >= input.windowMs / 2) return row('clocks', 'WARNING', `${text}; more than half the window: check NTP`, perf);
  return row('clocks', 'OK', text, perf);
}

// ---- summary ----------------------------------------------------------------------------------

const formatPerf = (p: PerfDatum): string => `${p.label}=${p.value}`;

/** Consul keeps 4 KiB of a check's output; the status line stays well within it. */
const STATUS_TEXT_LIMIT = 600;

export function summarize(rows: readonly DoctorRow[]): DoctorReport {
  const status = worst(rows.map((r) => r.status));
  const troubled = rows.filter((r) => r.status !== 'OK').sort((a, b) => RANK[b.status] - RANK[a.status]);
  const text = troubled.length === 0 ? `all ${rows.length} readiness checks passed` : troubled.map((r) => `${r.check}: ${r.found}`).join('; ');
  const clipped = text.length > STATUS_TEXT_LIMIT ? `${text.slice(0, STATUS_TEXT_LIMIT - 3)}...` : text;
  const perfdata = rows.flatMap((r) => r.perfdata).map(formatPerf).join(' ');
  return { status, rows, statusLine: `${status}: ${clipped.replaceAll('|', '/')}${perfdata ? ` | ${perfdata}` : ''}` };
}
