/**
 * Proof that nova-ha looked, for lab tests that assert nothing happened: a fixed wait shows
 * nothing if nova-ha did not run in between. What each evaluation leaves that a test can read:
 * the evaluate check appends one byte per run to its controller's run counter
 * (state_dir/handler-runs/evaluate.*), and an evaluation (or the host's worker) that sees a
 * host change writes the host's record with its decision (hosts/HOST in KV). Also nova-ha's own
 * step log: the controllers' log lines for every Nova call it made.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { novaHaDir, novaHaLog } from '../../../lab/nova-ha.js';
import { until, type NovaHaLab } from '../../../lab/scenario.js';
import { controllerNames } from '../../../lab/topology.js';
import { KEYS, type DecidedHostRecord } from '../../../lib/state/records.js';

/** The lab's [policy] confirmation_window (lab/nova-ha.ts). */
export const LAB_CONFIRMATION_WINDOW = 4_000;

/** Evaluate check runs finished on one controller so far (ok and failed). */
export function evaluateRuns(ctx: NovaHaLab, controller: string): number {
  const dir = join(novaHaDir(ctx.lab.spec, controller), 'state', 'handler-runs');
  return ['evaluate.ok', 'evaluate.error'].map((f) => join(dir, f)).filter(existsSync).reduce((sum, f) => sum + statSync(f).size, 0);
}

/**
 * Waits until each controller has run a whole evaluation that started after this call: its run
 * counter grew by two (the run in progress now, if any, may have read the world before).
 */
export async function untilFreshEvaluation(ctx: NovaHaLab, controllers: readonly string[] = controllerNames(), timeoutMs = 60_000): Promise<void> {
  const before = new Map(controllers.map((c) => [c, evaluateRuns(ctx, c)]));
  await until(`a fresh evaluation on ${controllers.join(', ')}`, timeoutMs, () => controllers.map((c) => evaluateRuns(ctx, c) - before.get(c)!), (grown) => grown.every((n) => n >= 2), 1000);
}

/** The host's record as the last evaluation or worker that saw it change wrote it. */
export async function hostRecord(ctx: NovaHaLab, host: string): Promise<DecidedHostRecord | undefined> {
  return (await ctx.runtime.kv.read<DecidedHostRecord>(ctx.runtime.kv.key(KEYS.host(host))))?.value;
}

/** nova-ha's own log lines of one event, from every controller's log, since a time. */
export function controllerLog(ctx: NovaHaLab, event: string, since: number): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const controller of controllerNames()) {
    const file = novaHaLog(ctx.lab.spec, controller);
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.includes(`"event":"${event}"`)) continue;
      const record = JSON.parse(line) as Record<string, unknown>;
      if (Date.parse(String(record['ts'])) >= since) lines.push(record);
    }
  }
  return lines;
}

/**
 * How many requests nova-ha itself sent to Nova for an action (evacuate, live-migrate) on each of
 * these servers, from its own log of every Nova request that got an answer, refused or not. Nova's
 * migration records cannot show a second call: Nova refuses it by itself.
 */
export function actionRequests(ctx: NovaHaLab, servers: readonly string[], since: number): Map<string, number> {
  const counts = new Map(servers.map((id) => [id, 0]));
  for (const record of controllerLog(ctx, 'nova-request', since)) {
    const match = /\/servers\/([^/]+)\/action$/.exec(String(record['path']));
    if (record['method'] !== 'POST' || !match || !counts.has(match[1]!)) continue;
    counts.set(match[1]!, counts.get(match[1]!)! + 1);
  }
  return counts;
}
