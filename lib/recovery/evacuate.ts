/**
 * The evacuation engine (design.md section 5): list the fenced host's instances for all tenants,
 * select and order them, evacuate with bounded concurrency, confirm each one, and record every
 * call in the incident before it is made, so that no instance is evacuated twice, even when the
 * worker is killed and another resumes.
 */
import type { InstanceOutcome } from '../state/incident.js';
import type { Logger } from '../shared/log.js';
import type { ActionResult, Migration, MigrationFilter, Server } from '../systems/nova/index.js';
import { mapLimit } from '../shared/pool.js';

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
  listServersOnHost(host: string): Promise<Server[]>;
  getServer(id: string): Promise<Server>;
  evacuate(id: string, options: { readonly fromHost: string }): Promise<ActionResult>;
  liveMigrate(id: string, options: { readonly fromHost: string }): Promise<ActionResult>;
  listMigrations(filter: MigrationFilter): Promise<Migration[]>;
}

/** Evacuation rebuilds instances of a fenced host; live migration moves running ones off a degraded host (the opt-in drain). */
export type MoveKind = 'evacuation' | 'live-migration';

export interface Selection {
  /** In the order they are evacuated: highest priority first, then by name. */
  readonly evacuate: readonly Server[];
  readonly skipped: readonly { readonly server: Server; readonly reason: string }[];
}

const TRUE = new Set(['true', 'yes', '1', 'on']);
const FALSE = new Set(['false', 'no', '0', 'off']);
/** Nova evacuates only servers in these vm_states (compute API check_instance_state). */
const EVACUABLE = new Set(['active', 'stopped', 'error']);

export function priorityOf(server: Server, key: string): number {
  const value = Number(server.metadata[key]);
  return Number.isFinite(value) ? value : 0;
}

