/**
 * The evaluation pass (recovery/evaluate.ts) to the word: what it logs and tells the operators
 * when a record cannot be written, when this controller is isolated, when a check could not run
 * and when a storm begins, which workers it starts, and the evaluate check's status lines.
 */
import { describe, expect, it } from 'vitest';
import { checkStatus, needsWorker, type Evaluation } from '../../lib/recovery/evaluate.js';
import { openIncident, type Incident } from '../../lib/state/incident.js';
import { KEYS } from '../../lib/state/records.js';
import type { HealthCheck } from '../../lib/systems/consul/api.js';
import { cloudsDisposedAfterEach, evaluateIn } from '../support/fake-cloud.js';
import type { FakeConsul } from '../support/fake-consul.js';

const cloudOf = cloudsDisposedAfterEach();
/** The leader also reports these checks (e.g. one Consul could not run: its own words as output). */
function withExtraChecks(consul: FakeConsul, extra: HealthCheck[]): void {
  const original = consul.healthChecks.bind(consul);
  Object.assign(consul, { healthChecks: async (filter?: string) => [...(await original(filter)), ...extra] });
}
const timedOut = (node: string): HealthCheck => ({ Node: node, CheckID: 'nova-ha-nova-compute', Name: 'nova-ha-nova-compute', Status: 'critical', Output: 'Timed out (10s) running check' });

