/**
 * Keeping nova-ha's KV from growing with time: once an hour per controller (a marker file in the
 * state dir), the periodic check deletes notification dedupe claims a day past their window.
 */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pruneKvDedupe } from '../state/notify-dedupe.js';
import type { Runtime } from './runtime.js';

const EVERY_MS = 3_600_000;
const KEEP_MS = 24 * 3_600_000;

export async function housekeeping(runtime: Runtime, now = Date.now()): Promise<void> {
  const marker = join(runtime.stateDir, 'housekeeping');
  try {
    if (now - statSync(marker).mtimeMs < EVERY_MS) return;
  } catch {
    // Never done on this controller.
  }
  writeFileSync(marker, `${new Date(now).toISOString()}\n`, { mode: 0o600 });
  try {
    const pruned = await pruneKvDedupe(runtime.kv, KEEP_MS + runtime.config.notifications.dedupe_window, now);
    if (pruned > 0) runtime.logger.info('housekeeping', { detail: `deleted ${pruned} notification dedupe claims older than a day past their window` });
  } catch (error) {
    runtime.logger.warn('housekeeping-failed', { error: (error as Error).message, fix: 'nothing to do now; the next hour tries again' });
  }
}
