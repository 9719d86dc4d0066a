/**
 * The watchdog feeder of a compute node (the self-fence fallback, docs/fencing.md): every third
 * of the watchdog's timeout it asks the leaders of mgmt and storage, through this node's own
 * agents, whether they see this node alive; it feeds the watchdog only when one does (and the
 * required checks pass: decision/watchdog-feed.ts). A node cut off from the controllers, or whose
 * agents hang, stops feeding and is reset by the watchdog within its timeout.
 *
 * It arms the watchdog only after its first successful read (a node that boots before the
 * controllers must not reset in a loop), and only then says "armed" in its nova-ha-watchdog
 * check. It disarms only after the mgmt leader shows that check critical: a node that cannot tell
 * the controllers it is disarmed stays armed, since they would count on a reset that never comes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { feedVerdict, type FeedInputs, type HealthRead } from '../decision/watchdog-feed.js';
import type { Logger } from '../shared/log.js';

export interface FeederIo {
  /** This node's serfHealth from the leader of a cluster (a consistent read through this node's agent). */
  readHealth(network: 'mgmt' | 'storage'): Promise<HealthRead>;
  readChecks(): Promise<FeedInputs['checks']>;
  /** Sets this node's nova-ha-watchdog check. */
  publish(status: 'passing' | 'critical', output: string): Promise<void>;
  /** Whether the mgmt leader shows the check with this status: what the controllers see. */
  published(status: 'passing' | 'critical'): Promise<boolean>;
  readonly watchdog: { readonly armed: boolean; arm(): void; feed(): void; disarm(): void; abandon(): void };
  readonly log: Logger;
  readonly now?: () => number;
}

export interface FeederSettings {
  readonly timeoutMs: number;
  readonly requiredChecks: readonly string[];
  /** The output of the check while armed (systems/watchdog/publication.ts). */
  readonly armedOutput: string;
}

export type FeederOutcome = 'never-armed' | 'disarmed' | 'left-armed';

/** A feed every third of the timeout; an answer counts if it came within a third too (the safe-time arithmetic needs at most one timeout). */
export const feedInterval = (timeoutMs: number): number => Math.max(500, Math.floor(timeoutMs / 3));

export async function runFeeder(io: FeederIo, settings: FeederSettings, stop: AbortSignal): Promise<FeederOutcome> {
  const now = io.now ?? Date.now;
  const interval = feedInterval(settings.timeoutMs);
  let lastReason = '';
  let fed: boolean | undefined;
  while (!stop.aborted) {
    const started = now();
    const [mgmt, storage, checks] = await Promise.all([io.readHealth('mgmt'), io.readHealth('storage'), io.readChecks()]);
    const verdict = feedVerdict({ mgmt, storage, checks, requiredChecks: settings.requiredChecks, elapsedMs: now() - started, maxElapsedMs: interval });
    if (stop.aborted) break;
    if (verdict.feed) {
      if (!io.watchdog.armed) {
        try {
          io.watchdog.arm();
        } catch (error) {
          io.log.error('watchdog-arm-failed', { error: (error as Error).message, fix: 'check the device (or the lab simulation) and that the Consul agents\' user may open it' });
          await sleep(interval, undefined, { signal: stop }).catch(() => undefined);
          continue;
        }
        io.log.info('watchdog-armed', { detail: `${verdict.reason}; fed every ${interval} ms, timeout ${settings.timeoutMs} ms` });
        // A status change is synced to the catalog at once; an output change alone only every few minutes.
        await io.publish('critical', 'arming').catch(() => undefined);
      } else {
        io.watchdog.feed();
      }
      await io.publish('passing', settings.armedOutput).catch((error: Error) => {
        if (fed !== true) io.log.warn('watchdog-publish-failed', { error: error.message, fix: 'install.sh registers the nova-ha-watchdog check when [watchdog] enabled = true; run it again' });
      });
      if (fed === false) io.log.info('watchdog-fed', { detail: verdict.reason });
      fed = true;
    } else if (fed !== false || verdict.reason !== lastReason) {
      if (io.watchdog.armed) io.log.error('watchdog-not-fed', { detail: verdict.reason, fix: `this node is reset within ${settings.timeoutMs} ms of its last feed unless a leader sees it alive again` });
      else io.log.warn('watchdog-not-armed-yet', { detail: `${verdict.reason}; the watchdog is armed once a leader of mgmt or storage sees this node alive` });
      fed = false;
    }
    lastReason = verdict.reason;
    await sleep(Math.max(0, started + interval - now()), undefined, { signal: stop }).catch(() => undefined);
  }
  if (!io.watchdog.armed) return 'never-armed';
  try {
    await io.publish('critical', 'disarmed: the nova-ha-watchdog service stopped');
    if (await io.published('critical')) {
      io.watchdog.disarm();
      io.log.info('watchdog-disarmed', { detail: 'the mgmt leader shows the watchdog disarmed, so no controller counts on it' });
      return 'disarmed';
    }
  } catch (error) {
    io.log.error('watchdog-publish-failed', { error: (error as Error).message });
  }
  io.watchdog.abandon();
  io.log.error('watchdog-left-armed', { detail: 'the controllers could not be shown that the watchdog is disarmed, so it stays armed', fix: `this node resets within ${settings.timeoutMs} ms unless the feeder is started again` });
  return 'left-armed';
}
