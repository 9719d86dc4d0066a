/**
 * Whether a compute feeds its watchdog now: only when a leader of the mgmt or the storage cluster
 * answered, within the time allowed, that this node is alive (its serfHealth passing), and its
 * required checks pass. A consistent read is answered by a leader that has just confirmed its
 * quorum, so an answer means "a majority of the controllers' Consul servers of that network
 * still count me alive": the view the controllers decide on. Anything less (no answer, a late
 * answer, an agent that hangs) is no feed. Pure: the node's feeder (lib/node/watchdog-feeder.ts)
 * does the reading and the feeding.
 */
import type { CheckStatus } from './model.js';

export type HealthRead = { readonly ok: true; readonly serfHealth: CheckStatus | undefined } | { readonly ok: false; readonly error: string };

export interface FeedInputs {
  /** This node's serfHealth, as the leader of each cluster answered a consistent read. */
  readonly mgmt: HealthRead;
  readonly storage: HealthRead;
  /** This node's checks as its own mgmt agent runs them (no leader needed), or why they could not be read. */
  readonly checks: { readonly ok: true; readonly status: ReadonlyMap<string, CheckStatus | undefined> } | { readonly ok: false; readonly error: string };
  readonly requiredChecks: readonly string[];
  /** How long the reads took, and the most they may take for their answer to count. */
  readonly elapsedMs: number;
  readonly maxElapsedMs: number;
}

export type FeedVerdict = { readonly feed: boolean; readonly reason: string };

const describe = (read: HealthRead): string => (read.ok ? `serfHealth ${read.serfHealth ?? 'missing'}` : read.error);

export function feedVerdict(inputs: FeedInputs): FeedVerdict {
  if (inputs.elapsedMs > inputs.maxElapsedMs) return { feed: false, reason: `the health reads took ${inputs.elapsedMs} ms, more than the ${inputs.maxElapsedMs} ms an answer may take to count` };
  const alive = (['mgmt', 'storage'] as const).filter((n) => { const read = inputs[n]; return read.ok && read.serfHealth === 'passing'; });
  if (alive.length === 0) return { feed: false, reason: `no leader of mgmt or storage sees this node alive (mgmt: ${describe(inputs.mgmt)}; storage: ${describe(inputs.storage)})` };
  if (inputs.requiredChecks.length > 0) {
    if (!inputs.checks.ok) return { feed: false, reason: `the required checks could not be read from this node's mgmt agent (${inputs.checks.error})` };
    const status = inputs.checks.status;
    const failing = inputs.requiredChecks.filter((id) => status.get(id) !== 'passing');
    if (failing.length > 0) return { feed: false, reason: `required checks not passing: ${failing.map((id) => `${id} (${status.has(id) ? status.get(id) ?? 'unknown' : 'missing'})`).join(', ')}` };
  }
  return { feed: true, reason: `seen alive by the leader of ${alive.join(' and ')}${inputs.requiredChecks.length ? `; ${inputs.requiredChecks.join(', ')} passing` : ''}` };
}
