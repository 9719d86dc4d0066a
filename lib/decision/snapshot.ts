/**
 * The JSON form of a Snapshot (what `nova-ha simulate` reads and what the handlers record):
 * timestamps as ISO 8601 strings, everything else as in decision/model.ts. Parsing names the host
 * and the field of the first problem, so a bad file gets one clear line.
 */
import { CAUSES, NETWORKS, NODE_REPAIRS, PHASES, REPAIR_RESULTS, type Attempt, type ClusterContext, type Held, type HostObservation, type IncidentSummary, type NodeRepair, type RepairReport, type Snapshot } from './model.js';

export class SnapshotError extends Error {
  override name = 'SnapshotError';
}

type Json = unknown;

class Field {
  constructor(private readonly value: Json, private readonly path: string, private readonly where: string) {}

  private fail(expected: string): never {
    const found = this.value === undefined ? 'nothing' : JSON.stringify(this.value)?.slice(0, 60);
    throw new SnapshotError(`${this.where}: ${this.path || '(top level)'}: expected ${expected}, found ${found}`);
  }

  at(key: string): Field {
    const object = this.object();
    return new Field(object[key], this.path ? `${this.path}.${key}` : key, this.where);
  }

  has(key: string): boolean {
    return this.object()[key] !== undefined;
  }

  object(): Record<string, Json> {
    if (this.value === null || typeof this.value !== 'object' || Array.isArray(this.value)) this.fail('an object');
    return this.value as Record<string, Json>;
  }

  array(): Field[] {
    if (!Array.isArray(this.value)) this.fail('a list');
    return (this.value as Json[]).map((v, i) => new Field(v, `${this.path}[${i}]`, this.where));
  }

  string(): string {
    if (typeof this.value !== 'string' || this.value === '') this.fail('a non-empty string');
    return this.value as string;
  }

  number(): number {
    if (typeof this.value !== 'number' || !Number.isFinite(this.value) || this.value < 0) this.fail('a number of at least 0');
    return this.value as number;
  }

  boolean(): boolean {
    if (typeof this.value !== 'boolean') this.fail('true or false');
    return this.value as boolean;
  }

  oneOf<const T extends string>(values: readonly T[]): T {
    if (typeof this.value !== 'string' || !values.includes(this.value as T)) this.fail(`one of ${values.join(', ')}`);
    return this.value as T;
  }

  time(): number {
    if (typeof this.value === 'number' && Number.isFinite(this.value)) return this.value;
    const ms = typeof this.value === 'string' ? Date.parse(this.value) : Number.NaN;
    if (Number.isNaN(ms)) this.fail('an ISO 8601 time such as 2026-11-25T10:00:00Z');
    return ms;
  }

  held<const T extends string>(values: readonly T[]): Held<T> {
    return { state: this.at('state').oneOf(values), since: this.at('since').time() };
  }

  /** One of this object's keys, as a value to check: its errors name this object's path and host. */
  key(key: string): Field {
    return new Field(key, this.path, this.where);
  }

  /** The same value, with paths counted from here and errors naming `where` (a host). */
  within(where: string): Field {
    return new Field(this.value, '', where);
  }
}

