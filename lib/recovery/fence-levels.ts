/**
 * A host's power through its fence levels (decision/fence-plan.ts): the built-in ipmitool
 * ([ipmi]) and fence agents ([fence_agent:NAME]), in the configured order, each tried only when
 * the one before could not verify the power off, every attempt written to the incident; then the
 * host's watchdog once its safe time has passed. Also the power read and power-on through the same
 * levels, and the power-off that waits for a crash dump to end.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { levelNamesFor, type Config } from '../config/load.js';
import { describeSelfFence, dumpEnded, type KdumpSettings } from '../decision/fence-evidence.js';
import { describeLevel, fencePlan, levelName, nextFenceStep, type FenceLevel, type FencePlan } from '../decision/fence-plan.js';
import type { PowerState } from '../decision/model.js';
import { agentFor, agentPower, agentPowerOffVerified, FenceAgentConfigError } from '../systems/power/fence-agent.js';
import { bmcFor, chassisPower, IpmiConfigError, powerOffVerified, type PowerResult, type VerifiedOff } from '../systems/power/ipmi.js';
import type { KdumpRecord } from '../state/records.js';
import type { PowerOffContext } from './fence.js';

export function planFor(config: Config, host: string, now: number, context?: Pick<PowerOffContext, 'evidence'>): FencePlan {
  return fencePlan(config.fencing.method, levelNamesFor(config, host), now, context?.evidence?.selfFence);
}

const isConfigError = (error: unknown): error is Error => error instanceof IpmiConfigError || error instanceof FenceAgentConfigError;

function describeTarget(config: Config, host: string, level: FenceLevel): string {
  try {
    if (level.kind === 'ipmi') return `ipmitool to ${bmcFor(config, host).address}`;
    const target = agentFor(config, level.device, host);
    return `${target.agent} with ${target.options.map(([k]) => k).join(', ') || 'no options'}${target.passwordFile ? ', password on stdin' : ''}`;
  } catch (error) {
    if (isConfigError(error)) return error.message;
    throw error;
  }
}

async function levelOff(config: Config, host: string, level: FenceLevel, quick: boolean): Promise<VerifiedOff> {
  try {
    if (level.kind === 'ipmi') return await powerOffVerified(bmcFor(config, host), config.fencing.fence_timeout, { quick });
    return await agentPowerOffVerified(agentFor(config, level.device, host), config.fencing.fence_timeout, { quick });
  } catch (error) {
    if (isConfigError(error)) return { verified: false, after: 0, detail: error.message };
    throw error;
  }
}

async function levelPower(config: Config, host: string, level: FenceLevel, command: 'status' | 'on'): Promise<PowerResult> {
  try {
    if (level.kind === 'ipmi') return await chassisPower(bmcFor(config, host), command);
    return await agentPower(agentFor(config, level.device, host), command);
  } catch (error) {
    if (isConfigError(error)) return { state: 'unknown', error: error.message };
    throw error;
  }
}

/** Power off through the levels in order until one verifies it; the watchdog last, when the decision brought its safe time. */
export async function powerOffThroughLevels(config: Config, host: string, context: PowerOffContext): Promise<VerifiedOff> {
  const start = Date.now();
  const plan = planFor(config, host, start, context);
  const verified: boolean[] = [];
  const failures: string[] = [];
  for (;;) {
    const next = nextFenceStep(plan, verified);
    const after = Date.now() - start;
    if (next.kind === 'verified') return { verified: true, after, detail: `verified by ${describeLevel(plan, verified.length - 1)}` };
    if (next.kind === 'exhausted') return { verified: false, after, detail: plan.levels.length === 0 ? 'no fence level is configured ([fencing] method)' : `no fence level verified the power off: ${failures.join('; ')}` };
    if (!context.stillOwner()) return { verified: false, after, detail: 'lost the host lock during the fence' };
    const what = describeLevel(plan, verified.length);
    if (next.kind === 'watchdog') {
      await context.record('fence-level', 'done', `${what}: no BMC or agent confirmed the power off, but the host's watchdog was armed and the safe time has passed (${describeSelfFence(next.evidence)}): it has reset itself`);
      verified.push(true);
      continue;
    }
    await context.record('fence-level', 'started', `${what}: ${describeTarget(config, host, next.level)}`);
    // With the watchdog behind the levels, a device that does not answer at once is not waited on.
    const result = await levelOff(config, host, next.level, plan.watchdog !== undefined);
    await context.record('fence-level', result.verified ? 'done' : 'failed', `${what}: ${result.detail}`);
    verified.push(result.verified);
    if (!result.verified) failures.push(`${levelName(next.level)}: ${result.detail}`);
  }
}

/** The power as the levels see it: off when any says off (a PDU that cut the power), on when any says on, else unknown. */
export async function readPowerThroughLevels(config: Config, host: string): Promise<{ state: PowerState; errors: string[] }> {
  const { levels } = planFor(config, host, Date.now());
  const results = await Promise.all(levels.map((level) => levelPower(config, host, level, 'status')));
  const errors = results.flatMap((r, i) => (r.error ? [`${levelName(levels[i]!)}: ${r.error}`] : []));
  if (results.some((r) => r.state === 'off')) return { state: 'off', errors };
  if (results.some((r) => r.state === 'on')) return { state: 'on', errors };
  return { state: 'unknown', errors };
}

/**
 * A host's power as this controller reads it, for the fence's re-reads and the power poller alike:
 * through the fence levels with method = agent, else from its BMC ([ipmi], also read with
 * method = none); unknown, with why, when neither can say.
 */
export async function readHostPower(config: Config, host: string): Promise<PowerResult> {
  if (config.fencing.method !== 'agent') return levelPower(config, host, { kind: 'ipmi' }, 'status');
  const { state, errors } = await readPowerThroughLevels(config, host);
  return state === 'unknown' ? { state, error: errors.join('; ') || 'no fence level answers' } : { state };
}

/** Power on through the first level that accepts it. */
export async function powerOnThroughLevels(config: Config, host: string): Promise<void> {
  const errors: string[] = [];
  for (const level of planFor(config, host, Date.now()).levels) {
    const result = await levelPower(config, host, level, 'on');
    if (result.state === 'on') return;
    errors.push(`${levelName(level)}: ${result.error ?? 'not accepted'}`);
  }
  throw new Error(`no fence level of ${host} powered it on (${errors.join('; ') || 'none configured'})`);
}

/**
 * A dumping host's power-off: wait until its fence_kdump messages stop (three intervals without
 * one) or the kdump timeout since the deferral passes, then power it off through the levels.
 */
export async function powerOffAfterDump(config: Config, host: string, context: PowerOffContext, deferredAt: number, readRecord: () => Promise<KdumpRecord | undefined>, settings: KdumpSettings, pollMs = 1000): Promise<VerifiedOff> {
  let why: string;
  for (;;) {
    if (!context.stillOwner()) return { verified: false, after: 0, detail: 'lost the host lock while waiting for the crash dump to end' };
    const record = await readRecord().catch(() => 'unreadable' as const);
    const now = Date.now();
    if (record !== 'unreadable' && dumpEnded(record, now, settings.intervalMs)) {
      why = record ? `the dump ended (last fence_kdump message ${new Date(record.last).toISOString()}, ${record.count} in all)` : 'no fence_kdump record is left';
      break;
    }
    if (now - deferredAt >= settings.timeoutMs) {
      why = `the dump still ran after [kdump] timeout (${settings.timeoutMs / 1000} s)`;
      break;
    }
    await sleep(pollMs);
  }
  await context.record('kdump', 'info', `${why}: powering it off`);
  return powerOffThroughLevels(config, host, context);
}
