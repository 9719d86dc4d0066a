/**
 * The evacuation engine (design.md section 5): list the fenced host's instances for all tenants,
 * select and order them, record the whole batch's calls in the incident (one write) before any
 * is made, so that no instance is evacuated twice even when the worker is killed and another
 * resumes; then call Nova for each, a bounded number of calls in flight, and confirm them all
 * together: one server list per look, the looks starting late and backing off.
 *
 * Nova's own floor is one call per instance and a look now and then; each look costs Nova its
 * Neutron queries, so nova-ha looks at the whole host at once, never one server at a time.
 */
import type { InstanceOutcome } from '../state/incident.js';
import type { Logger } from '../shared/log.js';
import type { ActionResult, Aggregate, Image, Migration, MigrationFilter, Server } from '../systems/nova/index.js';
import { mapLimit } from '../shared/pool.js';
import { resolveHaPolicy, type HaInputs, type HaRead, type NamedValues } from '../decision/ha-policy.js';

export interface EvacuationSettings {
  readonly concurrency: number;
  readonly mode: 'opt-out' | 'opt-in';
  readonly selectKey: string;
  readonly priorityKey: string;
  readonly retries: number;
  readonly instanceTimeout: number;
}

/** The part of the Nova client the engine uses. */
export interface EvacuationNova {
  /** Every server on host, all projects: read once, right before the calls. */
  listServersOnHost(host: string): Promise<Server[]>;
  /** Every server changed since a time of Nova's clock (deleted ones too): one look at all instances under way. */
  listServersChangedSince(since: number): Promise<Server[]>;
  /** One server: only before a retried call, and for an instance a look did not show. */
  getServer(id: string): Promise<Server>;
  evacuate(id: string, options: { readonly fromHost: string }): Promise<ActionResult>;
  liveMigrate(id: string, options: { readonly fromHost: string }): Promise<ActionResult>;
  /** The host's migrations of one kind: what an earlier worker's calls came to, and each move's record. */
  listMigrations(filter: MigrationFilter): Promise<Migration[]>;
  /** Every host aggregate (the HA policy's least specific source): read once per run. */
  listAggregates(): Promise<Aggregate[]>;
  /** One image's properties (the HA policy): each image of the host's instances read once per run. */
  getImage(id: string): Promise<Image>;
}

/**
 * When the engine looks at the instances under way: the first look comes `firstMs` after the
 * first call was accepted (a rebuild takes seconds), then every `nextMs`, growing by `growth`
 * up to `maxMs`: fewer looks while Nova works, and a finished instance is seen at most `maxMs` late.
 */
export interface LookSchedule {
  readonly firstMs: number;
  readonly nextMs: number;
  readonly growth: number;
  readonly maxMs: number;
}

export const DEFAULT_LOOKS: LookSchedule = { firstMs: 2000, nextMs: 1000, growth: 1.25, maxMs: 2000 };

/** Evacuation rebuilds instances of a fenced host; live migration moves running ones off a degraded host (the opt-in drain). */
export type MoveKind = 'evacuation' | 'live-migration';

export interface Selection {
  /** In the order they are evacuated: highest priority first, then by name. */
  readonly evacuate: readonly Server[];
  readonly skipped: readonly { readonly server: Server; readonly reason: string }[];
  /** By instance ID, where its priority came from, for the instances whose sources said anything ("priority 80 from image cirros-ha"). */
  readonly priorities: ReadonlyMap<string, string>;
}

/** What the HA policy read besides the servers, once per run; a failed read is unknown, with why. */
export interface PolicyContext {
  /** By image ID. */
  readonly images: ReadonlyMap<string, HaRead<Image>>;
  readonly aggregates: HaRead<readonly Aggregate[]>;
}

/** Nova evacuates only servers in these vm_states (compute API check_instance_state). */
const EVACUABLE = new Set(['active', 'stopped', 'error']);

