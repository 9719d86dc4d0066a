/**
 * Fence levels (Pacemaker's fencing topology): an ordered list of ways to power a host off, each
 * tried only when the one before could not verify the power off; and, behind them, the host's own
 * watchdog once its safe time has passed (fence-evidence.ts). Pure: which level comes next.
 */
import type { SelfFenceEvidence } from './fence-evidence.js';

/** The built-in ipmitool method ([ipmi]), or a fence agent device ([fence_agent:NAME]). */
export type FenceLevel = { readonly kind: 'ipmi' } | { readonly kind: 'agent'; readonly device: string };

export interface FencePlan {
  readonly levels: readonly FenceLevel[];
  /** The host's watchdog, when its safe time has passed: a last level that needs no BMC. */
  readonly watchdog?: SelfFenceEvidence;
}

export const IPMI_LEVEL = 'ipmi';

export const parseLevel = (name: string): FenceLevel => (name === IPMI_LEVEL ? { kind: 'ipmi' } : { kind: 'agent', device: name });

export const levelName = (level: FenceLevel): string => (level.kind === 'ipmi' ? IPMI_LEVEL : level.device);

/**
 * The levels for one host: ipmi alone for method = ipmi, the configured names for method = agent,
 * none for method = none; the watchdog after them once its safe time has passed at `now`.
 */
export function fencePlan(method: 'none' | 'ipmi' | 'agent', levelNames: readonly string[], now: number, watchdog?: SelfFenceEvidence): FencePlan {
  const levels = method === 'none' ? [] : method === 'ipmi' ? [parseLevel(IPMI_LEVEL)] : levelNames.map(parseLevel);
  return { levels, ...(watchdog && now >= watchdog.safeAt ? { watchdog } : {}) };
}

export type FenceStep =
  | { readonly kind: 'level'; readonly index: number; readonly level: FenceLevel }
  | { readonly kind: 'watchdog'; readonly evidence: SelfFenceEvidence }
  | { readonly kind: 'verified'; readonly by: string }
  | { readonly kind: 'exhausted' };

/**
 * What to do after the attempts so far (one per level, in order, true when it verified the power
 * off): stop at the first verified one; else the next level; else the watchdog; else give up.
 */
export function nextFenceStep(plan: FencePlan, verified: readonly boolean[]): FenceStep {
  const done = verified.findIndex((v) => v);
  if (done >= 0) return { kind: 'verified', by: done < plan.levels.length ? levelName(plan.levels[done]!) : 'watchdog' };
  const index = verified.length;
  if (index < plan.levels.length) return { kind: 'level', index, level: plan.levels[index]! };
  if (plan.watchdog && index === plan.levels.length) return { kind: 'watchdog', evidence: plan.watchdog };
  return { kind: 'exhausted' };
}

/** "level 2 of 3 (pdu)" for timelines and logs. */
export function describeLevel(plan: FencePlan, index: number): string {
  const total = plan.levels.length + (plan.watchdog ? 1 : 0);
  const name = index < plan.levels.length ? levelName(plan.levels[index]!) : 'watchdog';
  return `level ${index + 1} of ${total} (${name})`;
}
