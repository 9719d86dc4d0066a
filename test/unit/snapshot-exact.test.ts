/**
 * The JSON form of a snapshot (what `nova-ha simulate` reads): every field checked, a bad file
 * rejected with one line naming the file, the host and the field (invariant 9), and the ISO
 * times snapshotToJson writes read back as the same snapshot.
 */
import { describe, expect, it } from 'vitest';
import type { Snapshot } from '../../lib/decision/model.js';
import { parseSnapshot, snapshotToJson, SnapshotError } from '../../lib/decision/snapshot.js';

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const T = (iso: string): number => Date.parse(iso);
const HOUR_AGO = '2026-11-25T09:00:00.000Z';
const DAY_AGO = '2026-11-24T10:00:00.000Z';

/** One host of each kind the file form has: a full incident, none, and one that could not be read. */
function file(): Doc {
  const healthy = (name: string, incident: unknown): Doc => ({
    host: name,
    networks: { mgmt: { state: 'alive', since: DAY_AGO }, storage: { state: 'alive', since: DAY_AGO }, tenant: { state: 'alive', since: DAY_AGO } },
    power: { state: 'on', since: DAY_AGO },
    novaCompute: { node: { state: 'up', since: DAY_AGO }, api: { state: 'up', since: DAY_AGO } },
    maintenance: { state: 'off' },
    incident,
  });
  return {
    context: {
      now: '2026-11-25T10:00:00.000Z',
      observer: { node: 'ctl1', networks: { mgmt: 'healthy', storage: 'isolated', tenant: 'unknown' }, startedAt: DAY_AGO },
      hosts: 20,
      failed: { mgmt: 1, storage: 2, tenant: 3 },
      novaApiDown: 4,
      nova: { api: 'up', schedulers: 'down' },
      paused: { reason: 'upgrade', since: HOUR_AGO },
    },
    hosts: [
      {
        host: 'cmp1',
        networks: { mgmt: { state: 'failed', since: HOUR_AGO }, storage: { state: 'left', since: HOUR_AGO }, tenant: { state: 'unknown', since: HOUR_AGO } },
        power: { state: 'off', since: HOUR_AGO },
        novaCompute: { node: { state: 'down', since: HOUR_AGO }, api: { state: 'unknown', since: HOUR_AGO } },
        maintenance: { state: 'on', reason: 'disk swap' },
        incident: {
          id: 'cmp1-20261125T090000Z',
          cause: 'storage-network',
          phase: 'held',
          phaseSince: '2026-11-25T09:30:00.000Z',
          attempts: {
            'restart-storage-network': '2026-11-25T09:01:00.000Z',
            'restart-nova-compute': '2026-11-25T09:02:00.000Z',
            'power-on': '2026-11-25T09:03:00.000Z',
            drain: '2026-11-25T09:04:00.000Z',
          },
          reports: {
            'restart-storage-network': { result: 'still-broken', detail: '0 of 3 storage servers reachable', at: '2026-11-25T09:01:30.000Z' },
            'restart-nova-compute': { result: 'works', detail: 'nova-compute running', at: '2026-11-25T09:02:30.000Z' },
          },
          fenceStarted: true,
          alerted: true,
          hold: { reason: 'BMC silent', needsOperator: true },
          seenOnWhileFenced: '2026-11-25T09:45:00.000Z',
        },
      },
      healthy('cmp2', null),
      healthy('cmp3', 'unknown'),
    ],
  };
}

