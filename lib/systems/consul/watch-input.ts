/** The JSON Consul writes to a watch handler's stdin, checked before anything is done with it. */
import type { HealthCheck } from './api.js';

export type WatchChecks = { ok: true; checks: HealthCheck[] } | { ok: false; error: string };

export function parseWatchChecks(text: string): WatchChecks {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `stdin is not JSON (${(error as Error).message}; ${text.length} bytes)` };
  }
  if (!Array.isArray(json)) return { ok: false, error: `stdin is not a list of checks (found ${json === null ? 'null' : typeof json})` };
  for (const [i, check] of json.entries()) {
    const c = check as Partial<HealthCheck> | null;
    if (!c || typeof c !== 'object' || typeof c.Node !== 'string' || typeof c.CheckID !== 'string' || typeof c.Status !== 'string') {
      return { ok: false, error: `stdin item ${i} is not a health check (it needs Node, CheckID and Status)` };
    }
  }
  return { ok: true, checks: json as HealthCheck[] };
}

export interface ConsulEvent {
  readonly ID: string;
  readonly Name: string;
  readonly Payload: string | null;
  readonly LTime: number;
}

export type WatchEvents = { ok: true; events: ConsulEvent[] } | { ok: false; error: string };

export function parseWatchEvents(text: string): WatchEvents {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `stdin is not JSON (${(error as Error).message})` };
  }
  // Consul sends null when the agent knows no event of this name yet.
  if (json === null) return { ok: true, events: [] };
  if (!Array.isArray(json)) return { ok: false, error: `stdin is not a list of events (found ${typeof json})` };
  for (const [i, event] of json.entries()) {
    const e = event as Partial<ConsulEvent> | null;
    if (!e || typeof e !== 'object' || typeof e.ID !== 'string' || typeof e.Name !== 'string' || typeof e.LTime !== 'number' || (e.Payload !== null && e.Payload !== undefined && typeof e.Payload !== 'string')) {
      return { ok: false, error: `stdin item ${i} is not a Consul event (it needs ID, Name, LTime and Payload)` };
    }
  }
  return { ok: true, events: json as ConsulEvent[] };
}
