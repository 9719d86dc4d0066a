/** Incidents in KV: the open one at incidents/<host>, closed ones under history/<host>/<id>. */
import type { JsonKv, Versioned } from '../systems/consul/kv.js';
import type { Incident } from './incident.js';
import { KEYS } from './records.js';

export const HISTORY_PER_HOST = 50;

export class IncidentStore {
  constructor(private readonly kv: JsonKv) {}

  current(host: string): Promise<Versioned<Incident> | undefined> {
    return this.kv.read<Incident>(this.kv.key(KEYS.incident(host)));
  }

  /** Applies change to the host's open incident with check-and-set; returns the stored result. */
  async change(host: string, change: (current: Incident | undefined) => Incident | undefined): Promise<Incident | undefined> {
    return this.kv.update<Incident>(this.kv.key(KEYS.incident(host)), change);
  }

  /**
   * Moves a closed incident to the history; the host has no open incident afterwards. The history
   * keeps the newest HISTORY_PER_HOST incidents of each host, so the KV store does not grow forever.
   */
  async archive(incident: Incident): Promise<void> {
    await this.kv.write(this.kv.key(KEYS.history(incident.host, incident.id)), incident);
    const current = await this.current(incident.host);
    if (current && current.value.id === incident.id) await this.kv.delete(this.kv.key(KEYS.incident(incident.host)), current.index);
    const ids = (await this.kv.keys(this.kv.key(KEYS.historyOf(incident.host)))).sort();
    await this.kv.writeAll(ids.slice(0, Math.max(0, ids.length - HISTORY_PER_HOST)).map((old) => ({ key: this.kv.key(KEYS.history(incident.host, old)), value: undefined })));
  }

  async open(): Promise<Incident[]> {
    return [...(await this.kv.tree<Incident>(this.kv.key(KEYS.incidents))).values()].map((v) => v.value);
  }

  async history(host?: string): Promise<Incident[]> {
    const tree = await this.kv.tree<Incident>(this.kv.key(host ? KEYS.historyOf(host) : KEYS.historyAll));
    return [...tree.values()].map((v) => v.value).sort((a, b) => b.openedAt - a.openedAt);
  }

  async find(id: string): Promise<Incident | undefined> {
    const open = (await this.open()).find((i) => i.id === id);
    if (open) return open;
    const host = id.replace(/-\d{8}T\d{6}Z$/, '');
    return (await this.history(host)).find((i) => i.id === id);
  }
}