/** The snapshot file() describes. */
const SNAPSHOT: Snapshot = {
  context: {
    now: T('2026-11-25T10:00:00Z'),
    observer: { node: 'ctl1', networks: { mgmt: 'healthy', storage: 'isolated', tenant: 'unknown' }, startedAt: T(DAY_AGO) },
    hosts: 20,
    failed: { mgmt: 1, storage: 2, tenant: 3 },
    novaApiDown: 4,
    nova: { api: 'up', schedulers: 'down' },
    paused: { reason: 'upgrade', since: T(HOUR_AGO) },
  },
  hosts: [
    {
      host: 'cmp1',
      networks: { mgmt: { state: 'failed', since: T(HOUR_AGO) }, storage: { state: 'left', since: T(HOUR_AGO) }, tenant: { state: 'unknown', since: T(HOUR_AGO) } },
      power: { state: 'off', since: T(HOUR_AGO) },
      novaCompute: { node: { state: 'down', since: T(HOUR_AGO) }, api: { state: 'unknown', since: T(HOUR_AGO) } },
      maintenance: { state: 'on', reason: 'disk swap' },
      incident: {
        id: 'cmp1-20261125T090000Z',
        cause: 'storage-network',
        phase: 'held',
        phaseSince: T('2026-11-25T09:30:00Z'),
        attempts: { 'restart-storage-network': T('2026-11-25T09:01:00Z'), 'restart-nova-compute': T('2026-11-25T09:02:00Z'), 'power-on': T('2026-11-25T09:03:00Z'), drain: T('2026-11-25T09:04:00Z') },
        reports: {
          'restart-storage-network': { result: 'still-broken', detail: '0 of 3 storage servers reachable', at: T('2026-11-25T09:01:30Z') },
          'restart-nova-compute': { result: 'works', detail: 'nova-compute running', at: T('2026-11-25T09:02:30Z') },
        },
        fenceStarted: true,
        alerted: true,
        hold: { reason: 'BMC silent', needsOperator: true },
        seenOnWhileFenced: T('2026-11-25T09:45:00Z'),
      },
    },
    ...(['cmp2', 'cmp3'] as const).map((name, i) => ({
      host: name,
      networks: { mgmt: { state: 'alive' as const, since: T(DAY_AGO) }, storage: { state: 'alive' as const, since: T(DAY_AGO) }, tenant: { state: 'alive' as const, since: T(DAY_AGO) } },
      power: { state: 'on' as const, since: T(DAY_AGO) },
      novaCompute: { node: { state: 'up' as const, since: T(DAY_AGO) }, api: { state: 'up' as const, since: T(DAY_AGO) } },
      maintenance: { state: 'off' as const },
      incident: i === 0 ? null : ('unknown' as const),
    })),
  ],
};

const parse = (doc: unknown, source?: string): Snapshot => parseSnapshot(typeof doc === 'string' ? doc : JSON.stringify(doc), source);
const errorOf = (doc: unknown, source = 'obs.json'): string => {
  try {
    parse(doc, source);
  } catch (error) {
    expect(error).toBeInstanceOf(SnapshotError);
    expect((error as Error).name).toBe('SnapshotError');
    return (error as Error).message;
  }
  throw new Error('parsed without an error');
};
/** file() with one change at a dotted path ('hosts.0.incident.phase'); undefined deletes the field. */
function changed(path: string, value: unknown): Doc {
  const doc = file();
  const keys = path.split('.');
  const last = keys.pop()!;
  const parent = keys.reduce<Doc>((at, key) => at[key], doc);
  if (value === undefined) delete parent[last];
  else parent[last] = value;
  return doc;
}

