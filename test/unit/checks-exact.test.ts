/**
 * What a check nova-ha registers means (lib/decision/checks.ts), word for word: a result counts
 * only when it opens with the check's own status line for that status; anything else is a check
 * that could not run, which the policy treats as unknown and the operators are told about.
 */
import { describe, expect, it } from 'vitest';
import { checksNotRun, novaComputeOnNode, readCheck, type CheckReading, type CheckResult } from '../../lib/decision/checks.js';
import type { CheckStatus, ClusterView, NodeHealth } from '../../lib/decision/model.js';

const long = 'x'.repeat(250);

describe('readCheck: only the check\'s own status line counts', () => {
  const cases: [string, CheckResult, CheckReading][] = [
    ['passing with "OK:"', { status: 'passing', output: 'OK: nova-compute: process 12 running' }, { ran: true, status: 'passing', line: 'OK: nova-compute: process 12 running' }],
    ['warning with "WARNING:"', { status: 'warning', output: 'WARNING: 1 incident open' }, { ran: true, status: 'warning', line: 'WARNING: 1 incident open' }],
    ['critical with "CRITICAL:"', { status: 'critical', output: 'CRITICAL: nova-compute: gone' }, { ran: true, status: 'critical', line: 'CRITICAL: nova-compute: gone' }],
    ['only the first line is the status line, trimmed', { status: 'passing', output: '\n\n  OK: fine   \nsecond line\nthird' }, { ran: true, status: 'passing', line: 'OK: fine' }],
    ['passing with a WARNING line did not run as itself', { status: 'passing', output: 'WARNING: odd' }, { ran: false, reason: 'Consul reports it passing: "WARNING: odd"' }],
    ['warning with an OK line', { status: 'warning', output: 'OK: fine' }, { ran: false, reason: 'Consul reports it warning: "OK: fine"' }],
    ['warning with a CRITICAL line', { status: 'warning', output: 'CRITICAL: x' }, { ran: false, reason: 'Consul reports it warning: "CRITICAL: x"' }],
    ['critical with an OK line', { status: 'critical', output: 'OK: fine' }, { ran: false, reason: 'Consul reports it critical: "OK: fine"' }],
    ['critical with Consul\'s timeout words', { status: 'critical', output: 'Timed out (10s) running check\nmore' }, { ran: false, reason: 'Consul reports it critical: "Timed out (10s) running check"' }],
    ['critical with no output', { status: 'critical', output: '' }, { ran: false, reason: 'Consul reports it critical with no output yet', pending: true }],
    ['warning with only blank lines', { status: 'warning', output: ' \n \n' }, { ran: false, reason: 'Consul reports it warning with no output yet', pending: true }],
    ['a lowercase prefix is not the status line', { status: 'passing', output: 'ok: fine' }, { ran: false, reason: 'Consul reports it passing: "ok: fine"' }],
    ['a long foreign line is cut to 200 characters', { status: 'critical', output: long }, { ran: false, reason: `Consul reports it critical: "${'x'.repeat(200)}"` }],
  ];
  it.each(cases)('%s', (_name, result, reading) => {
    expect(readCheck(result)).toEqual(reading);
  });
});