/** The priority its metadata alone gives (a number, else 0). */
export function priorityOf(server: Server, key: string): number {
  return resolveHaPolicy({ metadata: server.metadata }, { mode: 'opt-out', selectKey: '', priorityKey: key }).priority;
}

/** The HA policy's sources of one server: without a context, only its metadata (lib/decision/ha-policy.ts). */
function policyInputs(server: Server, context: PolicyContext | undefined): HaInputs {
  if (!context) return { metadata: server.metadata };
  const image = imageSource(server, context);
  return { metadata: server.metadata, ...(image ? { image } : {}), flavor: flavorSource(server), aggregates: aggregateSources(server, context) };
}

/** undefined: booted from a volume, so it has no image of its own. */
function imageSource(server: Server, context: PolicyContext): HaRead<NamedValues> | undefined {
  if (server.imageId === null) return undefined;
  if (server.imageId === undefined) return { ok: false, why: "Nova's reply names no image" };
  const read = context.images.get(server.imageId);
  if (read === undefined) return { ok: false, why: 'not read' };
  return read.ok ? { ok: true, value: { name: read.value.name || read.value.id, values: read.value.properties } } : read;
}

function flavorSource(server: Server): HaRead<NamedValues> {
  if (server.flavor === undefined) return { ok: false, why: 'Nova did not embed the flavor (compute microversion below 2.47)' };
  if (server.flavor.extraSpecs === null) return { ok: false, why: `Nova did not show flavor ${server.flavor.name}'s extra specs (policy os_compute_api:servers:show:flavor-extra-specs)` };
  return { ok: true, value: { name: server.flavor.name, values: server.flavor.extraSpecs } };
}

function aggregateSources(server: Server, context: PolicyContext): HaRead<readonly NamedValues[]> {
  if (!context.aggregates.ok) return context.aggregates;
  const mine = context.aggregates.value.filter((a) => server.host !== null && a.hosts.includes(server.host));
  return { ok: true, value: mine.map((a) => ({ name: a.name, values: a.metadata })) };
}

/**
 * Which instances to evacuate, in which order, and why the others are left (pure: table-tested).
 * The priority and the opt-in/opt-out come from the instance's metadata, and with a context from
 * its image, flavor and host aggregates too, most specific first (lib/decision/ha-policy.ts).
 */
export function selectInstances(servers: readonly Server[], settings: Pick<EvacuationSettings, 'mode' | 'selectKey' | 'priorityKey'>, context?: PolicyContext): Selection {
  const evacuate: { server: Server; priority: number }[] = [];
  const skipped: { server: Server; reason: string }[] = [];
  const priorities = new Map<string, string>();
  for (const server of servers) {
    if (server.partial) {
      skipped.push({ server, reason: 'Nova cannot reach its cell, so it is listed with only its ID' });
      continue;
    }
    const policy = resolveHaPolicy(policyInputs(server, context), settings);
    if (!policy.evacuate) skipped.push({ server, reason: policy.reason! });
    else if (server.vmState && !EVACUABLE.has(server.vmState)) skipped.push({ server, reason: `its vm_state is ${server.vmState}; Nova evacuates only active, stopped or errored servers` });
    else {
      evacuate.push({ server, priority: policy.priority });
      if (policy.notable) priorities.set(server.id, policy.priorityFrom);
    }
  }
  evacuate.sort((a, b) => b.priority - a.priority || a.server.name.localeCompare(b.server.name) || a.server.id.localeCompare(b.server.id));
  return { evacuate: evacuate.map((e) => e.server), skipped, priorities };
}