describe('parseSnapshot: a well-formed file', () => {
  it('reads every field: times as ms, absent optional fields stay absent, null and "unknown" incidents kept apart', () => {
    expect(parse(file())).toStrictEqual(SNAPSHOT);
  });

  it('takes times as ISO strings or as ms since the epoch, and 0 as a count', () => {
    const doc = changed('context.now', 1_764_064_800_000);
    doc['context'].hosts = 0;
    doc['context'].failed = { mgmt: 0, storage: 0, tenant: 0 };
    const context = parse(doc).context;
    expect([context.now, context.hosts, context.failed]).toStrictEqual([1_764_064_800_000, 0, { mgmt: 0, storage: 0, tenant: 0 }]);
  });

  it('an incident without cause, reports, hold or seenOnWhileFenced has none of those keys; a null hold is no hold', () => {
    const doc = file();
    const incident = doc['hosts'][0].incident;
    for (const key of ['cause', 'reports', 'seenOnWhileFenced']) delete incident[key];
    incident.hold = null;
    incident.attempts = {};
    expect(parse(doc).hosts[0]!.incident).toStrictEqual({ id: 'cmp1-20261125T090000Z', phase: 'held', phaseSince: T('2026-11-25T09:30:00Z'), attempts: {}, fenceStarted: true, alerted: true });
    delete incident.hold;
    incident.reports = {};
    expect(parse(doc).hosts[0]!.incident).not.toHaveProperty('hold');
    expect(parse(doc).hosts[0]!.incident).not.toHaveProperty('reports');
  });

  it('a maintenance without a reason has no reason key; "paused": null and "unknown" are kept apart', () => {
    expect(parse(changed('hosts.0.maintenance', { state: 'unknown' })).hosts[0]!.maintenance).toStrictEqual({ state: 'unknown' });
    expect(parse(changed('context.paused', null)).context.paused).toBeNull();
    expect(parse(changed('context.paused', 'unknown')).context.paused).toBe('unknown');
  });

  // The accepted names are written out here: they are the file format, and a name dropped from
  // the model would make a valid file fail.
  const accepted: [string, string, readonly string[]][] = [
    ['a member state', 'hosts.0.networks.storage.state', ['alive', 'failed', 'left', 'unknown']],
    ['a power state', 'hosts.0.power.state', ['on', 'off', 'unknown']],
    ['nova-compute on the node', 'hosts.0.novaCompute.node.state', ['up', 'down', 'unknown']],
    ["nova-compute in Nova's API", 'hosts.0.novaCompute.api.state', ['up', 'down', 'unknown']],
    ['a maintenance state', 'hosts.0.maintenance.state', ['on', 'off', 'unknown']],
    ["the observer's health", 'context.observer.networks.mgmt', ['healthy', 'isolated', 'unknown']],
    ["Nova's API", 'context.nova.api', ['up', 'down', 'unknown']],
    ["Nova's schedulers", 'context.nova.schedulers', ['up', 'down', 'unknown']],
    ['a phase', 'hosts.0.incident.phase', ['detected', 'confirming', 'repairing', 'fencing', 'forcing-down', 'evacuating', 'fenced', 'recovered', 'failed', 'held']],
    ['a cause', 'hosts.0.incident.cause', ['healthy', 'mgmt-network', 'tenant-network', 'storage-network', 'node-unreachable', 'power-lost', 'shut-down', 'power-unknown', 'nova-api-only', 'nova-compute-dead', 'agents-left', 'inconsistent', 'operator', 'unknown']],
    ["a node's repair result", 'hosts.0.incident.reports.restart-nova-compute.result', ['refused', 'failed', 'ran', 'works', 'still-broken']],
  ];
  it.each(accepted)('accepts every %s nova-ha knows', (_what, path, values) => {
    for (const value of values) {
      const read = parse(changed(path, value)) as unknown as Doc;
      expect(path.split('.').reduce<Doc>((at, key) => at[key], read)).toBe(value);
    }
  });
});