describe('novaComputeOnNode: only its own "CRITICAL: nova-compute:" is "not running"', () => {
  const cases: [string, CheckResult | undefined, ReturnType<typeof novaComputeOnNode>][] = [
    ['not registered: unknown, and says so', undefined, { state: 'unknown', why: 'its check is not registered on the node' }],
    ['its own OK line: up, with no why', { status: 'passing', output: 'OK: nova-compute: process 1 running' }, { state: 'up' }],
    ['its own CRITICAL nova-compute line: down, with no why', { status: 'critical', output: 'CRITICAL: nova-compute: no process' }, { state: 'down' }],
    ['a timeout: the check could not run', { status: 'critical', output: 'Timed out (10s) running check' }, { state: 'unknown', why: 'its check could not run (Consul reports it critical: "Timed out (10s) running check")' }],
    ['no output: no result yet, unknown', { status: 'warning', output: '' }, { state: 'unknown', why: 'its check has no result yet (Consul reports it warning with no output yet)' }],
    ['its own WARNING line about nova-compute: cannot tell', { status: 'warning', output: 'WARNING: nova-compute: unit activating' }, { state: 'unknown', why: 'its check cannot tell (WARNING: nova-compute: unit activating)' }],
    ['its own CRITICAL line about something else: cannot tell', { status: 'critical', output: 'CRITICAL: the config is broken' }, { state: 'unknown', why: 'its check cannot tell (CRITICAL: the config is broken)' }],
    ['a long line it cannot tell from is cut to 200 characters', { status: 'critical', output: `CRITICAL: ${long}` }, { state: 'unknown', why: `its check cannot tell (${`CRITICAL: ${long}`.slice(0, 200)})` }],
  ];
  it.each(cases)('%s', (_name, result, expected) => {
    expect(novaComputeOnNode(result)).toEqual(expected);
  });
});

describe('checksNotRun: the checks the operators must hear could not run', () => {
  const ok = (output = 'OK: fine') => ({ status: 'passing' as CheckStatus, output });
  const timedOut = { status: 'critical' as CheckStatus, output: 'Timed out (10s) running check' };
  const node = (serfHealth: CheckStatus | undefined, checks: NodeHealth['checks']): NodeHealth => ({ role: 'compute', serfHealth, novaCompute: undefined, checks, maintenance: false });
  const view = (nodes: [string, NodeHealth][]): ClusterView => ({ ok: true, network: 'mgmt', nodes: new Map(nodes) });

  it('lists every check that could not run on a node alive in the cluster, by node and then by check; one with no result yet is not among them', () => {
    const result = checksNotRun(view([
      ['cmp3', node('passing', { 'nova-ha-zeta': timedOut, 'nova-ha-alpha': { status: 'warning', output: '' } })],
      ['cmp1', node('passing', { 'nova-ha-nova-compute': timedOut, 'nova-ha-ok': ok() })],
      ['cmp2', node('passing', { 'nova-ha-beta': { status: 'critical', output: 'OK: wrong status' } })],
    ]));
    expect(result).toEqual([
      { node: 'cmp1', check: 'nova-ha-nova-compute', reason: 'Consul reports it critical: "Timed out (10s) running check"' },
      { node: 'cmp2', check: 'nova-ha-beta', reason: 'Consul reports it critical: "OK: wrong status"' },
      { node: 'cmp3', check: 'nova-ha-zeta', reason: 'Consul reports it critical: "Timed out (10s) running check"' },
    ]);
  });

  it('orders by node first, whatever the check names', () => {
    const result = checksNotRun(view([
      ['cmp2', node('passing', { a: timedOut })],
      ['cmp1', node('passing', { z: timedOut })],
    ]));
    expect(result.map((r) => `${r.node}/${r.check}`)).toEqual(['cmp1/z', 'cmp2/a']);
  });

  it('a node that is not alive in the cluster (serfHealth failing or missing) is not counted: its checks are stale', () => {
    const result = checksNotRun(view([
      ['cmp1', node('critical', { a: timedOut })],
      ['cmp2', node('warning', { a: timedOut })],
      ['cmp3', node(undefined, { a: timedOut })],
      ['cmp4', node('passing', { a: timedOut })],
    ]));
    expect(result).toEqual([{ node: 'cmp4', check: 'a', reason: 'Consul reports it critical: "Timed out (10s) running check"' }]);
  });

  it('checks that ran (whatever they found) are not listed', () => {
    expect(checksNotRun(view([['cmp1', node('passing', { a: ok(), b: { status: 'critical', output: 'CRITICAL: nova-compute: dead' }, c: { status: 'warning', output: 'WARNING: slow' } })]]))).toEqual([]);
  });

  it('a cluster that could not be read reports nothing (its own error is told elsewhere)', () => {
    expect(checksNotRun({ ok: false, network: 'mgmt', error: 'no leader' })).toEqual([]);
  });
});
