/**
 * The pollers' views in KV: a key per host, written only when the host's entry changes, and a
 * small summary per poller written after them (records.ts). Readers take both views with one
 * prefix read (or one host's entries with a few key reads); the pure parts (what a poll changes,
 * how entries become a view) are unit-tested without a Consul.
 */
import type { JsonKv, KvChange } from '../systems/consul/kv.js';
import type { PowerResult } from '../systems/power/ipmi.js';
import type { ComputeService } from '../systems/nova/types.js';
import { KEYS, novaServiceState, type NovaDoc, type NovaPoll, type NovaServiceState, type PowerDoc, type PowerHostState, type PowerPoll } from './records.js';

export interface Views {
  readonly power: PowerDoc | null;
  readonly nova: NovaDoc | null;
}

const HOSTS = { power: `${KEYS.powerHosts}/`, nova: `${KEYS.novaHosts}/` } as const;
const under = (key: string): string => key.slice(`${KEYS.views}/`.length);

/**
 * The views from their entries, keyed by the rest of the key under `state/`. A view without its
 * summary does not exist yet (null); while Nova's API does not answer, no host entry counts.
 */
export function assembleViews(entries: ReadonlyMap<string, unknown>): Views {
  const powerHosts: Record<string, PowerHostState> = {};
  const novaHosts: Record<string, NovaServiceState> = {};
  for (const [key, value] of entries) {
    const full = `${KEYS.views}/${key}`;
    if (full.startsWith(HOSTS.power)) powerHosts[full.slice(HOSTS.power.length)] = value as PowerHostState;
    else if (full.startsWith(HOSTS.nova)) novaHosts[full.slice(HOSTS.nova.length)] = value as NovaServiceState;
  }
  const powerPoll = entries.get(under(KEYS.powerPoll)) as PowerPoll | undefined;
  const novaPoll = entries.get(under(KEYS.novaPoll)) as NovaPoll | undefined;
  return {
    power: powerPoll ? { ...powerPoll, hosts: powerHosts } : null,
    nova: novaPoll ? { ...novaPoll, hosts: novaPoll.api === 'up' ? novaHosts : {} } : null,
  };
}

/** Both views, every host: one prefix read. */
export async function readViews(kv: JsonKv): Promise<Views> {
  return assembleViews(await kv.values<unknown>(kv.key(KEYS.views)));
}

/** Both views for one host only: its two entries and the two summaries. */
export async function readHostViews(kv: JsonKv, host: string): Promise<Views> {
  const keys = [KEYS.powerPoll, KEYS.powerHost(host), KEYS.novaPoll, KEYS.novaHost(host)];
  const values = await Promise.all(keys.map((k) => kv.read<unknown>(kv.key(k))));
  return assembleViews(new Map(keys.flatMap((k, i) => (values[i] ? [[under(k), values[i].value] as [string, unknown]] : []))));
}

/** A view's host entries as they are in KV now, by host. */
export async function readViewHosts<T>(kv: JsonKv, view: 'power' | 'nova'): Promise<Map<string, T>> {
  return kv.values<T>(kv.key(view === 'power' ? KEYS.powerHosts : KEYS.novaHosts));
}

export interface ViewChanges<T> {
  readonly set: ReadonlyMap<string, T>;
  readonly remove: readonly string[];
}

/**
 * What one Nova poll changes: a host's entry is written when its state, status, forced-down flag
 * or disabled reason changed, and, for a host in `watched` (an open incident), when its last
 * report changed (the policy closes such an incident only after a report since its repair).
 * `since` is kept while the state stays the same. Hosts Nova no longer lists are removed.
 */
export function novaViewChanges(previous: ReadonlyMap<string, NovaServiceState>, computes: readonly ComputeService[], watched: ReadonlySet<string>, now: number): ViewChanges<NovaServiceState> {
  const set = new Map<string, NovaServiceState>();
  const seen = new Set<string>();
  for (const service of computes) {
    seen.add(service.host);
    const before = previous.get(service.host);
    const fresh = novaServiceState(service, before && before.state === service.state ? before.since : now);
    if (!before) {
      set.set(service.host, fresh);
      continue;
    }
    const { reportedAt: _fresh, ...freshRest } = fresh;
    const { reportedAt: _before, ...beforeRest } = before;
    const changed = JSON.stringify(freshRest) !== JSON.stringify(beforeRest);
    if (changed || (watched.has(service.host) && fresh.reportedAt !== before.reportedAt)) set.set(service.host, fresh);
  }
  return { set, remove: [...previous.keys()].filter((h) => !seen.has(h)) };
}

/** What one power poll changes: a host's entry is written when its state or error changed; `since` is kept while the state stays the same. */
export function powerViewChanges(previous: ReadonlyMap<string, PowerHostState>, results: readonly (readonly [string, PowerResult])[], now: number): ViewChanges<PowerHostState> {
  const set = new Map<string, PowerHostState>();
  const seen = new Set<string>();
  for (const [host, result] of results) {
    seen.add(host);
    const before = previous.get(host);
    const entry: PowerHostState = { state: result.state, since: before && before.state === result.state ? before.since : now, ...(result.error ? { error: result.error } : {}) };
    if (!before || before.state !== entry.state || before.since !== entry.since || before.error !== entry.error) set.set(host, entry);
  }
  return { set, remove: [...previous.keys()].filter((h) => !seen.has(h)) };
}

/** The KV writes of a view's changes. */
export function viewWrites<T>(kv: JsonKv, view: 'power' | 'nova', changes: ViewChanges<T>): KvChange[] {
  const keyOf = view === 'power' ? KEYS.powerHost : KEYS.novaHost;
  return [...[...changes.set].map(([host, value]) => ({ key: kv.key(keyOf(host)), value })), ...changes.remove.map((host) => ({ key: kv.key(keyOf(host)), value: undefined }))];
}