export interface EvacuationRun {
  readonly kind: MoveKind;
  readonly nova: EvacuationNova;
  readonly host: string;
  /** When the incident opened: an evacuation migration of an instance from host since then is ours. */
  readonly since: number;
  readonly settings: EvacuationSettings;
  readonly log: Logger;
  /** The outcomes recorded so far in the incident (a resumed run starts from them). */
  readonly recorded: readonly InstanceOutcome[];
  /** Records these instances' outcomes in the incident, all in one write (serialized by the caller). */
  readonly record: (outcomes: readonly InstanceOutcome[]) => Promise<void>;
  readonly stillOwner: () => boolean;
  readonly progress?: (done: number, total: number) => void;
  readonly looks?: LookSchedule;
  /**
   * Of the instances about to be called for (in priority order), those to call for now; the
   * others are left on the host, uncalled (the capacity step holds them for room).
   */
  readonly admit?: (servers: readonly Server[], aggregates: HaRead<readonly Aggregate[]>) => Promise<readonly Server[]>;
}

/** What one run of the engine did, for the step's record and the logs. */
export interface EvacuationReport {
  readonly outcomes: InstanceOutcome[];
  /** Calls made to Nova by kind: list (host listing and looks), get, move (evacuate or live-migrate), migrations. */
  readonly calls: Readonly<Record<'list' | 'get' | 'move' | 'migrations', number>>;
  /** Looks at the instances under way. */
  readonly looks: number;
  /** From the first accepted call to the last (ms); 0 for one call, undefined for none. */
  readonly callSpreadMs?: number;
}

const MOVED: ReadonlySet<InstanceOutcome['outcome']> = new Set(['evacuated', 'live-migrated']);
const GONE = new Set(['DELETED', 'SOFT_DELETED']);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/**
 * Looks ask Nova for servers changed since the earliest call, minus this much: its Date header
 * has whole seconds, and the Nova services that write updated_at later have clocks of their own.
 * An instance a look misses all the same is read by itself.
 */
const CLOCK_MARGIN_MS = 60_000;
/** Without Nova's time of a call (no Date header, no migration record), this node's clock with a wide margin. */
const UNKNOWN_CLOCK_MARGIN_MS = 10 * 60_000;
/** A migration of an instance from host created since the incident opened (minus clock skew) is one of this incident's. */
const OURS_MARGIN_MS = 60_000;

/** An instance called for (now or by an earlier run) whose outcome is not known yet. */
interface UnderWay {
  readonly id: string;
  readonly name: string;
  readonly calledAt: number;
  /** When Nova accepted the call, by Nova's clock (ms). */
  readonly acceptedAt: number;
  /** Seen idle on the source host after the call was accepted: the move may have been rolled back. */
  idleSeen: number;
}

const novaTime = (text: string | null): number | undefined => {
  if (!text) return undefined;
  const at = Date.parse(/(Z|[+-]\d\d:?\d\d)$/.test(text) ? text : `${text}Z`);
  return Number.isNaN(at) ? undefined : at;
};

