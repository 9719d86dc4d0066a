/**
 * nova-ha's KV as the benchmark prepares and checks it: the power poller's view written as the
 * poller writes it (a simulation: there are no BMCs), and the host records read back.
 */
import { KEYS } from '../../lib/state/records.js';
import { consulCall, type ConsulFleet } from '../../test/support/consul-fleet.js';

export const PREFIX = 'nova-ha';

/** How the pollers keep their views: one document (before issue 16), or a key per host. */
export type ViewLayout = 'single' | 'per-host';

export async function seedPowerView(fleet: ConsulFleet, layout: ViewLayout): Promise<void> {
  const now = Date.now();
  const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64');
  if (layout === 'per-host') {
    await fleet.txn('mgmt', fleet.hosts.map((h) => [{ KV: { Verb: 'set', Key: `${PREFIX}/${KEYS.powerHost(h)}`, Value: b64({ state: 'on', since: now }) } }]));
    await fleet.txn('mgmt', [[{ KV: { Verb: 'set', Key: `${PREFIX}/${KEYS.powerPoll}`, Value: b64({ at: now, by: 'ctl1' }) } }]]);
    return;
  }
  // Before issue 16: one document with every host (refused by Consul beyond 512 KiB).
  const doc = { at: now, by: 'ctl1', hosts: Object.fromEntries(fleet.hosts.map((h) => [h, { state: 'on', since: now }])) };
  const response = await fetch(`${fleet.clusters.mgmt.httpAddr}/v1/kv/${PREFIX}/state/power`, { method: 'PUT', body: JSON.stringify(doc) });
  if (!response.ok) process.stderr.write(`power view (simulated poller): HTTP ${response.status} ${(await response.text()).slice(0, 120)}\n`);
}

/** Every host record in KV, by host, with its ModifyIndex. */
export async function recordsIn(fleet: ConsulFleet): Promise<Map<string, { index: number; value: unknown }>> {
  const entries = (await consulCall<{ Key: string; Value: string | null; ModifyIndex: number }[] | undefined>(fleet.clusters.mgmt.httpAddr, 'GET', `/v1/kv/${PREFIX}/${KEYS.hosts}/?recurse&consistent`).catch(() => undefined)) ?? [];
  const out = new Map<string, { index: number; value: unknown }>();
  for (const e of entries) if (e.Value) out.set(e.Key.slice(`${PREFIX}/${KEYS.hosts}/`.length), { index: e.ModifyIndex, value: JSON.parse(Buffer.from(e.Value, 'base64').toString('utf8')) });
  return out;
}

/**
 * Every host's record as an evaluation writes it for a healthy host, through Consul transactions:
 * the steady state the runs after the first evaluation start from.
 */
export async function seedRecords(fleet: ConsulFleet, since: number): Promise<void> {
  const held = { state: 'alive', since };
  const value = Buffer.from(JSON.stringify({ networks: { mgmt: held, storage: held, tenant: held }, novaNode: { state: 'up', since }, at: since, by: 'ctl1', decision: { action: 'none', cause: 'healthy', reason: 'healthy' } })).toString('base64');
  await fleet.txn('mgmt', fleet.hosts.map((h) => [{ KV: { Verb: 'set', Key: `${PREFIX}/${KEYS.host(h)}`, Value: value } }]));
}
