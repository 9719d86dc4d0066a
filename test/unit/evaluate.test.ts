/**
 * The evaluation pass (recovery/evaluate.ts) over a simulated cloud: what it records, which
 * workers it starts, what an isolated controller does (nothing but say so), the storm alert, and
 * the evaluate check's status line.
 */
import { describe, expect, it } from 'vitest';
import { checkStatus, needsWorker, type Evaluation } from '../../lib/recovery/evaluate.js';
import type { Decision } from '../../lib/decision/policy.js';
import { openIncident, type Incident } from '../../lib/state/incident.js';
import { KEYS } from '../../lib/state/records.js';
import { FakeCloud, cloudsDisposedAfterEach, evaluateIn } from '../support/fake-cloud.js';

const cloudOf = cloudsDisposedAfterEach();
/** Host records written, one by one or in transactions (how evaluate writes them: bounded batches). */
const recordWrites = (c: FakeCloud): string[] => c.keysWritten().filter((k) => k.startsWith(c.key('hosts/')));

describe('evaluate', () => {
  it('records the hosts whose state changed, with the decision taken, and starts a worker for each that needs one', async () => {
    const c = cloudOf();
    for (const h of c.computes) c.heldSince(h);
    c.member('cmp2', 'critical', 'storage');
    const { evaluation, spawned } = await evaluateIn(c);
    expect(recordWrites(c)).toEqual([c.key('hosts/cmp2')]);
    expect(c.consul.mgmt.peek(c.key('hosts/cmp2'))).toMatchObject({ networks: { storage: { state: 'failed' }, mgmt: { state: 'alive' } }, by: 'ctl1', decision: { action: 'wait', cause: 'storage-network', guard: 'confirming' } });
    expect(spawned).toEqual(['cmp2']);
    expect(evaluation.workersQueued).toEqual(['cmp2']);
    expect(evaluation.workersStarted).toBe(1);
    expect(evaluation.decisions.get('cmp1')?.action).toBe('none');
    expect(c.logs('transition')).toEqual([expect.objectContaining({ host: 'cmp2', networks: { mgmt: 'alive', storage: 'failed', tenant: 'alive' }, action: 'wait' })]);
    expect(c.notes).toEqual([]);
  });

  it('records every host it sees for the first time, and nothing when nothing changed', async () => {
    const c = cloudOf();
    await evaluateIn(c);
    expect(recordWrites(c).sort()).toEqual(c.computes.map((h) => c.key(`hosts/${h}`)));
    c.journal.entries.length = 0;
    await evaluateIn(c);
    expect(recordWrites(c)).toEqual([]);
  });

  it('starts no worker for a host whose lock a worker holds', async () => {
    const c = cloudOf();
    c.hung('cmp1');
    const session = await c.consul.mgmt.sessionCreate({ name: 'w', ttl: '10s', lockDelay: '0s', nodeChecks: [], behavior: 'release' });
    await c.consul.mgmt.kvPut(c.key(KEYS.lock('cmp1')), '{}', { acquire: session });
    const { spawned } = await evaluateIn(c);
    expect(spawned).toEqual([]);
  });

  it('starts no worker for a host whose lock cannot be read either', async () => {
    const c = cloudOf();
    c.hung('cmp1');
    // Every lock in one prefix read: when it fails, no host gets a worker from this evaluation.
    c.consul.mgmt.before('kvTree', ([prefix]) => {
      if (prefix === `${c.key(KEYS.locks)}/`) c.consul.mgmt.failNext('kvTree');
    });
    const { spawned } = await evaluateIn(c);
    expect(spawned).toEqual([]);
  });

  it('an isolated controller records nothing, starts no worker, and tells the operators about itself', async () => {
    const c = cloudOf();
    c.hung('cmp1');
    c.consul.tenant.node('ctl1', { serfHealth: 'critical' });
    const { evaluation, spawned } = await evaluateIn(c);
    expect(recordWrites(c)).toEqual([]);
    expect(c.journal.of('consul:mgmt', 'kvPut')).toEqual([]);
    expect(spawned).toEqual([]);
    expect(evaluation.isolatedOn).toEqual(['tenant']);
    expect(c.notes.map((n) => [n.host, n.event, n.action])).toEqual([['ctl1', 'observer-isolated', 'this controller does nothing']]);
    expect(c.logs('observer-isolated')).toHaveLength(1);
    expect(checkStatus(evaluation)).toEqual({ code: 2, output: expect.stringMatching(/^CRITICAL: this controller is isolated on tenant: it records and does nothing/) });
  });

  it('a controller that cannot read a cluster is isolated there too', async () => {
    const c = cloudOf();
    c.consul.storage.down();
    const { evaluation, spawned } = await evaluateIn(c);
    expect(evaluation.isolatedOn).toEqual(['storage']);
    expect(recordWrites(c)).toEqual([]);
    expect(spawned).toEqual([]);
    expect(checkStatus(evaluation).output).toMatch(/isolated on storage.*storage cluster: HTTP 500: No cluster leader/);
  });

  it('a storm: one alert naming it, and the incidents are left to their workers (held)', async () => {
    const c = cloudOf();
    for (const h of ['cmp1', 'cmp2']) c.hung(h);
    const { evaluation } = await evaluateIn(c);
    expect(evaluation.storm).toMatch(/^storm: 2 hosts failed on the mgmt network, 2 hosts failed on the storage network, 2 hosts failed on the tenant network \(limit 1 of 4\)$/);
    expect(c.notes.map((n) => [n.host, n.event])).toEqual([['cluster', 'storm']]);
    expect(evaluation.decisions.get('cmp1')).toMatchObject({ action: 'hold', guard: 'storm' });
    expect(checkStatus(evaluation).code).toBe(1);
  });
});