export async function evacuateInstances(run: EvacuationRun): Promise<EvacuationReport> {
  const { nova, host, settings } = run;
  const looksAt = run.looks ?? DEFAULT_LOOKS;
  const calls = { list: 0, get: 0, move: 0, migrations: 0 };
  const recorded = new Map(run.recorded.map((o) => [o.id, o]));
  const outcomes = new Map<string, InstanceOutcome>(recorded);
  const moved: InstanceOutcome['outcome'] = run.kind === 'evacuation' ? 'evacuated' : 'live-migrated';

  calls.list++;
  // The aggregates are read while the host's servers are listed: the list stays the last read before the batch.
  const [aggregates, onHost] = await Promise.all([readWithin(() => nova.listAggregates()), nova.listServersOnHost(host)]);
  const listed = new Map(onHost.map((s) => [s.id, s]));
  const context = { images: await readImages(nova, onHost, settings.concurrency), aggregates };
  const selection = selectInstances(onHost, settings, context);
  logPolicyReads(run.log, run.kind, context);
  const priorities = new Map([...run.recorded.flatMap((o) => (o.priority !== undefined ? [[o.id, o.priority] as const] : [])), ...selection.priorities]);
  const withPriority = (o: InstanceOutcome): InstanceOutcome => (o.priority !== undefined || !priorities.has(o.id) ? o : { ...o, priority: priorities.get(o.id)! });
  const record = (outcomes: readonly InstanceOutcome[]): Promise<void> => run.record(outcomes.map(withPriority));

  // Instances called for by an earlier run and still unsettled, or on the host again: what did the calls come to?
  const work = [...selection.evacuate.map((s) => ({ id: s.id, name: s.name })), ...[...recorded.values()].filter((o) => o.outcome === 'evacuating' && !listed.has(o.id)).map((o) => ({ id: o.id, name: o.name }))];
  const calledBefore = work.filter((w) => recorded.get(w.id)?.calledAt !== undefined);
  const migrationsFrom = async (): Promise<Migration[]> => {
    calls.migrations++;
    return (await nova.listMigrations({ type: run.kind, sourceCompute: host })).filter((m) => (novaTime(m.createdAt) ?? Infinity) >= run.since - OURS_MARGIN_MS);
  };
  const earlier = calledBefore.length > 0 ? await migrationsFrom() : [];
  const underWay = new Map<string, UnderWay>();
  const toCall: { id: string; name: string }[] = [];
  for (const w of work) {
    const before = recorded.get(w.id);
    if (before?.calledAt === undefined) {
      toCall.push(w);
      continue;
    }
    // Called before, by a worker that died or a run that failed. Nova's migration records tell
    // whether the call reached it: none, or only failed ones with the server still here and
    // idle, means call again.
    const live = earlier.filter((m) => m.instanceUuid === w.id && m.status !== 'failed' && m.status !== 'error');
    const server = listed.get(w.id);
    if (live.length === 0 && server !== undefined && !server.taskState) {
      toCall.push(w);
    } else {
      const migration = live[0];
      run.log.info('move-resumed', { step: run.kind, instance: w.id, detail: `called at ${new Date(before.calledAt).toISOString()} by an earlier run; Nova has ${migration ? `migration ${migration.uuid ?? migration.id} (${migration.status})` : 'it under way'}: confirming, not calling again` });
      const acceptedAt = novaTime(migration?.createdAt ?? null) ?? before.calledAt - UNKNOWN_CLOCK_MARGIN_MS;
      underWay.set(w.id, { id: w.id, name: w.name, calledAt: before.calledAt, acceptedAt, idleSeen: 0 });
    }
  }

  if (run.admit && toCall.length > 0) {
    const admitted = new Set((await run.admit(toCall.flatMap((w) => listed.get(w.id) ?? []), aggregates)).map((s) => s.id));
    const held = new Set(toCall.filter((w) => !admitted.has(w.id)).map((w) => w.id));
    toCall.splice(0, toCall.length, ...toCall.filter((w) => !held.has(w.id)));
    work.splice(0, work.length, ...work.filter((w) => !held.has(w.id)));
  }

  // One write: the instances skipped, and every instance about to be called for (at most once, resumable).
  const now = Date.now();
  const batch: InstanceOutcome[] = [
    ...selection.skipped.filter(({ server }) => recorded.get(server.id)?.outcome !== 'skipped').map(({ server, reason }): InstanceOutcome => ({ id: server.id, name: server.name, outcome: 'skipped', from: host, detail: reason })),
    ...toCall.map((w): InstanceOutcome => withPriority({ id: w.id, name: w.name, outcome: 'evacuating', from: host, calledAt: now })),
  ];
  if (batch.length > 0) {
    if (!run.stillOwner()) throw new Error(`lost the lock of ${host} before calling Nova; another controller resumes the ${run.kind}`);
    await record(batch);
    for (const o of batch) outcomes.set(o.id, o);
  }

  const total = work.length + [...recorded.values()].filter((o) => MOVED.has(o.outcome) && !work.some((w) => w.id === o.id)).length;
  let done = total - work.length;
  run.progress?.(done, total);

  const settle = new Map<string, InstanceOutcome>();
  const confirmed = new Set<string>();
  let wake: () => void = () => undefined;
  const poke = (): void => wake();
  const accepted: number[] = [];
  let calling = true;

  const callAll = mapLimit(toCall, settings.concurrency, async ({ id, name }) => {
    const base = { id, name, from: host, calledAt: now };
    for (let attempt = 0; ; attempt++) {
      if (!run.stillOwner()) return; // recorded as about to be called: a successor asks Nova what came of it
      if (attempt > 0) {
        // Before calling again: where is it now? The refused attempt may have gone through after all.
        calls.get++;
        const server = await nova.getServer(id).catch(() => undefined);
        // On another host: moved. With no host (Nova lists it with only its ID while its cell is
        // unreachable) it is nowhere yet: the call is made again and Nova decides.
        if (server?.host && server.host !== host) {
          settle.set(id, { ...base, outcome: moved, to: server.host, detail: `already on ${server.host}; not called again` });
          return poke();
        }
        if (server?.taskState) {
          underWay.set(id, { id, name, calledAt: now, acceptedAt: now - UNKNOWN_CLOCK_MARGIN_MS, idleSeen: 0 });
          return poke();
        }
      }
      try {
        calls.move++;
        const result = run.kind === 'evacuation' ? await nova.evacuate(id, { fromHost: host }) : await nova.liveMigrate(id, { fromHost: host });
        accepted.push(Date.now());
        run.log.info('move-called', { step: run.kind, instance: id, request: result.requestId, confirmed_by: result.confirmedBy });
        underWay.set(id, { id, name, calledAt: now, acceptedAt: result.acceptedAt ?? now - UNKNOWN_CLOCK_MARGIN_MS, idleSeen: 0 });
        return poke();
      } catch (error) {
        const message = (error as Error).message;
        if (attempt >= settings.retries) {
          settle.set(id, { ...base, outcome: 'failed', detail: `${run.kind} refused: ${message}` });
          return poke();
        }
        run.log.warn('move-retry', { step: run.kind, instance: id, attempt: attempt + 1, error: message });
        await sleep(Math.min(30_000, 1000 * 2 ** attempt));
      }
    }
  }).finally(() => {
    calling = false;
    poke();
  });

  const flush = async (): Promise<void> => {
    if (settle.size === 0) return;
    const settled = [...settle.values()].map(withPriority);
    settle.clear();
    for (const o of settled) {
      outcomes.set(o.id, o);
      underWay.delete(o.id);
      if (MOVED.has(o.outcome)) {
        done++;
        confirmed.add(o.id);
      }
    }
    await record(settled);
    run.progress?.(done, total);
  };

  let looks = 0;
  let interval = looksAt.nextMs;
  let nextLook: number | undefined;
  for (;;) {
    await flush();
    if (underWay.size === 0) {
      if (!calling) break;
      await new Promise<void>((resolve) => (wake = resolve));
      continue;
    }
    nextLook ??= Math.min(...[...underWay.values()].map((u) => u.calledAt)) + looksAt.firstMs;
    const wait = nextLook - Date.now();
    if (wait > 0) {
      await Promise.race([sleep(wait), new Promise<void>((resolve) => (wake = resolve))]);
      if (Date.now() < nextLook) continue; // woken early: record what settled meanwhile
    }
    if (!run.stillOwner()) throw new Error(`lost the lock of ${host} while confirming; another controller resumes the ${run.kind}`);
    looks++;
    await look(run, [...underWay.values()], calls, settle, migrationsFrom);
    nextLook = Date.now() + interval;
    interval = Math.min(looksAt.maxMs, interval * looksAt.growth);
  }
  await callAll;
  await flush();

  // Each move's own record, for the operators: one call for all of them.
  if (confirmed.size > 0 && run.stillOwner()) {
    const migrations = await migrationsFrom().catch(() => []);
    const annotated = [...confirmed].flatMap((id) => {
      const o = outcomes.get(id)!;
      const m = migrations.find((x) => x.instanceUuid === id && x.destCompute === o.to);
      return m ? [{ ...o, detail: `${o.detail}, migration ${m.uuid ?? m.id} ${m.status}` }] : [];
    });
    if (annotated.length > 0) {
      await record(annotated);
      for (const o of annotated) outcomes.set(o.id, o);
    }
  }
  const spread = accepted.length > 0 ? Math.max(...accepted) - Math.min(...accepted) : undefined;
  const report: EvacuationReport = { outcomes: [...outcomes.values()], calls, looks, ...(spread !== undefined ? { callSpreadMs: spread } : {}) };
  run.log.info('move-report', { step: run.kind, detail: `${report.calls.move} calls over ${spread !== undefined ? `${(spread / 1000).toFixed(1)} s` : '-'}, ${looks} looks`, calls: report.calls });
  return report;
}

