/**
 * What the result of a check nova-ha registers means. Consul turns a script check that timed out,
 * could not start or crashed into "critical" (or "warning") with its own words as the output: to
 * the policy that is a check that could not run, so unknown, never "nova-compute dead". A result
 * counts only when its output opens with the check's own status line for that status, as every
 * nova-ha check prints it (monitoring-plugins style: "OK: ...", "WARNING: ...", "CRITICAL: ...").
 */
import type { CheckStatus, ClusterView, ServiceState } from './model.js';

export interface CheckResult {
  readonly status: CheckStatus;
  readonly output: string;
}

export type CheckReading =
  | { readonly ran: true; readonly status: CheckStatus; readonly line: string }
  | { readonly ran: false; readonly reason: string; readonly pending?: true };

const PREFIX: Record<CheckStatus, string> = { passing: 'OK:', warning: 'WARNING:', critical: 'CRITICAL:' };

const firstLine = (output: string): string => output.trim().split('\n')[0]?.trim() ?? '';

/**
 * No output at all is Consul's own state for a check with no result in the catalog yet: just
 * registered, or a first result with the registered status, an output-only change that Consul's
 * agent syncs only at its next anti-entropy pass (a minute or two). Unknown like a check that
 * could not run, but pending: nothing failed, and the output arrives by itself.
 */
export function readCheck(result: CheckResult): CheckReading {
  const line = firstLine(result.output);
  if (line.startsWith(PREFIX[result.status])) return { ran: true, status: result.status, line };
  if (!line) return { ran: false, reason: `Consul reports it ${result.status} with no output yet`, pending: true };
  return { ran: false, reason: `Consul reports it ${result.status}: "${line.slice(0, 200)}"` };
}

/** The node-local nova-compute check (handlers/nova-compute-check.ts): only its own "CRITICAL: nova-compute:" is "not running". */
export function novaComputeOnNode(result: CheckResult | undefined): { readonly state: ServiceState; readonly why?: string } {
  if (!result) return { state: 'unknown', why: 'its check is not registered on the node' };
  const reading = readCheck(result);
  if (!reading.ran) return { state: 'unknown', why: reading.pending ? `its check has no result yet (${reading.reason})` : `its check could not run (${reading.reason})` };
  if (reading.status === 'passing') return { state: 'up' };
  if (reading.status === 'critical' && reading.line.startsWith('CRITICAL: nova-compute:')) return { state: 'down' };
  return { state: 'unknown', why: `its check cannot tell (${reading.line.slice(0, 200)})` };
}

export interface CheckNotRun {
  readonly node: string;
  readonly check: string;
  readonly reason: string;
}

/**
 * nova-ha's checks that could not run on nodes alive in the cluster: the operators must hear of
 * them. A pending check is not among them: reporting it made every controller's evaluation a
 * warning whose own output then waited for the same sync, for minutes after an install or reload.
 */
export function checksNotRun(view: ClusterView): CheckNotRun[] {
  if (!view.ok) return [];
  const out: CheckNotRun[] = [];
  for (const [node, health] of view.nodes) {
    if (health.serfHealth !== 'passing') continue;
    for (const [check, result] of Object.entries(health.checks)) {
      const reading = readCheck(result);
      if (!reading.ran && !reading.pending) out.push({ node, check, reason: reading.reason });
    }
  }
  return out.sort((a, b) => a.node.localeCompare(b.node) || a.check.localeCompare(b.check));
}

/** The repair keys a compute verifies requests with, as fingerprints (never the keys). */
export interface RepairKeyFingerprints {
  readonly current: string;
  /** During a key rotation: requests signed with this key are accepted too. */
  readonly previous?: string;
}

const REPAIR_KEY_LINE = /^repair key (\S+)(?: \(also accepts (\S+) during a key rotation\))?$/m;

/** The nova-compute check's second line: which repair key this compute accepts (the doctor compares it with a controller's). */
export function repairKeyLine(keys: RepairKeyFingerprints): string {
  return `repair key ${keys.current}${keys.previous ? ` (also accepts ${keys.previous} during a key rotation)` : ''}`;
}

/** The repair keys a compute's nova-compute check output names; undefined when it names none (an older nova-ha, or no run yet). */
export function parseRepairKeyLine(output: string): RepairKeyFingerprints | undefined {
  const match = REPAIR_KEY_LINE.exec(output);
  if (!match) return undefined;
  return { current: match[1]!, ...(match[2] ? { previous: match[2] } : {}) };
}