describe('evaluate, what it records and logs', () => {
  it('a record without a guard carries no guard; the transition log names every state, the action and why', async () => {
    const c = cloudOf({ computes: ['cmp1'] });
    const { evaluation } = await evaluateIn(c);
    const written = c.consul.mgmt.peek<{ decision: Record<string, unknown> }>(c.key(KEYS.host('cmp1')))!;
    expect(written.decision).toStrictEqual({ action: 'none', cause: 'healthy', reason: evaluation.decisions.get('cmp1')!.reason });
    expect(c.logs('transition')).toEqual([expect.objectContaining({ step: 'evaluate', trigger: 'test', host: 'cmp1', networks: { mgmt: 'alive', storage: 'alive', tenant: 'alive' }, nova_compute: 'up', action: 'none', reason: evaluation.decisions.get('cmp1')!.reason })]);
    expect(evaluation.hosts).toBe(evaluation.snapshot.hosts);
    expect(evaluation.hosts.map((h) => h.host)).toEqual(['cmp1']);
    expect([evaluation.storm, evaluation.isolatedOn, evaluation.checksNotRun, evaluation.workersQueued, evaluation.workersStarted, evaluation.recordsLost, evaluation.errors]).toEqual([undefined, [], [], [], 0, 0, []]);
  });

  it('records Consul will not take after retries are counted and logged with Consul\'s words, and the pass goes on to start the worker', async () => {
    const c = cloudOf();
    c.hung('cmp1');
    c.consul.mgmt.before('txn', () => c.consul.mgmt.failNext('txn', new Error('rpc error: EOF')));
    const { evaluation, spawned } = await evaluateIn(c);
    expect(c.logs('records-not-written')).toEqual([expect.objectContaining({ level: 'error', lost: 3, of: 3, error: expect.stringMatching(/^3 of 3 KV writes failed after retries \(.*EOF/) })]);
    expect([evaluation.recordsWritten, evaluation.recordsLost]).toEqual([3, 3]);
    expect(c.consul.mgmt.peek(c.key(KEYS.host('cmp3')))).toBeUndefined();
    expect(checkStatus(evaluation).code).toBe(2);
    expect(spawned).toEqual(['cmp1']);
    expect(c.logs('workers-dispatched')).toEqual([expect.objectContaining({ level: 'info', hosts: ['cmp1'], queued: 1, started: 1 })]);
  });

  it('incidents that cannot be read: nothing decided on them, no worker, the pass itself does not fail', async () => {
    const c = cloudOf();
    c.hung('cmp1');
    c.consul.mgmt.before('kvTree', ([key]) => {
      if (key === c.key('incidents/')) c.consul.mgmt.failNext('kvTree', new Error('timeout'));
    });
    c.consul.mgmt.before('kvGet', ([key]) => {
      if (key === c.key(KEYS.pause)) c.consul.mgmt.failNext('kvGet', new Error('EOF'));
    });
    const { evaluation, spawned } = await evaluateIn(c);
    expect(evaluation.incidents).toBe('unknown');
    expect(evaluation.errors).toEqual(['incidents: timeout', 'pause switch: EOF']);
    expect(spawned).toEqual([]);
    expect(checkStatus(evaluation)).toEqual({ code: 2, output: "CRITICAL: cannot read nova-ha's incidents (incidents: timeout; pause switch: EOF)" });
  });

  it('a host whose held incident already records the alert and the hold gets no worker', async () => {
    const c = cloudOf();
    c.member('cmp1', 'critical', 'mgmt');
    c.heldSince('cmp1');
    c.consul.mgmt.seed(c.key(KEYS.incident('cmp1')), { ...openIncident('cmp1', 'mgmt-network', 'x', Date.now() - 60_000, 'ctl1'), phase: 'held', alerted: true, hold: { reason: 'x', needsOperator: false } });
    const { evaluation, spawned } = await evaluateIn(c);
    expect(evaluation.decisions.get('cmp1')).toMatchObject({ action: 'alert', cause: 'mgmt-network' });
    expect(spawned).toEqual([]);
  });
});

describe('evaluate, an isolated controller', () => {
  it('tells the operators which leader it cannot reach, what it does and what failed, and logs it as an error', async () => {
    const c = cloudOf();
    c.consul.storage.down(new Error('connect ECONNREFUSED'));
    c.consul.tenant.down();
    const { evaluation } = await evaluateIn(c);
    expect(evaluation.isolatedOn).toEqual(['storage', 'tenant']);
    const fix = 'this controller cannot reach the storage, tenant cluster leader; check its own links. Other controllers act meanwhile';
    expect(c.notes).toEqual([{ host: 'ctl1', event: 'observer-isolated', summary: 'controller isolated on storage, tenant', action: 'this controller does nothing', reason: `${fix}. storage cluster: connect ECONNREFUSED; tenant cluster: HTTP 500: No cluster leader`, timeline: [] }]);
    expect(c.logs('observer-isolated')).toEqual([expect.objectContaining({ level: 'error', networks: ['storage', 'tenant'], fix })]);
  });

  it('neither announces a storm nor reports checks that could not run', async () => {
    const c = cloudOf();
    for (const h of ['cmp1', 'cmp2']) c.hung(h);
    withExtraChecks(c.consul.mgmt, [timedOut('cmp3')]);
    c.consul.tenant.node('ctl1', { serfHealth: 'critical' });
    const { evaluation } = await evaluateIn(c);
    expect(evaluation.storm).toMatch(/^storm: /);
    expect(evaluation.checksNotRun).toEqual([]);
    expect(c.notes.map((n) => n.event)).toEqual(['observer-isolated']);
    expect(c.logs('storm')).toEqual([]);
    expect(c.logs('check-not-run')).toEqual([]);
    expect(c.journal.of('consul:mgmt', 'kvGet').map((e) => e.key)).not.toContain(c.key(KEYS.storm));
  });
});

describe('evaluate, checks and storms', () => {
  it('a check that could not run on a live node: logged and told, with its node, check and Consul\'s words', async () => {
    const c = cloudOf();
    withExtraChecks(c.consul.mgmt, [timedOut('cmp2')]);
    const { evaluation } = await evaluateIn(c);
    const reason = 'Consul reports it critical: "Timed out (10s) running check"';
    expect(evaluation.checksNotRun).toEqual([{ node: 'cmp2', check: 'nova-ha-nova-compute', reason }]);
    expect(c.logs('check-not-run')).toEqual([expect.objectContaining({ level: 'warning', host: 'cmp2', check: 'nova-ha-nova-compute', reason, fix: "the check's result is unknown, so nova-ha does nothing on it; see the agent's log on cmp2 and run the check's command by hand" })]);
    expect(c.notes).toEqual([{ host: 'cmp2', event: 'check-not-run', occurrence: 'nova-ha-nova-compute', summary: 'check nova-ha-nova-compute could not run', action: 'its result is unknown: nothing done on it', reason: `${reason}. nova-ha treats a check that timed out or could not run as unknown, never as a failure, so it neither repairs nor fences on it. Look at the Consul agent's log on cmp2 and run the check's command by hand (consul.d/README.md lists it).`, timeline: [] }]);
  });

  it('a storm is logged with what it is; a storm record that cannot be read is logged and the pass goes on', async () => {
    const c = cloudOf();
    for (const h of ['cmp1', 'cmp2']) c.hung(h);
    c.consul.mgmt.before('kvGet', ([key]) => {
      if (key === c.key(KEYS.storm)) c.consul.mgmt.failNext('kvGet', new Error('timeout'));
    });
    const { evaluation } = await evaluateIn(c);
    expect(c.logs('storm')).toEqual([expect.objectContaining({ level: 'warning', detail: evaluation.storm })]);
    expect(c.logs('storm-record-failed')).toEqual([expect.objectContaining({ level: 'warning', error: 'timeout', fix: 'the next evaluation tries again' })]);
    expect(c.notes).toEqual([]);
    expect(evaluation.storm).toMatch(/^storm: /);
  });

  it('no storm: nothing logged about one', async () => {
    const c = cloudOf();
    c.hung('cmp1');
    await evaluateIn(c);
    expect(c.logs('storm')).toEqual([]);
  });
});

describe('checkStatus, every line', () => {
  const evaluation = (over: Partial<Evaluation>): Evaluation => ({ world: {} as Evaluation['world'], snapshot: {} as Evaluation['snapshot'], hosts: [{} as Evaluation['hosts'][number], {} as Evaluation['hosts'][number], {} as Evaluation['hosts'][number]], decisions: new Map(), incidents: new Map(), storm: undefined, isolatedOn: [], checksNotRun: [], recordsWritten: 0, recordsLost: 0, workersQueued: [], workersStarted: 0, errors: [], ...over });
  const open = (host: string, over: Partial<Incident> = {}): [string, Incident] => [host, { ...openIncident(host, 'node-unreachable', 'x', Date.parse('2026-11-25T09:59:48Z'), 'ctl1'), ...over }];

  it('isolated with no error to show: its node is failed there', () => {
    expect(checkStatus(evaluation({ isolatedOn: ['mgmt', 'tenant'] }))).toEqual({ code: 2, output: 'CRITICAL: this controller is isolated on mgmt, tenant: it records and does nothing (its node is failed in that cluster)' });
    expect(checkStatus(evaluation({ isolatedOn: ['mgmt'], errors: ['a', 'b'] })).output).toBe('CRITICAL: this controller is isolated on mgmt: it records and does nothing (a; b)');
  });

  it('two held for an operator: plural, named, and the others listed with their state', () => {
    const status = checkStatus(evaluation({ incidents: new Map([open('cmp1', { phase: 'held', hold: { reason: 'x', needsOperator: true } }), open('cmp2', { phase: 'held', hold: { reason: 'y', needsOperator: true } }), open('cmp3', { phase: 'evacuating' })]) }));
    expect(status).toEqual({ code: 2, output: ['CRITICAL: 2 incidents held for an operator (cmp1, cmp2); 3 open of 3 hosts', 'cmp1: held (needs an operator), node-unreachable, incident cmp1-20261125T095948Z', 'cmp2: held (needs an operator), node-unreachable, incident cmp2-20261125T095948Z', 'cmp3: evacuating, node-unreachable, incident cmp3-20261125T095948Z'].join('\n') });
  });

  it('an incident that needed an operator but has moved on from held is only open', () => {
    const status = checkStatus(evaluation({ incidents: new Map([open('cmp1', { phase: 'fencing', hold: { reason: 'x', needsOperator: true } })]) }));
    expect(status).toEqual({ code: 1, output: 'WARNING: 1 incident open of 3 hosts\ncmp1: fencing (needs an operator), node-unreachable, incident cmp1-20261125T095948Z' });
  });

  it('open incidents, a storm and checks that could not run, all in the headline and one line each', () => {
    const status = checkStatus(evaluation({
      incidents: new Map([open('cmp1', { phase: 'repairing' }), open('cmp2', { phase: 'held', hold: { reason: 'w', needsOperator: false } })]),
      storm: 'storm: 2 hosts failed on the mgmt network (limit 1 of 3)',
      checksNotRun: [{ node: 'cmp3', check: 'a', reason: 'r1' }, { node: 'cmp3', check: 'b', reason: 'r2' }],
    }));
    expect(status.code).toBe(1);
    expect(status.output.split('\n')).toEqual([
      'WARNING: 2 incidents open of 3 hosts; storm: 2 hosts failed on the mgmt network (limit 1 of 3); 2 checks could not run',
      'cmp1: repairing, node-unreachable, incident cmp1-20261125T095948Z',
      'cmp2: held (watching), node-unreachable, incident cmp2-20261125T095948Z',
      'cmp3: check a could not run (r1)',
      'cmp3: check b could not run (r2)',
    ]);
  });

  it('a held incident with no hold record is listed without one, and needs no operator', () => {
    expect(checkStatus(evaluation({ incidents: new Map([open('cmp4', { phase: 'held' })]) }))).toEqual({ code: 1, output: 'WARNING: 1 incident open of 3 hosts\ncmp4: held, node-unreachable, incident cmp4-20261125T095948Z' });
  });

  it('OK names every error', () => {
    expect(checkStatus(evaluation({ errors: ['a', 'b'] }))).toEqual({ code: 0, output: 'OK: 3 compute hosts, no open incident (a; b)' });
  });
});

describe('needsWorker, a held incident without a hold record', () => {
  it('an alert already sent for a held incident that records no hold: a worker records the hold', () => {
    const incident: Incident = { ...openIncident('cmp1', 'mgmt-network', 'x', 0, 'ctl1'), phase: 'held', alerted: true };
    expect(needsWorker({ action: 'alert', cause: 'mgmt-network', reason: 'x', alert: 'mgmt-network-down' }, incident)).toBe(true);
    expect(needsWorker({ action: 'hold', cause: 'mgmt-network', reason: 'x' }, { ...incident, hold: { reason: 'x', needsOperator: false } })).toBe(false);
  });
});