/**
 * One look at every instance under way: one server list of what changed since the earliest call
 * (the instances it misses, read one by one), and Nova's migration records only for instances
 * seen idle on the host twice, which a rolled-back move leaves there.
 */
async function look(run: EvacuationRun, underWay: readonly UnderWay[], calls: { list: number; get: number; migrations: number }, settle: Map<string, InstanceOutcome>, migrationsFrom: () => Promise<Migration[]>): Promise<void> {
  const { nova, host, settings } = run;
  const moved: InstanceOutcome['outcome'] = run.kind === 'evacuation' ? 'evacuated' : 'live-migrated';
  const since = Math.min(...underWay.map((u) => u.acceptedAt)) - CLOCK_MARGIN_MS;
  let seen = new Map<string, Server>();
  let answered = false;
  try {
    calls.list++;
    seen = new Map((await nova.listServersChangedSince(since)).map((s) => [s.id, s]));
    answered = true;
  } catch (error) {
    run.log.warn('move-look-failed', { step: run.kind, error: (error as Error).message, detail: 'looking again later' });
  }
  const missing = underWay.filter((u) => !seen.has(u.id));
  if (answered && missing.length > 0) {
    run.log.warn('move-look-missed', { step: run.kind, detail: `${missing.length} instances not in the list of servers changed since ${new Date(since).toISOString()}; reading them one by one (is a Nova host's clock behind?)` });
    for (const u of missing) {
      calls.get++;
      const server = await nova.getServer(u.id).catch(() => undefined);
      if (server) seen.set(u.id, server);
    }
  }

  const base = (u: UnderWay): { id: string; name: string; from: string; calledAt: number } => ({ id: u.id, name: u.name, from: host, calledAt: u.calledAt });
  for (const u of underWay) {
    const s = seen.get(u.id);
    if (s && s.host && s.host !== host && !s.taskState && (s.status === 'ACTIVE' || s.status === 'SHUTOFF')) {
      settle.set(u.id, { ...base(u), outcome: moved, to: s.host, detail: `${s.status} on ${s.host}` });
    } else if (s?.status === 'ERROR' && !s.taskState) {
      const fault = s.fault?.message ? oneLine(s.fault.message) : undefined;
      settle.set(u.id, { ...base(u), outcome: 'failed', detail: `ERROR on ${s.host ?? 'no host'} after the ${run.kind}${fault ? `: ${fault}` : ''} (see: openstack server show ${u.id})`, ...(fault ? { fault } : {}) });
    } else if (s && GONE.has(s.status)) {
      settle.set(u.id, { ...base(u), outcome: 'failed', detail: `deleted during the ${run.kind}` });
    } else if (Date.now() >= u.calledAt + settings.instanceTimeout) {
      settle.set(u.id, { ...base(u), outcome: 'failed', detail: `not ACTIVE (or SHUTOFF) elsewhere within ${Math.round(settings.instanceTimeout / 1000)}s (last seen ${s ? `${s.status} on ${s.host}, task ${s.taskState ?? 'none'}` : 'never'})` });
    } else if (s && s.host === host && !s.taskState) {
      // Idle on the host after Nova accepted the call: either the instant between Nova's two
      // writes at the end of a rebuild, or a move Nova rolled back. Its migration record tells.
      u.idleSeen++;
    }
  }
  const suspects = underWay.filter((u) => u.idleSeen >= 2 && !settle.has(u.id));
  if (suspects.length === 0) return;
  const migrations = await migrationsFrom().catch(() => []);
  for (const u of suspects) {
    const mine = migrations.filter((m) => m.instanceUuid === u.id);
    if (mine.length > 0 && mine.every((m) => m.status === 'failed' || m.status === 'error')) {
      const fault = seen.get(u.id)?.fault?.message;
      settle.set(u.id, { ...base(u), outcome: 'failed', detail: `Nova gave the ${run.kind} up (migration ${mine[0]!.uuid ?? mine[0]!.id} ${mine[0]!.status}); it is still on ${host}${fault ? `: ${oneLine(fault)}` : ''} (see: openstack server event list ${u.id})`, ...(fault ? { fault: oneLine(fault) } : {}) });
    }
  }
}

