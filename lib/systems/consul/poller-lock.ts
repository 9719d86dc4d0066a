/**
 * One poller per cluster for work every controller could do but only one should (reading every
 * BMC, listing Nova's services): a lock whose session outlives the short-lived check process. Its
 * ID is kept in the state dir and renewed by each run; the session is tied to the controller's
 * serfHealth, so when the controller dies (or its agents stop) the lock is free at once and the
 * next run of any other controller takes it.
 *
 * A poller that lives on but stops producing (its runs fail or hang before they write) would keep
 * the lock while its view ages and every controller reads the view as unknown: a run that finds
 * the view older than `staleAfterMs` takes the lock over (it deletes the lock key, check-and-set
 * on what it read, then acquires it). A poller that could not read what it polls gives the lock
 * back (`release`), so the next run, on any controller, tries from another place.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConsulApi } from './api.js';

export type PollerLock =
  | { readonly held: true; /** The controller whose stale poller this run took over. */ readonly tookOver?: string; release(): Promise<void> }
  | { readonly held: false; readonly holder: string };

export interface PollerLockOptions {
  readonly key: string;
  readonly name: string;
  readonly node: string;
  readonly stateDir: string;
  readonly ttlSeconds: number;
  /** When the poller's view was last written; undefined when there is none yet. */
  readonly viewAt: number | undefined;
  /** A view older than this is stale: its poller is taken over. */
  readonly staleAfterMs: number;
}

export async function holdPollerLock(api: ConsulApi, options: PollerLockOptions): Promise<PollerLock> {
  const { key, name, node } = options;
  const file = join(options.stateDir, `poller-${name}.session`);
  let session = readOrUndefined(file);
  if (session && !(await api.sessionRenew(session))) session = undefined;
  if (!session) {
    session = await api.sessionCreate({ name: `nova-ha ${name} poller on ${node}`, ttl: `${options.ttlSeconds}s`, lockDelay: '1s', nodeChecks: ['serfHealth'], behavior: 'release' });
    writeFileSync(file, session, { mode: 0o600 });
  }
  const value = JSON.stringify({ node, since: new Date().toISOString() });
  const mine = session;
  const held = (tookOver?: string): PollerLock => ({
    held: true,
    ...(tookOver ? { tookOver } : {}),
    release: async () => void (await api.kvPut(key, JSON.stringify({ node, releasedAt: new Date().toISOString() }), { release: mine })),
  });
  if (await api.kvPut(key, value, { acquire: session })) return held();

  const entry = await api.kvGet(key);
  let holder = 'another controller';
  try {
    holder = (JSON.parse(entry?.Value ?? '{}') as { node?: string }).node ?? holder;
  } catch {
    // Keep the generic name.
  }
  const stale = options.viewAt === undefined || Date.now() - options.viewAt > options.staleAfterMs;
  if (entry?.Session && stale && (await api.kvDelete(key, entry.ModifyIndex)) && (await api.kvPut(key, value, { acquire: session }))) return held(holder);
  if (!entry?.Session) rmSync(file, { force: true });
  return { held: false, holder };
}

function readOrUndefined(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