describe('parseSnapshot: a bad file gets one line naming the file, the host and the field (invariant 9)', () => {
  it('text that is not JSON, or not an object at the top', () => {
    expect(errorOf('{"context":', 'obs.json')).toMatch(/^obs\.json: not valid JSON \(.+\)$/);
    expect(errorOf('null')).toBe('obs.json: (top level): expected an object, found null');
    expect(errorOf('[1]')).toBe('obs.json: (top level): expected an object, found [1]');
  });

  it('without a file name the source is "observations"', () => {
    expect(() => parseSnapshot('{')).toThrow(/^observations: not valid JSON/);
    expect(() => parseSnapshot('"x"')).toThrow('observations: (top level): expected an object, found "x"');
  });

  const cases: [string, unknown, string][] = [
    ['context', undefined, 'obs.json: context: expected an object, found nothing'],
    ['context', [], 'obs.json: context: expected an object, found []'],
    ['context.now', 'yesterday', 'obs.json: context.now: expected an ISO 8601 time such as 2026-11-25T10:00:00Z, found "yesterday"'],
    ['context.now', true, 'obs.json: context.now: expected an ISO 8601 time such as 2026-11-25T10:00:00Z, found true'],
    ['context.now', ['2026-11-25T10:00:00Z'], 'obs.json: context.now: expected an ISO 8601 time such as 2026-11-25T10:00:00Z, found ["2026-11-25T10:00:00Z"]'],
    ['context.observer.node', '', 'obs.json: context.observer.node: expected a non-empty string, found ""'],
    ['context.observer.node', 7, 'obs.json: context.observer.node: expected a non-empty string, found 7'],
    ['context.observer.networks.storage', 'down', 'obs.json: context.observer.networks.storage: expected one of healthy, isolated, unknown, found "down"'],
    ['context.observer.networks.tenant', 1, 'obs.json: context.observer.networks.tenant: expected one of healthy, isolated, unknown, found 1'],
    ['context.observer.startedAt', undefined, 'obs.json: context.observer.startedAt: expected an ISO 8601 time such as 2026-11-25T10:00:00Z, found nothing'],
    ['context.hosts', -1, 'obs.json: context.hosts: expected a number of at least 0, found -1'],
    ['context.hosts', '20', 'obs.json: context.hosts: expected a number of at least 0, found "20"'],
    ['context.hosts', 'x'.repeat(100), `obs.json: context.hosts: expected a number of at least 0, found "${'x'.repeat(59)}`],
    ['context.failed.tenant', undefined, 'obs.json: context.failed.tenant: expected a number of at least 0, found nothing'],
    ['context.novaApiDown', null, 'obs.json: context.novaApiDown: expected a number of at least 0, found null'],
    ['context.nova.api', 'slow', 'obs.json: context.nova.api: expected one of up, down, unknown, found "slow"'],
    ['context.nova.schedulers', 'slow', 'obs.json: context.nova.schedulers: expected one of up, down, unknown, found "slow"'],
    ['context.paused', undefined, 'obs.json: context.paused: expected an object, found nothing'],
    ['context.paused', { reason: 'upgrade' }, 'obs.json: context.paused.since: expected an ISO 8601 time such as 2026-11-25T10:00:00Z, found nothing'],
    ['context.paused', { reason: '', since: HOUR_AGO }, 'obs.json: context.paused.reason: expected a non-empty string, found ""'],
    ['hosts', {}, 'obs.json: hosts: expected a list, found {}'],
    ['hosts', undefined, 'obs.json: hosts: expected a list, found nothing'],
    ['hosts.1', 5, 'obs.json: hosts[1]: expected an object, found 5'],
    ['hosts.1', null, 'obs.json: hosts[1]: expected an object, found null'],
    ['hosts.1', ['cmp2'], 'obs.json: hosts[1]: expected an object, found ["cmp2"]'],
    ['hosts.1.host', '', 'obs.json: hosts[1].host: expected a non-empty string, found ""'],
    ['hosts.1.host', undefined, 'obs.json: host #2 (no name): host: expected a non-empty string, found nothing'],
    ['hosts.1.host', 'cmp1', 'obs.json: host cmp1: listed twice'],
    ['hosts.0.networks', undefined, 'obs.json: host cmp1: networks: expected an object, found nothing'],
    ['hosts.0.networks.mgmt.state', 'dead', 'obs.json: host cmp1: networks.mgmt.state: expected one of alive, failed, left, unknown, found "dead"'],
    ['hosts.0.networks.tenant.since', 'later', 'obs.json: host cmp1: networks.tenant.since: expected an ISO 8601 time such as 2026-11-25T10:00:00Z, found "later"'],
    ['hosts.1.networks.storage', undefined, 'obs.json: host cmp2: networks.storage: expected an object, found nothing'],
    ['hosts.0.power.state', 'standby', 'obs.json: host cmp1: power.state: expected one of on, off, unknown, found "standby"'],
    ['hosts.0.novaCompute.node.state', 'running', 'obs.json: host cmp1: novaCompute.node.state: expected one of up, down, unknown, found "running"'],
    ['hosts.0.novaCompute.api.since', undefined, 'obs.json: host cmp1: novaCompute.api.since: expected an ISO 8601 time such as 2026-11-25T10:00:00Z, found nothing'],
    ['hosts.0.maintenance', undefined, 'obs.json: host cmp1: maintenance: expected an object, found nothing'],
    ['hosts.0.maintenance.state', 'yes', 'obs.json: host cmp1: maintenance.state: expected one of on, off, unknown, found "yes"'],
    ['hosts.0.maintenance.reason', '', 'obs.json: host cmp1: maintenance.reason: expected a non-empty string, found ""'],
    ['hosts.2.incident', undefined, 'obs.json: host cmp3: incident: expected an object, found nothing'],
    ['hosts.2.incident', 'unreadable', 'obs.json: host cmp3: incident: expected an object, found "unreadable"'],
    ['hosts.0.incident.id', '', 'obs.json: host cmp1: incident.id: expected a non-empty string, found ""'],
    ['hosts.0.incident.cause', 'gremlins', 'obs.json: host cmp1: incident.cause: expected one of healthy, mgmt-network, tenant-network, storage-network, node-unreachable, power-lost, shut-down, power-unknown, nova-api-only, nova-compute-dead, agents-left, inconsistent, operator, unknown, found "gremlins"'],
    ['hosts.0.incident.phase', 'done', 'obs.json: host cmp1: incident.phase: expected one of detected, confirming, repairing, fencing, forcing-down, evacuating, fenced, recovered, failed, held, found "done"'],
    ['hosts.0.incident.phaseSince', 'soon', 'obs.json: host cmp1: incident.phaseSince: expected an ISO 8601 time such as 2026-11-25T10:00:00Z, found "soon"'],
    ['hosts.0.incident.attempts', undefined, 'obs.json: host cmp1: incident.attempts: expected an object, found nothing'],
    ['hosts.0.incident.attempts', ['drain'], 'obs.json: host cmp1: incident.attempts: expected an object, found ["drain"]'],
    ['hosts.0.incident.attempts', { reboot: HOUR_AGO }, 'obs.json: host cmp1: incident.attempts: expected one of restart-storage-network, restart-nova-compute, power-on, drain, found "reboot"'],
    ['hosts.0.incident.attempts.drain', 'soon', 'obs.json: host cmp1: incident.attempts.drain: expected an ISO 8601 time such as 2026-11-25T10:00:00Z, found "soon"'],
    ['hosts.0.incident.reports', 'none', 'obs.json: host cmp1: incident.reports: expected an object, found "none"'],
    ['hosts.0.incident.reports.power-on', { result: 'ran', detail: 'x', at: HOUR_AGO }, 'obs.json: host cmp1: incident.reports: expected one of restart-storage-network, restart-nova-compute, found "power-on"'],
    ['hosts.0.incident.reports.restart-nova-compute.result', 'fine', 'obs.json: host cmp1: incident.reports.restart-nova-compute.result: expected one of refused, failed, ran, works, still-broken, found "fine"'],
    ['hosts.0.incident.reports.restart-nova-compute.detail', '', 'obs.json: host cmp1: incident.reports.restart-nova-compute.detail: expected a non-empty string, found ""'],
    ['hosts.0.incident.reports.restart-storage-network.at', undefined, 'obs.json: host cmp1: incident.reports.restart-storage-network.at: expected an ISO 8601 time such as 2026-11-25T10:00:00Z, found nothing'],
    ['hosts.0.incident.fenceStarted', 'yes', 'obs.json: host cmp1: incident.fenceStarted: expected true or false, found "yes"'],
    ['hosts.0.incident.alerted', undefined, 'obs.json: host cmp1: incident.alerted: expected true or false, found nothing'],
    ['hosts.0.incident.hold', 'BMC silent', 'obs.json: host cmp1: incident.hold: expected an object, found "BMC silent"'],
    ['hosts.0.incident.hold.reason', '', 'obs.json: host cmp1: incident.hold.reason: expected a non-empty string, found ""'],
    ['hosts.0.incident.hold.needsOperator', 0, 'obs.json: host cmp1: incident.hold.needsOperator: expected true or false, found 0'],
    ['hosts.0.incident.seenOnWhileFenced', 'never', 'obs.json: host cmp1: incident.seenOnWhileFenced: expected an ISO 8601 time such as 2026-11-25T10:00:00Z, found "never"'],
  ];
  it.each(cases)('%s = %j', (path, value, message) => {
    expect(errorOf(changed(path, value))).toBe(message);
  });

  it('a number too large for a double (JSON 1e999) is neither a count nor a time', () => {
    const text = (path: string): string => JSON.stringify(changed(path, 'PLACEHOLDER')).replace('"PLACEHOLDER"', '1e999');
    expect(errorOf(text('context.hosts'))).toBe('obs.json: context.hosts: expected a number of at least 0, found null');
    expect(errorOf(text('context.now'))).toBe('obs.json: context.now: expected an ISO 8601 time such as 2026-11-25T10:00:00Z, found null');
  });
});

describe('snapshotToJson: the file form, times as ISO 8601', () => {
  it('writes every time as an ISO string and every count as a number, and reads back the same snapshot', () => {
    const text = snapshotToJson(SNAPSHOT);
    expect(JSON.parse(text)).toStrictEqual(file());
    expect(parseSnapshot(text)).toStrictEqual(SNAPSHOT);
    expect(text.split('\n')[1]).toBe('  "context": {');
  });
});