const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim();

/**
 * How long the HA policy's reads (aggregates, images) may delay the first evacuate call: beyond
 * it their sources count as unread, and the less specific ones decide. A few seconds: Nova's and
 * Glance's reads take tens of milliseconds when they answer at all.
 */
const POLICY_READ_BUDGET_MS = 5_000;

/** A read that fails or takes longer than the budget is unknown, with why; it never throws. */
async function readWithin<T>(read: () => Promise<T>): Promise<HaRead<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<HaRead<T>>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, why: `no answer within ${POLICY_READ_BUDGET_MS / 1000} s` }), POLICY_READ_BUDGET_MS);
  });
  const answer = read().then(
    (value): HaRead<T> => ({ ok: true, value }),
    (error: unknown): HaRead<T> => ({ ok: false, why: oneLine((error as Error).message ?? String(error)) }),
  );
  try {
    return await Promise.race([answer, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Each image of the host's instances, once, a bounded number at a time. */
async function readImages(nova: EvacuationNova, servers: readonly Server[], concurrency: number): Promise<Map<string, HaRead<Image>>> {
  const ids = [...new Set(servers.flatMap((s) => (s.partial || !s.imageId ? [] : [s.imageId])))];
  const reads = await readWithin(() => mapLimit(ids, concurrency, async (id) => [id, await readWithin(() => nova.getImage(id))] as const));
  return new Map(reads.ok ? reads.value : ids.map((id) => [id, reads]));
}

/** The policy's sources that could not be read, once per run: what each instance's record then stands on. */
function logPolicyReads(log: Logger, kind: MoveKind, context: PolicyContext): void {
  const unread = [...(context.aggregates.ok ? [] : [`host aggregates: ${context.aggregates.why}`]), ...[...context.images].flatMap(([id, read]) => (read.ok ? [] : [`image ${id}: ${read.why}`]))];
  if (unread.length > 0) log.warn('ha-policy-unread', { step: kind, detail: `${unread.join('; ')}; the HA priority and opt-in/opt-out come from the other sources (see: nova-ha incident)` });
}

export function evacuationSettings(config: { evacuation: { concurrency: number; mode: 'opt-out' | 'opt-in'; select_key: string; priority_key: string; retries: number; instance_timeout: number } }): EvacuationSettings {
  const e = config.evacuation;
  return { concurrency: e.concurrency, mode: e.mode, selectKey: e.select_key, priorityKey: e.priority_key, retries: e.retries, instanceTimeout: e.instance_timeout };
}