/** Which instances to evacuate, in which order, and why the others are left (pure: table-tested). */
export function selectInstances(servers: readonly Server[], settings: Pick<EvacuationSettings, 'mode' | 'selectKey' | 'priorityKey'>): Selection {
  const evacuate: Server[] = [];
  const skipped: { server: Server; reason: string }[] = [];
  for (const server of servers) {
    const flag = server.metadata[settings.selectKey]?.trim().toLowerCase();
    if (server.partial) skipped.push({ server, reason: 'Nova cannot reach its cell, so it is listed with only its ID' });
    else if (settings.mode === 'opt-out' && flag !== undefined && FALSE.has(flag)) skipped.push({ server, reason: `opted out (metadata ${settings.selectKey}=${server.metadata[settings.selectKey]})` });
    else if (settings.mode === 'opt-in' && !(flag !== undefined && TRUE.has(flag))) skipped.push({ server, reason: `not opted in (opt-in mode needs metadata ${settings.selectKey}=true)` });
    else if (server.vmState && !EVACUABLE.has(server.vmState)) skipped.push({ server, reason: `its vm_state is ${server.vmState}; Nova evacuates only active, stopped or errored servers` });
    else evacuate.push(server);
  }
  evacuate.sort((a, b) => priorityOf(b, settings.priorityKey) - priorityOf(a, settings.priorityKey) || a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  return { evacuate, skipped };
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
  /** Records one instance's outcome in the incident (serialized by the caller). */
  readonly record: (outcome: InstanceOutcome) => Promise<void>;
  readonly stillOwner: () => boolean;
  readonly progress?: (done: number, total: number) => void;
  readonly pollMs?: number;
}

const MOVED: ReadonlySet<InstanceOutcome['outcome']> = new Set(['evacuated', 'live-migrated']);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function evacuateInstances(run: EvacuationRun): Promise<InstanceOutcome[]> {
  const { nova, host, settings } = run;
  const recorded = new Map(run.recorded.map((o) => [o.id, o]));
  const onHost = await nova.listServersOnHost(host);
  const selection = selectInstances(onHost, settings);
  const outcomes = new Map<string, InstanceOutcome>(recorded);
  const set = async (outcome: InstanceOutcome): Promise<void> => {
    outcomes.set(outcome.id, outcome);
    await run.record(outcome);
  };
  for (const { server, reason } of selection.skipped) if (recorded.get(server.id)?.outcome !== 'skipped') await set({ id: server.id, name: server.name, outcome: 'skipped', from: host, detail: reason });

  // Instances called for by an earlier run that have left the host: only confirmation is left.
  const listed = new Set(onHost.map((s) => s.id));
  const leftEarlier = [...recorded.values()].filter((o) => o.outcome === 'evacuating' && !listed.has(o.id));
  const work = [...selection.evacuate.map((s) => ({ id: s.id, server: s as Server | undefined })), ...leftEarlier.map((o) => ({ id: o.id, server: undefined }))];
  const workIds = new Set(work.map((w) => w.id));
  let done = [...recorded.values()].filter((o) => MOVED.has(o.outcome) && !workIds.has(o.id)).length;
  const total = work.length + done;
  run.progress?.(done, total);

  await mapLimit(work, settings.concurrency, async ({ id, server }) => {
    if (!run.stillOwner()) return;
    const outcome = await evacuateOne(run, id, server, recorded.get(id));
    await set(outcome);
    run.progress?.(++done, total);
  });
  return [...outcomes.values()];
}

async function evacuateOne(run: EvacuationRun, id: string, listed: Server | undefined, before: InstanceOutcome | undefined): Promise<InstanceOutcome> {
  const { nova, host, settings } = run;
  const log = run.log.child({ instance: id });
  const name = listed?.name ?? before?.name ?? '';
  const expect = (listed?.vmState ?? 'active') === 'stopped' ? 'SHUTOFF' : 'ACTIVE';
  const base = { id, name, from: host };
  const moved: InstanceOutcome['outcome'] = run.kind === 'evacuation' ? 'evacuated' : 'live-migrated';

  let calledAt = before?.calledAt;
  if (calledAt !== undefined) {
    // Called for before, by a worker that died. Nova's migration records tell whether the call
    // reached it: none, or only failed ones with the server still here and idle, means call again.
    const migrations = await nova.listMigrations({ type: run.kind, instanceUuid: id, sourceCompute: host });
    const ours = migrations.filter((m) => !m.createdAt || Date.parse(`${m.createdAt.replace(/Z?$/, 'Z')}`) >= run.since - 60_000);
    const live = ours.filter((m) => m.status !== 'failed' && m.status !== 'error');
    const server = live.length === 0 ? await nova.getServer(id) : undefined;
    if (live.length === 0 && server?.host === host && !server.taskState) calledAt = undefined;
    else log.info('move-resumed', { step: run.kind, detail: `called at ${new Date(calledAt).toISOString()} by an earlier worker; Nova has ${ours.length ? `migration ${ours[0]!.uuid ?? ours[0]!.id} (${ours[0]!.status})` : 'it under way'}: confirming, not calling again` });
  }

  if (calledAt === undefined) {
    for (let attempt = 0; ; attempt++) {
      if (!run.stillOwner()) return { ...base, outcome: 'failed', detail: 'stopped: this worker lost the host lock', ...(before?.calledAt ? { calledAt: before.calledAt } : {}) };
      // Right before the call: where is it now? Another evacuation may have moved it already.
      const now = await nova.getServer(id);
      if (now.host !== host) return { ...base, outcome: moved, ...(now.host ? { to: now.host } : {}), detail: `already on ${now.host ?? 'no host'}; not called` };
      calledAt = Date.now();
      await run.record({ ...base, outcome: 'evacuating', calledAt });
      try {
        const result = run.kind === 'evacuation' ? await nova.evacuate(id, { fromHost: host }) : await nova.liveMigrate(id, { fromHost: host });
        log.info('move-called', { step: run.kind, request: result.requestId, confirmed_by: result.confirmedBy });
        break;
      } catch (error) {
        const message = (error as Error).message;
        if (attempt >= settings.retries) return { ...base, outcome: 'failed', calledAt, detail: `${run.kind} refused: ${message}` };
        log.warn('move-retry', { step: run.kind, attempt: attempt + 1, error: message });
        await sleep(Math.min(30_000, 1000 * 2 ** attempt));
      }
    }
  }
  return confirm(run, base, calledAt, expect, moved);
}

/** Done means: on another host, no task running, ACTIVE (SHUTOFF if it was stopped), and Nova's evacuation migration finished. */
async function confirm(run: EvacuationRun, base: { id: string; name: string; from: string }, calledAt: number, expect: 'ACTIVE' | 'SHUTOFF', moved: InstanceOutcome['outcome']): Promise<InstanceOutcome> {
  const { nova, host, settings } = run;
  const deadline = calledAt + settings.instanceTimeout;
  let last: Server | undefined;
  while (Date.now() < deadline) {
    last = await nova.getServer(base.id).catch(() => last);
    if (last && last.host && last.host !== host && !last.taskState && (last.status === expect || last.status === 'ACTIVE' || last.status === 'SHUTOFF')) {
      const migration = (await nova.listMigrations({ type: run.kind, instanceUuid: base.id, sourceCompute: host })).find((m) => m.destCompute === last!.host);
      const detail = `${last.status} on ${last.host}${migration ? `, migration ${migration.uuid ?? migration.id} ${migration.status}` : ''}`;
      return { ...base, outcome: moved, to: last.host, calledAt, detail };
    }
    if (last?.status === 'ERROR' && !last.taskState) return { ...base, outcome: 'failed', calledAt, detail: `ERROR on ${last.host ?? 'no host'} after the ${run.kind} (see: openstack server show ${base.id})` };
    await sleep(run.pollMs ?? 1000);
  }
  return { ...base, outcome: 'failed', calledAt, detail: `not ${expect} elsewhere within ${Math.round(settings.instanceTimeout / 1000)}s (last seen ${last ? `${last.status} on ${last.host}, task ${last.taskState ?? 'none'}` : 'never'})` };
}

export function evacuationSettings(config: { evacuation: { concurrency: number; mode: 'opt-out' | 'opt-in'; select_key: string; priority_key: string; retries: number; instance_timeout: number } }): EvacuationSettings {
  const e = config.evacuation;
  return { concurrency: e.concurrency, mode: e.mode, selectKey: e.select_key, priorityKey: e.priority_key, retries: e.retries, instanceTimeout: e.instance_timeout };
}
