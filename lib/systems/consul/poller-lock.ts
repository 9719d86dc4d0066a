/**
 * One poller per cluster for work every controller could do but only one should (reading every
 * BMC, listing Nova's services): a lock whose session outlives the short-lived check process. Its
 * ID is kept in the state dir and renewed by each run; the session is tied to the controller's
 * serfHealth and expires when the check stops running, so another controller takes over.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConsulApi } from './api.js';

export type PollerLock = { readonly held: true } | { readonly held: false; readonly holder: string };

export async function holdPollerLock(api: ConsulApi, key: string, name: string, node: string, stateDir: string, ttlSeconds: number): Promise<PollerLock> {
  const file = join(stateDir, `poller-${name}.session`);
  let session = readOrUndefined(file);
  if (session && !(await api.sessionRenew(session))) session = undefined;
  if (!session) {
    session = await api.sessionCreate({ name: `nova-ha ${name} poller on ${node}`, ttl: `${ttlSeconds}s`, lockDelay: '1s', nodeChecks: ['serfHealth'], behavior: 'release' });
    writeFileSync(file, session, { mode: 0o600 });
  }
  if (await api.kvPut(key, JSON.stringify({ node, since: new Date().toISOString() }), { acquire: session })) return { held: true };
  const entry = await api.kvGet(key);
  let holder = 'another controller';
  try {
    holder = (JSON.parse(entry?.Value ?? '{}') as { node?: string }).node ?? holder;
  } catch {
    // Keep the generic name.
  }
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