export function parseSnapshot(text: string, source = 'observations'): Snapshot {
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SnapshotError(`${source}: not valid JSON (${(error as Error).message})`);
  }
  const root = new Field(json, '', source);
  const context = parseContext(root.at('context'));
  const seen = new Set<string>();
  const hosts = root.at('hosts').array().map((entry, index) => {
    const name = entry.has('host') ? entry.at('host').string() : undefined;
    const host = parseHost(entry.within(`${source}: host ${name ?? `#${index + 1} (no name)`}`));
    if (seen.has(host.host)) throw new SnapshotError(`${source}: host ${host.host}: listed twice`);
    seen.add(host.host);
    return host;
  });
  return { context, hosts };
}

function parseContext(field: Field): ClusterContext {
  const observer = field.at('observer');
  const nets = observer.at('networks');
  const failed = field.at('failed');
  return {
    now: field.at('now').time(),
    observer: {
      node: observer.at('node').string(),
      networks: Object.fromEntries(NETWORKS.map((n) => [n, nets.at(n).oneOf(['healthy', 'isolated', 'unknown'])])) as ClusterContext['observer']['networks'],
      startedAt: observer.at('startedAt').time(),
    },
    hosts: field.at('hosts').number(),
    failed: Object.fromEntries(NETWORKS.map((n) => [n, failed.at(n).number()])) as ClusterContext['failed'],
    novaApiDown: field.at('novaApiDown').number(),
    nova: { api: field.at('nova').at('api').oneOf(['up', 'down', 'unknown']), schedulers: field.at('nova').at('schedulers').oneOf(['up', 'down', 'unknown']) },
    paused: nullUnknownOr(field, 'paused', (paused) => ({ reason: paused.at('reason').string(), since: paused.at('since').time() })),
  };
}

/** Fields that may be null (none), "unknown" (could not be read) or an object. */
function nullUnknownOr<T>(parent: Field, key: string, parse: (field: Field) => T): T | null | 'unknown' {
  const raw = parent.object()[key];
  if (raw === null) return null;
  if (raw === 'unknown') return 'unknown';
  return parse(parent.at(key));
}

const MEMBER = ['alive', 'failed', 'left', 'unknown'] as const;
const SERVICE = ['up', 'down', 'unknown'] as const;

function parseHost(field: Field): HostObservation {
  const nets = field.at('networks');
  const maintenance = field.at('maintenance');
  const reason = maintenance.has('reason') ? maintenance.at('reason').string() : undefined;
  return {
    host: field.at('host').string(),
    networks: Object.fromEntries(NETWORKS.map((n) => [n, nets.at(n).held(MEMBER)])) as HostObservation['networks'],
    power: field.at('power').held(['on', 'off', 'unknown']),
    novaCompute: { node: field.at('novaCompute').at('node').held(SERVICE), api: field.at('novaCompute').at('api').held(SERVICE) },
    maintenance: { state: maintenance.at('state').oneOf(['on', 'off', 'unknown']), ...(reason ? { reason } : {}) },
    incident: nullUnknownOr(field, 'incident', parseIncident),
  };
}

const ATTEMPTS: readonly Attempt[] = ['restart-storage-network', 'restart-nova-compute', 'power-on', 'drain'];

function parseIncident(field: Field): IncidentSummary {
  const attempts: Partial<Record<Attempt, number>> = {};
  const raw = field.at('attempts');
  for (const key of Object.keys(raw.object())) {
    const attempt = raw.key(key).oneOf(ATTEMPTS);
    attempts[attempt] = raw.at(key).time();
  }
  const reports: Partial<Record<NodeRepair, RepairReport>> = {};
  if (field.has('reports')) {
    const rawReports = field.at('reports');
    for (const key of Object.keys(rawReports.object())) {
      const report = rawReports.at(key);
      reports[rawReports.key(key).oneOf(NODE_REPAIRS)] = { result: report.at('result').oneOf(REPAIR_RESULTS), detail: report.at('detail').string(), at: report.at('at').time() };
    }
  }
  const hold = field.has('hold') && field.object()['hold'] !== null ? { reason: field.at('hold').at('reason').string(), needsOperator: field.at('hold').at('needsOperator').boolean() } : undefined;
  return {
    id: field.at('id').string(),
    ...(field.has('cause') ? { cause: field.at('cause').oneOf(CAUSES) } : {}),
    phase: field.at('phase').oneOf(PHASES),
    phaseSince: field.at('phaseSince').time(),
    attempts,
    ...(Object.keys(reports).length ? { reports } : {}),
    fenceStarted: field.at('fenceStarted').boolean(),
    alerted: field.at('alerted').boolean(),
    ...(hold ? { hold } : {}),
    ...(field.has('seenOnWhileFenced') ? { seenOnWhileFenced: field.at('seenOnWhileFenced').time() } : {}),
  };
}

/** JSON with ISO times, the inverse of parseSnapshot. */
export function snapshotToJson(snapshot: Snapshot): string {
  return JSON.stringify(snapshot, (key, value: unknown) => (typeof value === 'number' && TIME_KEYS.has(key) ? new Date(value).toISOString() : value), 2);
}

const TIME_KEYS = new Set(['now', 'since', 'startedAt', 'phaseSince', 'seenOnWhileFenced', 'at', ...ATTEMPTS]);