describe('needsWorker', () => {
  const incident = (over: Partial<Incident> = {}): Incident => ({ ...openIncident('cmp1', 'mgmt-network', 'x', 0, 'ctl1'), phase: 'held', alerted: true, hold: { reason: 'x', needsOperator: false }, ...over });
  const decision = (over: Partial<Decision>): Decision => ({ action: 'alert', cause: 'mgmt-network', reason: 'x', alert: 'mgmt-network-down', ...over });
  it.each([
    ['none: never', decision({ action: 'none' }), undefined, false],
    ['wait: always', decision({ action: 'wait' }), incident(), true],
    ['repair, fence, drain, close: always', decision({ action: 'fence' }), incident(), true],
    ['close', decision({ action: 'close' }), incident(), true],
    ['alert with no incident yet', decision({}), undefined, true],
    ['alert already recorded and sent', decision({}), incident(), false],
    ['alert recorded but not yet sent', decision({}), incident({ alerted: false }), true],
    ['alert whose incident is not held yet', decision({}), incident({ phase: 'confirming' }), true],
    ['alert for another cause than recorded', decision({ cause: 'tenant-network' }), incident(), true],
    ['hold that now needs an operator', decision({ action: 'hold', needsOperator: true }), incident(), true],
    ['hold recorded as needing an operator, and it still does', decision({ action: 'hold', needsOperator: true }), incident({ hold: { reason: 'x', needsOperator: true } }), false],
    ['hold without an alert, recorded', decision({ action: 'hold', alert: undefined }), incident({ alerted: false }), false],
  ] as const)('%s', (_name, d, i, expected) => {
    expect(needsWorker(d, i)).toBe(expected);
  });
});

describe('checkStatus', () => {
  const evaluation = (over: Partial<Evaluation>): Evaluation => ({ world: {} as Evaluation['world'], snapshot: {} as Evaluation['snapshot'], hosts: [{} as Evaluation['hosts'][number], {} as Evaluation['hosts'][number]], decisions: new Map(), incidents: new Map(), storm: undefined, isolatedOn: [], checksNotRun: [], recordsWritten: 0, recordsLost: 0, workersQueued: [], workersStarted: 0, errors: [], ...over });
  const open = (host: string, over: Partial<Incident> = {}): [string, Incident] => [host, { ...openIncident(host, 'storage-network', 'x', Date.parse('2026-11-25T09:59:48Z'), 'ctl1'), ...over }];

  it('OK when nothing is open', () => {
    expect(checkStatus(evaluation({}))).toEqual({ code: 0, output: 'OK: 2 compute hosts, no open incident' });
    expect(checkStatus(evaluation({ errors: ['Nova service states: timeout'] })).output).toBe('OK: 2 compute hosts, no open incident (Nova service states: timeout)');
  });
  it('WARNING when a check could not run, naming it (its result is unknown)', () => {
    const status = checkStatus(evaluation({ checksNotRun: [{ node: 'cmp2', check: 'nova-ha-nova-compute', reason: 'Consul reports it critical: "Timed out (10s) running check"' }] }));
    expect(status.code).toBe(1);
    expect(status.output).toBe('WARNING: 0 incidents open of 2 hosts; 1 check could not run\ncmp2: check nova-ha-nova-compute could not run (Consul reports it critical: "Timed out (10s) running check")');
  });
  it('WARNING while incidents are open, one line each', () => {
    expect(checkStatus(evaluation({ incidents: new Map([open('cmp1', { phase: 'repairing' })]) }))).toEqual({ code: 1, output: 'WARNING: 1 incident open of 2 hosts\ncmp1: repairing, storage-network, incident cmp1-20261125T095948Z' });
    expect(checkStatus(evaluation({ storm: 'storm: 3 hosts' })).output).toBe('WARNING: 0 incidents open of 2 hosts; storm: 3 hosts');
  });
  it('CRITICAL when one is held for an operator, or the incidents cannot be read', () => {
    const status = checkStatus(evaluation({ incidents: new Map([open('cmp1', { phase: 'held', hold: { reason: 'x', needsOperator: true } }), open('cmp2', { phase: 'held', hold: { reason: 'y', needsOperator: false } })]) }));
    expect(status.code).toBe(2);
    expect(status.output.split('\n')).toEqual(['CRITICAL: 1 incident held for an operator (cmp1); 2 open of 2 hosts', 'cmp1: held (needs an operator), storage-network, incident cmp1-20261125T095948Z', 'cmp2: held (watching), storage-network, incident cmp2-20261125T095948Z']);
    expect(checkStatus(evaluation({ incidents: 'unknown', errors: ['incidents: timeout'] }))).toEqual({ code: 2, output: "CRITICAL: cannot read nova-ha's incidents (incidents: timeout)" });
  });
});
