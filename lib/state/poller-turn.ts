/**
 * Whose turn it is to poll (the BMCs, Nova's service list): the poller lock, taken over when the
 * holder's view has aged past two of its intervals, so one stuck controller never leaves every
 * controller reading "unknown" (a view counts as unknown after three intervals).
 */
import type { ConsulApi } from '../systems/consul/api.js';
import type { JsonKv } from '../systems/consul/kv.js';
import { holdPollerLock, type PollerLock } from '../systems/consul/poller-lock.js';
import type { Logger } from '../shared/log.js';
import { KEYS } from './records.js';

export interface PollerTurn<T> {
  readonly lock: PollerLock;
  /** The view as the last poll wrote it. */
  readonly previous: T | undefined;
}

export async function takePollerTurn<T extends { at: number }>(
  context: { api: ConsulApi; kv: JsonKv; logger: Logger; node: string; stateDir: string },
  name: 'nova' | 'power',
  viewKey: string,
  intervalMs: number,
): Promise<PollerTurn<T>> {
  const previous = (await context.kv.read<T>(viewKey))?.value;
  const lock = await holdPollerLock(context.api, {
    key: context.kv.key(KEYS.poller(name)),
    name,
    node: context.node,
    stateDir: context.stateDir,
    ttlSeconds: Math.max(10, Math.ceil((3 * intervalMs) / 1000)),
    viewAt: previous?.at,
    staleAfterMs: 2 * intervalMs,
  });
  if (lock.held && lock.tookOver) {
    const age = previous ? `${Math.round((Date.now() - previous.at) / 1000)} s old` : 'missing';
    context.logger.warn('poller-takeover', { step: `${name}-poller`, detail: `took the ${name} poller over from ${lock.tookOver}: its view was ${age}` });
  }
  return { lock, previous };
}

/** How old a view is, for a standby's status line. */
export const viewAge = (view: { at: number } | undefined): string => (view ? ` (its view is ${Math.round((Date.now() - view.at) / 1000)} s old)` : '');
