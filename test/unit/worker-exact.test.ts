/**
 * The worker (recovery/worker.ts) in detail, over the simulated cloud: how it reads and records
 * the node's repair reports (which it takes, which it refuses and notes, each version once, only
 * into the incident it read and only while it holds the host); what it records before and after
 * each repair request and with which words; which interrupted repairs it sends again; how it
 * records a decision (its timeline line, hold, cause, escalation, a fenced host seen on); which
 * emails go out and how often; closing, draining, and what it logs.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { REPORT_MARGIN_MS, collectRepairReport, reportStillDue, runWorker } from '../../lib/recovery/worker.js';
import { signReport, verifyRequest } from '../../lib/recovery/repair-request.js';
import type { Effects } from '../../lib/recovery/effects.js';
import type { RepairResult } from '../../lib/decision/model.js';
import { Secret } from '../../lib/shared/secret.js';
import { openIncident, withStep, type Incident } from '../../lib/state/incident.js';
import { KEYS, type NovaPoll, type NovaServiceState } from '../../lib/state/records.js';
import type { HeldLock } from '../../lib/systems/consul/lock.js';
import { FakeCloud, HMAC_KEY, HOUR, cloudsDisposedAfterEach } from '../support/fake-cloud.js';
import { consulError } from '../support/fake-consul.js';
import { expectInOrder } from '../support/journal.js';

const HOST = 'cmp1';
const ACTION = 'restart-storage-network';
const REPORT_KEY = `repair-reports/${HOST}`;
const hmacKey = new Secret(HMAC_KEY);
const cloudOf = cloudsDisposedAfterEach();

const work = (c: FakeCloud, effects: Effects = c.effects(), host = HOST) => runWorker(c.runtime, effects, host, c.observer, { pollMs: 10 });
const steps = (i: Incident | undefined): string[] => (i?.timeline ?? []).map((e) => `${e.step}:${e.outcome}`);
const incidentKey = (c: FakeCloud, host = HOST): string => c.key(KEYS.incident(host));
const reportKey = (c: FakeCloud): string => c.key(KEYS.repairReport(HOST));
const closedOf = async (c: FakeCloud): Promise<Incident> => (await c.store.history(HOST))[0]!;

describe('the report key', () => {
  it('is repair-reports/NODE under the prefix', () => {
    expect(KEYS.repairReport(HOST)).toBe(REPORT_KEY);
  });
});

describe('a report still due keeps the worker looking after its host looks well', () => {
  const SETTLE = 5_000;
  const put = (c: FakeCloud, payload: string) => c.consul.mgmt.kvPut(reportKey(c), payload);
  const sentAgo = (ms: number, over: Partial<Incident> = {}): Incident => {
    const at = Date.now() - ms;
    return withStep({ ...openIncident(HOST, 'storage-network', 'its storage network is down', at - 10_000, 'ctl2'), phase: 'repairing', attempts: { [ACTION]: at - 20_000 }, repairRequests: { [ACTION]: ['n1'] }, ...over }, { at, step: ACTION, outcome: 'done', detail: 'sent', by: 'ctl2' });
  };

  it.each([
    ['asked for, not in, sent just now', sentAgo(100), true],
    ['asked for, not in, sent longer ago than settle_time and the margin', sentAgo(SETTLE + REPORT_MARGIN_MS + 1), false],
    ['in already', sentAgo(100, { repairReports: { [ACTION]: { result: 'works', detail: 'ok', at: 1 } } }), false],
    ['never asked for (no request sent)', sentAgo(100, { repairRequests: {} }), false],
  ] as const)('%s', (_what, incident, due) => {
    expect(reportStillDue(incident, SETTLE, Date.now())).toBe(due);
  });

  it('the host well again before its node reports: the report is still collected, then the incident closes', async () => {
    const c = cloudOf();
    const incident = sentAgo(100);
    c.consul.mgmt.seed(incidentKey(c), incident);
    let reads = 0;
    c.consul.mgmt.before('kvGet', ([key]) => {
      if (key === reportKey(c) && ++reads === 3) void put(c, signReport({ node: HOST, incident: incident.id, action: ACTION, request: 'n1', result: 'works', detail: 'stor0 up, 3 of 3 storage servers reachable after 0.4 s' }, hmacKey));
    });
    expect(await work(c)).toBe('done');
    const closed = await closedOf(c);
    expect(closed.repairReports?.[ACTION]).toMatchObject({ result: 'works' });
    expectInOrder(steps(closed), 'repair-report:done', 'phase recovered:info');
  });

  it('a node that never reports does not keep the worker: the incident closes once the report is no longer due', async () => {
    const c = cloudOf();
    c.consul.mgmt.seed(incidentKey(c), sentAgo(SETTLE + REPORT_MARGIN_MS - 300));
    expect(await work(c)).toBe('done');
    const closed = await closedOf(c);
    expect(closed.repairReports).toBeUndefined();
    expect(closed.closedAt! - (closed.timeline.find((e) => e.step === ACTION)!.at)).toBeGreaterThanOrEqual(SETTLE + REPORT_MARGIN_MS);
  });
});

describe('collectRepairReport: the node\'s report on a repair the incident waits on', () => {
  const now = Date.now();
  const waiting = (over: Partial<Incident> = {}): Incident => ({ ...openIncident(HOST, 'storage-network', 'its storage network is down', now - 30_000, 'ctl2'), phase: 'repairing', attempts: { [ACTION]: now - 5_000 }, repairRequests: { [ACTION]: ['n1'] }, ...over });
  const fields = (over: Partial<{ result: RepairResult; detail: string; request: string; action: string; node: string }> = {}) => ({ node: HOST, incident: waiting().id, action: ACTION, request: 'n1', result: 'still-broken' as RepairResult, detail: 'stor0 lowerlayerdown, 0 of 3 storage servers reachable after 5.0 s', ...over });
  let held = true;
  const lock = { isHeld: () => held } as unknown as HeldLock;

  function setup(incident: Incident | null = waiting()): { c: FakeCloud; collect: (judged?: Set<number>) => Promise<void> } {
    held = true;
    const c = cloudOf();
    if (incident) c.consul.mgmt.seed(incidentKey(c), incident);
    const judged = new Set<number>();
    return { c, collect: (j = judged) => collectRepairReport(c.runtime, HOST, c.store, lock, j) };
  }
  const put = (c: FakeCloud, payload: string) => c.consul.mgmt.kvPut(reportKey(c), payload);
  const reportReads = (c: FakeCloud) => c.consul.mgmt.calls('kvGet').filter(([key]) => key === reportKey(c));

  it.each([
    ['still-broken', 'failed'],
    ['refused', 'failed'],
    ['failed', 'failed'],
    ['works', 'done'],
    ['ran', 'done'],
  ] as const)('a genuine report "%s" is recorded with its evidence and time, its timeline line %s', async (result, outcome) => {
    const { c, collect } = setup();
    await put(c, signReport(fields({ result }), hmacKey));
    const before = Date.now();
    await collect();
    const stored = c.incident(HOST)!;
    const report = stored.repairReports?.[ACTION];
    expect(report).toMatchObject({ result, detail: fields().detail });
    expect(report!.at).toBeGreaterThanOrEqual(before);
    expect(stored.timeline.at(-1)).toEqual({ at: report!.at, step: 'repair-report', outcome, detail: `${ACTION}: ${result}: ${fields().detail}`, by: 'ctl1' });
    expect(c.logs('repair-report')).toEqual([expect.objectContaining({ action: ACTION, result, detail: fields().detail, incident: stored.id, host: HOST, step: 'repair-report' })]);
  });

  it('a forged report is refused: logged with the reason and the fix, noted in the timeline, nothing recorded', async () => {
    const { c, collect } = setup();
    await put(c, signReport(fields({ result: 'works' }), new Secret('f'.repeat(40))));
    await collect();
    const stored = c.incident(HOST)!;
    expect(stored.repairReports).toBeUndefined();
    expect(stored.timeline.at(-1)).toMatchObject({ step: 'repair-report', outcome: 'skipped', detail: `a report in ${REPORT_KEY} was refused: bad signature (forged, or the node signs with another hmac_key); nothing done on it`, by: 'ctl1' });
    const [refused] = c.logs('repair-report-refused');
    expect(refused).toMatchObject({ reason: 'bad signature (forged, or the node signs with another hmac_key)', incident: stored.id, fix: expect.stringMatching(/^nothing is done on it: the repair timeout still applies/) });
  });

  it('a report answering a request of another incident is refused as such', async () => {
    const { c, collect } = setup();
    await put(c, signReport({ ...fields(), incident: 'cmp1-earlier' }, hmacKey));
    await collect();
    expect(c.incident(HOST)!.timeline.at(-1)?.detail).toMatch(/refused: answers incident cmp1-earlier, not the open incident/);
  });

  it('a report older than [remediation] max_age is refused', async () => {
    const { c, collect } = setup();
    await put(c, signReport(fields(), hmacKey, Date.now() - 61_000));
    await collect();
    expect(c.incident(HOST)!.timeline.at(-1)?.detail).toMatch(/refused: signed 6\ds ago, outside the 60s window/);
  });

  it('each version of the key is judged once: a refused report read again adds nothing', async () => {
    const { c, collect } = setup();
    await put(c, 'not a report');
    await collect();
    await collect();
    expect(c.incident(HOST)!.timeline.filter((e) => e.step === 'repair-report').map((e) => e.outcome)).toEqual(['skipped']);
    expect(c.logs('repair-report-refused')).toHaveLength(1);
  });

  it('a newer version after a refused one is judged on its own', async () => {
    const { c, collect } = setup();
    await put(c, 'not a report');
    await collect();
    await put(c, signReport(fields(), hmacKey));
    await collect();
    expect(steps(c.incident(HOST)).filter((s) => s.startsWith('repair-report'))).toEqual(['repair-report:skipped', 'repair-report:failed']);
  });

  it('the first report on a repair stands: a later one on the same repair changes nothing', async () => {
    const { c, collect } = setup(waiting({ repairRequests: { [ACTION]: ['n1'], 'restart-nova-compute': ['n2'] }, repairReports: { [ACTION]: { result: 'still-broken', detail: 'first', at: now - 1000 } } }));
    await put(c, signReport(fields({ result: 'works', detail: 'second' }), hmacKey));
    await collect();
    expect(c.incident(HOST)!.repairReports).toEqual({ [ACTION]: { result: 'still-broken', detail: 'first', at: now - 1000 } });
    expect(c.incident(HOST)!.timeline.filter((e) => e.step === 'repair-report')).toEqual([]);
    expect(c.logs('repair-report')).toEqual([]);
  });

  it('a report on the other repair, still awaited, is recorded beside the first', async () => {
    const { c, collect } = setup(waiting({ repairRequests: { [ACTION]: ['n1'], 'restart-nova-compute': ['n2'] }, repairReports: { [ACTION]: { result: 'still-broken', detail: 'first', at: now - 1000 } } }));
    await put(c, signReport(fields({ action: 'restart-nova-compute', request: 'n2', result: 'works', detail: 'running' }), hmacKey));
    await collect();
    expect(c.incident(HOST)!.repairReports).toEqual({ [ACTION]: { result: 'still-broken', detail: 'first', at: now - 1000 }, 'restart-nova-compute': { result: 'works', detail: 'running', at: expect.any(Number) } });
  });

  it.each([
    ['no incident', null],
    ['an incident that sent no request', waiting({ repairRequests: undefined })],
    ['an incident whose requests list is empty', waiting({ repairRequests: { [ACTION]: [] } })],
    ['an incident with a report on every repair it asked for', waiting({ repairReports: { [ACTION]: { result: 'works', detail: 'x', at: now } } })],
  ])('nothing awaited (%s): the key is not even read', async (_name, incident) => {
    const { c, collect } = setup(incident);
    await put(c, signReport(fields(), hmacKey));
    await collect();
    expect(reportReads(c)).toEqual([]);
  });

  it('a worker that lost the host does not read the key', async () => {
    const { c, collect } = setup();
    await put(c, signReport(fields(), hmacKey));
    held = false;
    await collect();
    expect(reportReads(c)).toEqual([]);
    expect(c.incident(HOST)!.repairReports).toBeUndefined();
  });

  it('a key that cannot be read is no report: logged, nothing written, and read again next time', async () => {
    const { c, collect } = setup();
    await put(c, signReport(fields(), hmacKey));
    let failed = false;
    c.consul.mgmt.before('kvGet', ([key]) => {
      if (key !== reportKey(c) || failed) return;
      failed = true;
      throw consulError(500, 'rpc error: EOF');
    });
    const writes = c.incidentWrites(HOST).length;
    await collect();
    expect(c.logs('repair-report-unread')).toEqual([expect.objectContaining({ error: 'rpc error: EOF' })]);
    expect(c.incidentWrites(HOST)).toHaveLength(writes);
    await collect();
    expect(c.incident(HOST)!.repairReports?.[ACTION]?.result).toBe('still-broken');
  });

  it('an empty key: nothing judged, nothing written', async () => {
    const { c, collect } = setup();
    const judged = new Set<number>();
    await collect(judged);
    expect(judged.size).toBe(0);
    expect(c.incident(HOST)!.timeline).toHaveLength(waiting().timeline.length);
  });

  it('a report that arrives after another incident replaced the one read is not written into it', async () => {
    const { c, collect } = setup();
    await put(c, signReport(fields(), hmacKey));
    const other = { ...waiting(), id: 'cmp1-other' };
    c.consul.mgmt.before('kvGet', ([key]) => key === reportKey(c) && c.consul.mgmt.seed(incidentKey(c), other));
    await collect();
    expect(c.incident(HOST)).toEqual(other);
  });

  it('a worker that loses the host while judging the report writes nothing', async () => {
    for (const payload of [signReport(fields(), hmacKey), 'forged']) {
      const { c, collect } = setup();
      await put(c, payload);
      c.consul.mgmt.before('kvGet', ([key]) => key === reportKey(c) && (held = false));
      await collect();
      expect(c.incident(HOST)).toEqual(waiting());
    }
  });
});

describe('repair requests: what is recorded before and after, and with which words', () => {
  function storageDown(c: FakeCloud): void {
    c.member(HOST, 'critical', 'storage');
    c.heldSince(HOST);
  }

  it('the first request: its nonce recorded with the attempt before the event, no detail; done with the event id after', async () => {
    const c = cloudOf();
    storageDown(c);
    let stored: Incident | undefined;
    c.consul.mgmt.before('eventFire', () => {
      stored = c.incident(HOST);
      c.member(HOST, 'passing', 'storage');
    });
    const before = Date.now();
    await work(c);
    const [event] = c.consul.mgmt.events;
    const { request } = verifyRequest(event!.payload, hmacKey, { self: HOST, now: Date.now(), maxAge: 60_000, allowed: new Set([ACTION]) }) as { request: { nonce: string } };
    expect(stored!.repairRequests).toEqual({ [ACTION]: [request.nonce] });
    expect(stored!.attempts[ACTION]).toBeGreaterThanOrEqual(before);
    expect(stored!.timeline.at(-1)).toEqual({ at: stored!.attempts[ACTION], step: ACTION, outcome: 'started', by: 'ctl1' });
    const closed = await closedOf(c);
    // Opened on the repair decision: its reason is what was observed, not what is done about it.
    expect([closed.reason, closed.timeline[0]!.detail]).toEqual(['its storage network is down', 'its storage network is down']);
    expect(closed.timeline.find((e) => e.step === ACTION && e.outcome === 'done')).toMatchObject({ detail: `repair request sent as Consul event ${event!.id}; success is the health state recovering`, by: 'ctl1' });
    expect(c.logs('repair-sent')).toEqual([expect.objectContaining({ detail: `repair request sent as Consul event ${event!.id}; success is the health state recovering`, step: ACTION, incident: closed.id })]);
  });

  it('the first request clears the report key after recording the request and before sending it', async () => {
    const c = cloudOf();
    storageDown(c);
    c.consul.mgmt.before('eventFire', () => c.member(HOST, 'passing', 'storage'));
    await work(c);
    const labels = c.journal.entries.map((e) => `${e.method} ${e.key ?? ''}`.trim());
    expectInOrder(labels, `kvPut ${incidentKey(c)}`, `kvDelete ${reportKey(c)}`, 'eventFire');
    // A host up on some network: the BMC is not asked.
    expect(c.bmc.calls('readPower')).toEqual([]);
  });

  it('a report key that cannot be cleared is logged with what it means, and the request still goes out', async () => {
    const c = cloudOf();
    storageDown(c);
    c.consul.mgmt.before('eventFire', () => c.member(HOST, 'passing', 'storage'));
    c.consul.mgmt.failNext('kvDelete', consulError(403, 'Permission denied'));
    await work(c);
    expect(c.consul.mgmt.events).toHaveLength(1);
    expect(c.logs('repair-report-clear-failed')).toEqual([expect.objectContaining({ host: HOST, step: ACTION, error: 'Permission denied', fix: 'an old report left there is refused as not answering this request' })]);
    expect(steps(await closedOf(c))).toContain(`${ACTION}:done`);
  });

  it('a request that could not be sent: recorded failed with the error, logged, never done', async () => {
    const c = cloudOf();
    storageDown(c);
    c.consul.mgmt.before('eventFire', () => c.member(HOST, 'passing', 'storage'));
    c.consul.mgmt.failNext('eventFire', consulError(500, 'event refused'));
    await work(c);
    const closed = await closedOf(c);
    expect(closed.timeline.find((e) => e.step === ACTION && e.outcome === 'failed')).toMatchObject({ detail: 'event refused', by: 'ctl1' });
    expect(c.logs('repair-failed')).toEqual([expect.objectContaining({ error: 'event refused', step: ACTION, incident: closed.id })]);
    expect(c.logs('repair-sent')).toEqual([]);
  });

  it('power-on carries no nonce: nothing in repairRequests, the report key untouched; done says what was sent', async () => {
    const c = cloudOf();
    c.hung(HOST, 'off');
    const effects = c.effects();
    await work(c, { ...effects, powerOn: async (host) => {
      await effects.powerOn!(host);
      c.member(host, 'passing');
      c.pollers();
    } });
    const closed = await closedOf(c);
    expect(closed.repairRequests).toBeUndefined();
    expect(c.consul.mgmt.calls('kvDelete').filter(([key]) => key === reportKey(c))).toEqual([]);
    expect(closed.timeline.find((e) => e.step === 'power-on' && e.outcome === 'done')?.detail).toBe('chassis power on sent; waiting for the host to rejoin');
    expect(c.bmc.calls('powerOn')).toHaveLength(1);
  });

  it('power-on on a controller without BMC access: recorded failed, saying what to configure', async () => {
    const c = cloudOf();
    c.hung(HOST, 'off');
    // Once the failure is recorded, the host comes back by itself.
    c.consul.mgmt.before('kvPut', ([key, value]) => {
      if (key === incidentKey(c) && String(value).includes('"outcome":"failed"')) {
        c.member(HOST, 'passing');
        c.bmc.power.set(HOST, 'on');
        c.pollers();
      }
    });
    const { powerOn: _powerOn, ...effects } = c.effects();
    await work(c, effects);
    const closed = await closedOf(c);
    expect(closed.timeline.find((e) => e.step === 'power-on' && e.outcome === 'failed')?.detail).toBe('no BMC access is configured ([ipmi], or [fencing] method = agent with levels)');
    expect(c.bmc.calls('powerOn')).toEqual([]);
  });
});

describe('resuming repairs a dead worker started', () => {
  const seeded = (c: FakeCloud, entries: { step: string; outcome: 'started' | 'done' }[], attempts: Incident['attempts']) => {
    const now = Date.now();
    let incident: Incident = { ...openIncident(HOST, 'storage-network', 'storage down', now - 30_000, 'ctl2'), phase: 'repairing', attempts };
    for (const e of entries) incident = withStep(incident, { at: now - 8_000, step: e.step, outcome: e.outcome, by: 'ctl2' });
    c.consul.mgmt.seed(incidentKey(c), incident);
    return incident;
  };

  it('sends it again before anything else, saying why, logged with the incident', async () => {
    const c = cloudOf();
    c.member(HOST, 'critical', 'storage');
    c.heldSince(HOST);
    const incident = seeded(c, [{ step: ACTION, outcome: 'started' }], { [ACTION]: Date.now() - 8_000 });
    c.consul.mgmt.before('eventFire', () => c.member(HOST, 'passing', 'storage'));
    await work(c);
    expect(c.consul.mgmt.events).toHaveLength(1);
    const closed = await closedOf(c);
    const resent = closed.timeline.filter((e) => e.step === ACTION && e.outcome === 'started').at(-1);
    expect(resent).toMatchObject({ detail: 'sent again: the worker that sent it stopped before recording it sent', by: 'ctl1' });
    expect(c.logs('repair-resumed')).toEqual([expect.objectContaining({ host: HOST, incident: incident.id, step: ACTION, detail: 'the previous worker stopped between recording and finishing this repair; sending it again' })]);
  });

  it('a drain recorded started is not a repair to send again', async () => {
    const c = cloudOf();
    c.heldSince(HOST);
    seeded(c, [{ step: 'drain', outcome: 'started' }], { drain: Date.now() - 8_000 });
    await work(c, c.effects({ undrain: async () => undefined }));
    expect(c.consul.mgmt.events).toEqual([]);
    expect(c.logs('repair-resumed')).toEqual([]);
  });

  it('only the repair left started is sent again, not the one recorded done', async () => {
    const c = cloudOf();
    c.member(HOST, 'critical', 'storage');
    c.heldSince(HOST);
    seeded(c, [{ step: 'restart-nova-compute', outcome: 'started' }, { step: 'restart-nova-compute', outcome: 'done' }, { step: ACTION, outcome: 'started' }], { 'restart-nova-compute': Date.now() - 20_000, [ACTION]: Date.now() - 8_000 });
    c.consul.mgmt.before('eventFire', () => c.member(HOST, 'passing', 'storage'));
    await work(c);
    expect(c.logs('repair-resumed').map((l) => l['step'])).toEqual([ACTION]);
    expect(c.consul.mgmt.events).toHaveLength(1);
  });

  it('a power-on left started is sent again to the BMC', async () => {
    const c = cloudOf();
    c.hung(HOST, 'off');
    seeded(c, [{ step: 'power-on', outcome: 'started' }], { 'power-on': Date.now() - 8_000 });
    const effects = c.effects();
    await work(c, { ...effects, powerOn: async (host) => {
      await effects.powerOn!(host);
      c.member(host, 'passing');
      c.pollers();
    } });
    expect(c.bmc.calls('powerOn')).toHaveLength(1);
    expect(c.logs('repair-resumed').map((l) => l['step'])).toEqual(['power-on']);
  });
});

describe('recording decisions', () => {
  it('a decision\'s timeline line: its action, its guard in brackets, and its reason', async () => {
    const c = cloudOf();
    c.member(HOST, 'critical', 'storage');
    // Failed 9 s ago: confirming for a moment, then the repair.
    c.heldSince(HOST, 9_000);
    c.consul.mgmt.before('eventFire', () => c.member(HOST, 'passing', 'storage'));
    await work(c);
    const decisions = (await closedOf(c)).timeline.filter((e) => e.step === 'decision').map((e) => e.detail);
    expect(decisions[0]).toMatch(/^wait \(confirming\): its storage network is down for \d+(\.\d+)?s; confirming for 10s before acting$/);
    expect(decisions[1]).toBe(`repair: its storage network is down: trying ${ACTION}`);
    expect(decisions).toHaveLength(2);
    // The decision log line too: once per decision, not once per look.
    expect(c.logs('decision').map((l) => [l['action'], l['guard']])).toEqual([['wait', 'confirming'], ['repair', undefined], ['close', undefined]]);
  });

  it.each(['detected', 'confirming'] as const)('a cause confirmed differently while %s is the incident\'s cause, with the reason observed', async (phase) => {
    const c = cloudOf();
    c.member(HOST, 'critical', 'storage');
    c.heldSince(HOST);
    c.consul.mgmt.seed(incidentKey(c), { ...openIncident(HOST, 'tenant-network', 'its tenant network is down', Date.now() - 20_000, 'ctl2'), phase });
    let during: Incident | undefined;
    c.consul.mgmt.before('eventFire', () => {
      during = c.incident(HOST);
      c.member(HOST, 'passing', 'storage');
    });
    await work(c);
    expect([during!.cause, during!.reason]).toEqual(['storage-network', 'its storage network is down']);
    expect(during!.timeline.filter((e) => e.step === 'escalated')).toEqual([]);
  });

  it('a held incident whose host got worse: escalated in its timeline, its cause and reason the new failure, the hold gone', async () => {
    const c = cloudOf();
    c.nova.server('vm1', HOST);
    c.hung(HOST);
    const held = withStep({ ...openIncident(HOST, 'tenant-network', 'its tenant network is down', Date.now() - HOUR, 'ctl2'), phase: 'held', alerted: true, hold: { reason: 'tenant network down', needsOperator: false } }, { at: Date.now() - HOUR, step: 'phase held', outcome: 'info', by: 'ctl2' });
    c.consul.mgmt.seed(incidentKey(c), held);
    expect(await work(c)).toBe('done');
    const incident = c.incident(HOST)!;
    expect(incident.phase).toBe('fenced');
    expect(incident.hold).toBeUndefined();
    expect([incident.cause, incident.reason]).toEqual(['node-unreachable', 'failed on every network while its power is on (hung or cut off)']);
    const escalated = incident.timeline.filter((e) => e.step === 'escalated');
    expect(escalated).toEqual([expect.objectContaining({ outcome: 'info', by: 'ctl1', detail: expect.stringMatching(/^from tenant-network to node-unreachable: worse than the tenant-network incident .* was held for: /) })]);
    expect(c.notes.map((n) => n.event)).toContain('escalated');
  });

  it('a held incident keeps its cause when the host is seen with a lesser failure (only confirming may change it)', async () => {
    const c = cloudOf();
    c.member(HOST, 'critical', 'tenant');
    c.heldSince(HOST);
    c.consul.mgmt.seed(incidentKey(c), { ...openIncident(HOST, 'storage-network', 'its storage network is down', Date.now() - HOUR, 'ctl2'), phase: 'held', alerted: true, hold: { reason: 'storage', needsOperator: false } });
    await work(c);
    expect([c.incident(HOST)!.cause, c.incident(HOST)!.reason]).toEqual(['storage-network', 'its storage network is down']);
  });

  it('a held decision records its hold and whether only an operator may move it on', async () => {
    const c = cloudOf();
    c.member(HOST, 'critical', 'tenant');
    c.heldSince(HOST);
    expect(await work(c)).toBe('done');
    const incident = c.incident(HOST)!;
    expect([incident.phase, incident.hold]).toEqual(['held', { reason: 'its tenant network is down: operators alerted', needsOperator: false }]);
    expect(incident.alerted).toBe(true);
    expect(c.notes).toEqual([expect.objectContaining({ event: 'tenant-network-down', paused: false })]);
    // Looked at again: nothing new in its timeline.
    const timeline = incident.timeline.length;
    await work(c);
    expect(c.incident(HOST)!.timeline).toHaveLength(timeline);
  });

  it('a fenced host seen on again: noted once in its timeline and told once, never powered on or off', async () => {
    const c = cloudOf();
    c.heldSince(HOST);
    c.consul.mgmt.seed(incidentKey(c), { ...openIncident(HOST, 'node-unreachable', 'hung', Date.now() - HOUR, 'ctl2'), phase: 'fenced', fenceStarted: true, alerted: true });
    expect(await work(c)).toBe('done');
    const first = c.incident(HOST)!;
    expect(first.seenOnWhileFenced).toBeGreaterThan(0);
    expect(first.timeline.filter((e) => e.step === 'host-on-while-fenced')).toEqual([expect.objectContaining({ at: first.seenOnWhileFenced, outcome: 'info', by: 'ctl1', detail: expect.stringMatching(/^fenced by incident .*, but it is on again/) })]);
    await work(c);
    expect(c.incident(HOST)!.timeline.filter((e) => e.step === 'host-on-while-fenced')).toHaveLength(1);
    expect(c.incident(HOST)!.seenOnWhileFenced).toBe(first.seenOnWhileFenced);
    expect(c.notes.map((n) => n.event)).toEqual(['fenced-host-on']);
    expect(c.bmc.calls('powerOn')).toEqual([]);
    expect(c.bmc.calls('powerOffVerified')).toEqual([]);
  });
});

describe('emails', () => {
  it("Nova's API alone reporting the host down: warned once while waiting, however often it looks; the recovery told", async () => {
    const c = cloudOf();
    c.heldSince(HOST);
    const nova = (state: 'up' | 'down'): void => {
      c.novaView(HOST, { ...c.consul.mgmt.peek<NovaServiceState>(c.key(KEYS.novaHost(HOST)))!, state, since: Date.now() - 20_000 });
      c.consul.mgmt.seed(c.key(KEYS.novaPoll), { ...c.consul.mgmt.peek<NovaPoll>(c.key(KEYS.novaPoll))!, at: Date.now() });
    };
    nova('down');
    // Up again a few looks after the warning went out.
    let looksSinceWarned = 0;
    c.consul.mgmt.before('kvGet', ([key]) => {
      if (key === c.key(KEYS.novaHost(HOST)) && c.notes.length > 0 && ++looksSinceWarned === 6) nova('up');
    });
    expect(await work(c)).toBe('done');
    expect(c.notes.map((n) => n.event)).toEqual(['nova-api-warning', 'recovered']);
    const closed = await closedOf(c);
    expect(closed.alerted).toBe(true);
    expect(c.incidentWrites(HOST).filter((i) => i.alerted)).not.toHaveLength(0);
  });

  it("Nova's API alone, first confirmed and then waited on: each decision logged once when it changes, the guard included", async () => {
    const c = cloudOf();
    c.heldSince(HOST);
    const nova = (state: 'up' | 'down'): void => {
      c.novaView(HOST, { ...c.consul.mgmt.peek<NovaServiceState>(c.key(KEYS.novaHost(HOST)))!, state, since: Date.now() - 9_000 });
      c.consul.mgmt.seed(c.key(KEYS.novaPoll), { ...c.consul.mgmt.peek<NovaPoll>(c.key(KEYS.novaPoll))!, at: Date.now() });
    };
    nova('down');
    let looksSinceWarned = 0;
    c.consul.mgmt.before('kvGet', ([key]) => {
      if (key === c.key(KEYS.novaHost(HOST)) && c.notes.length > 0 && ++looksSinceWarned === 3) nova('up');
    });
    expect(await work(c)).toBe('done');
    expect(c.logs('decision').map((l) => [l['action'], l['cause'], l['guard']])).toEqual([['wait', 'nova-api-only', 'confirming'], ['wait', 'nova-api-only', undefined], ['close', 'healthy', undefined]]);
    // The incident's timeline has a line for each of the two waits: they differ by their guard alone.
    expect((await closedOf(c)).timeline.filter((e) => e.step === 'decision').map((e) => e.detail!.split(':')[0])).toEqual(['wait (confirming)', 'wait']);
  });

  it('a paused cloud: the email says nova-ha is paused', async () => {
    const c = cloudOf();
    c.member(HOST, 'critical', 'storage');
    c.heldSince(HOST);
    c.consul.mgmt.seed(c.key(KEYS.pause), { reason: 'maintenance window', by: 'ops', at: Date.now() });
    expect(await work(c)).toBe('done');
    expect(c.notes).toEqual([expect.objectContaining({ event: 'paused-action', paused: true })]);
    expect(c.consul.mgmt.events).toEqual([]);
  });

  it('a paused cloud: a host that recovered still closes its incident, and the email says nova-ha is paused', async () => {
    const c = cloudOf();
    c.heldSince(HOST);
    c.consul.mgmt.seed(incidentKey(c), { ...openIncident(HOST, 'tenant-network', 'x', Date.now() - HOUR, 'ctl2'), phase: 'held', alerted: true });
    c.consul.mgmt.seed(c.key(KEYS.pause), { reason: 'maintenance window', by: 'ops', at: Date.now() });
    expect(await work(c)).toBe('done');
    expect(c.incident(HOST)).toBeUndefined();
    expect(c.notes).toEqual([expect.objectContaining({ event: 'recovered', paused: true })]);
  });
});

describe('closing and draining', () => {
  const drained = (c: FakeCloud) => c.consul.mgmt.seed(incidentKey(c), { ...withStep(openIncident(HOST, 'tenant-network', 'its tenant network is down', Date.now() - HOUR, 'ctl2'), { at: Date.now() - HOUR, step: 'drain', outcome: 'done', by: 'ctl2' }), phase: 'held', alerted: true, attempts: { drain: Date.now() - HOUR } });

  it('a healthy host whose incident drained it: enabled again before the incident closes, told, archived with its close time', async () => {
    const c = cloudOf();
    c.heldSince(HOST);
    drained(c);
    const undrained: string[] = [];
    let openWhenUndrained: Incident | undefined;
    expect(await work(c, c.effects({ undrain: async (host) => void (undrained.push(host), (openWhenUndrained = c.incident(HOST))) }))).toBe('done');
    expect(undrained).toEqual([HOST]);
    expect(openWhenUndrained?.phase).toBe('held');
    expect(c.notes).toEqual([expect.objectContaining({ event: 'recovered', paused: false })]);
    expect(c.incident(HOST)).toBeUndefined();
    const closed = await closedOf(c);
    expect(closed.phase).toBe('recovered');
    expect(closed.closedAt).toBeGreaterThanOrEqual(closed.phaseSince);
    expect(closed.timeline.at(-1)).toMatchObject({ step: 'phase recovered', by: 'ctl1', detail: expect.stringMatching(/^healthy on every network and in Nova again: incident .* closed as recovered$/) });
    expect(c.notes.map((n) => n.event)).toEqual(['recovered']);
    expect(c.logs('incident-closed')).toEqual([expect.objectContaining({ incident: closed.id, step: 'close', detail: expect.stringMatching(/closed as recovered$/) })]);
  });

  it('an incident that drained nothing closes without enabling anything', async () => {
    const c = cloudOf();
    c.heldSince(HOST);
    c.consul.mgmt.seed(incidentKey(c), { ...openIncident(HOST, 'tenant-network', 'x', Date.now() - HOUR, 'ctl2'), phase: 'held', alerted: true });
    const undrained: string[] = [];
    await work(c, c.effects({ undrain: async (host) => void undrained.push(host) }));
    expect(undrained).toEqual([]);
    expect((await closedOf(c)).phase).toBe('recovered');
  });

  it('a tenant failure with live migration on: drains through its effect while holding the host, once', async () => {
    const c = cloudOf({ config: { evacuation: { live_migrate_on_tenant_failure: 'true' } } });
    c.member(HOST, 'critical', 'tenant');
    c.heldSince(HOST);
    const runs: { host: string; owner: boolean; phase?: string }[] = [];
    const effects = c.effects({ drain: async (run) => {
      runs.push({ host: run.host, owner: run.stillOwner() });
      return run.change((i) => withStep({ ...i, attempts: { ...i.attempts, drain: Date.now() } }, { at: Date.now(), step: 'drain', outcome: 'done', by: 'ctl1' }));
    } });
    expect(await work(c, effects)).toBe('done');
    expect(runs).toEqual([{ host: HOST, owner: true }]);
    expect(c.incident(HOST)!.attempts.drain).toBeGreaterThan(0);
    expect(c.notes.map((n) => n.event)).toEqual(['tenant-network-down']);
  });

  it('a drain decided on a controller without the drain effect: done, nothing else', async () => {
    const c = cloudOf({ config: { evacuation: { live_migrate_on_tenant_failure: 'true' } } });
    c.member(HOST, 'critical', 'tenant');
    c.heldSince(HOST);
    const { drain: _drain, ...effects } = c.effects();
    expect(await work(c, effects)).toBe('done');
    expect(c.incident(HOST)!.phase).toBe('held');
    expect(c.nova.callCounts()).toEqual(new Map());
  });
});

describe('the BMC read before deciding', () => {
  it('a host whose agents left every cluster: the BMC read now decides (powered off: shut down, powered on again)', async () => {
    const c = cloudOf();
    const since = Date.now() - HOUR;
    c.consul.mgmt.seed(c.key(KEYS.host(HOST)), { networks: { mgmt: { state: 'left', since }, storage: { state: 'left', since }, tenant: { state: 'left', since } }, novaNode: { state: 'up', since }, at: since, by: 'ctl2' });
    for (const n of ['mgmt', 'storage', 'tenant'] as const) c.consul[n].nodes.delete(HOST);
    // The poller last saw it on; its BMC says off now.
    c.bmc.power.set(HOST, 'off');
    const effects = c.effects();
    await work(c, { ...effects, powerOn: async (host) => {
      await effects.powerOn!(host);
      for (const n of ['mgmt', 'storage', 'tenant'] as const) c.consul[n].node(host, { role: 'compute', serfHealth: 'passing', ...(n === 'mgmt' ? { novaCompute: 'passing' as const } : {}) });
      c.pollers();
    } });
    expect(c.bmc.calls('readPower')).not.toHaveLength(0);
    expect(c.bmc.calls('powerOn')).toHaveLength(1);
    expect(c.notes.map((n) => n.event)).toContain('shut-down');
  });
});

describe('the worker process', () => {
  it('logs its start with the lock it holds and its stop; the emails are left for its pool to flush', async () => {
    const c = cloudOf();
    c.member(HOST, 'critical', 'tenant');
    c.heldSince(HOST);
    const flushed: number[] = [];
    const runtime = { ...c.runtime, notifier: { ...c.runtime.notifier, flush: async (ms: number) => (flushed.push(ms), { settled: true, abandoned: 0 }) } };
    expect(await runWorker(runtime, c.effects(), HOST, c.observer, { pollMs: 10 })).toBe('done');
    expect(flushed).toEqual([]);
    expect(c.logs('worker-start')).toEqual([expect.objectContaining({ host: HOST, step: 'lock', detail: `holding ${c.key(KEYS.lock(HOST))}` })]);
    expect(c.logs('worker-stop')).toEqual([expect.objectContaining({ host: HOST, step: 'lock' })]);
    // Released at the end, which is not a lost lock.
    await new Promise((resolve) => setImmediate(resolve));
    expect(c.logs('lock-lost')).toEqual([]);
  });

  it('a busy host is logged as such and not worked on', async () => {
    const c = cloudOf();
    const other = await c.consul.mgmt.sessionCreate({ name: 'other', ttl: '10s', lockDelay: '0s', nodeChecks: [], behavior: 'release' });
    await c.consul.mgmt.kvPut(c.key(KEYS.lock(HOST)), '{}', { acquire: other });
    expect(await work(c)).toBe('busy');
    expect(c.logs('worker-busy')).toEqual([expect.objectContaining({ host: HOST, detail: 'another worker holds the host lock' })]);
    expect(c.logs('worker-start')).toEqual([]);
  });

  it('waiting on a host failed on a network this controller is healthy on: asks its own agent there to rejoin the host', async () => {
    const c = cloudOf();
    c.member(HOST, 'critical', 'storage');
    c.heldSince(HOST, 9_000);
    c.consul.mgmt.before('eventFire', () => c.member(HOST, 'passing', 'storage'));
    await work(c);
    expect(c.consul.storage.calls('agentJoin')).not.toHaveLength(0);
    expect(c.consul.mgmt.calls('agentJoin')).toEqual([]);
    expect(c.consul.tenant.calls('agentJoin')).toEqual([]);
  });
});

describe('a worker that loses the host lock', () => {
  afterEach(() => vi.useRealTimers());

  /** Ends the worker's session as Consul would, and lets the lock's renewal timer find out. */
  function loseLock(c: FakeCloud): void {
    for (const id of c.consul.mgmt.sessionIds()) c.consul.mgmt.invalidateSession(id);
    vi.advanceTimersByTime(10_000);
  }

  it('while waiting: stops with "lost", changes nothing more, and logs why', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const c = cloudOf();
    c.member(HOST, 'critical', 'storage');
    c.heldSince(HOST, 9_000);
    // The first wait asks the storage agent to rejoin the host: the lock is lost then.
    c.consul.storage.before('agentMembers', () => loseLock(c));
    expect(await work(c)).toBe('lost');
    const incident = c.incident(HOST)!;
    expect(incident.phase).toBe('confirming');
    expect(c.consul.mgmt.events).toEqual([]);
    expect(c.logs('lock-lost')).toEqual([expect.objectContaining({ host: HOST, step: 'lock', error: 'the session expired or was invalidated', fix: 'another controller will resume the incident' })]);
  });

  it('while a repair request goes out: stops before recording it done', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const c = cloudOf();
    c.member(HOST, 'critical', 'storage');
    c.heldSince(HOST);
    c.consul.mgmt.before('eventFire', () => loseLock(c));
    await expect(work(c)).rejects.toThrow('lost the lock of cmp1; stopping before changing its incident');
    expect(steps(c.incident(HOST)).at(-1)).toBe(`${ACTION}:started`);
  });

  it('while a resumed repair request goes out: stops before recording it done', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const c = cloudOf();
    c.member(HOST, 'critical', 'storage');
    c.heldSince(HOST);
    c.consul.mgmt.seed(incidentKey(c), withStep({ ...openIncident(HOST, 'storage-network', 'storage down', Date.now() - 30_000, 'ctl2'), phase: 'repairing', attempts: { [ACTION]: Date.now() - 8_000 } }, { at: Date.now() - 8_000, step: ACTION, outcome: 'started', by: 'ctl2' }));
    c.consul.mgmt.before('eventFire', () => loseLock(c));
    await expect(work(c)).rejects.toThrow('lost the lock of cmp1');
    expect(c.incident(HOST)!.timeline.filter((e) => e.step === ACTION).map((e) => `${e.by}:${e.outcome}`)).toEqual(['ctl2:started', 'ctl1:started']);
  });
});
