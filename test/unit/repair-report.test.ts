/**
 * The node's report on a repair (issue 15.4, issue 19): signing and verifying, the node's verdict
 * on its storage path, and the pieces it looks with (loopback only).
 */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarize } from '../../lib/decision/observation.js';
import { storageVerdict } from '../../lib/recovery/node-repair.js';
import { REPORT_DETAIL_MAX, signReport, signRequest, verifyReport, verifyRequest } from '../../lib/recovery/repair-request.js';
import { Secret } from '../../lib/shared/secret.js';
import { openIncident } from '../../lib/state/incident.js';
import { describeInterface, interfaceState, tcpReachable } from '../../lib/systems/network/reach.js';

const key = new Secret('k'.repeat(40));
const now = Date.parse('2026-11-25T10:00:00Z');
const fields = { node: 'cmp1', incident: 'cmp1-20261125T095900Z', action: 'restart-storage-network', request: 'n1', result: 'still-broken' as const, detail: 'stor0 up, 0 of 3 storage servers reachable after 5.0 s' };
const expected = { host: 'cmp1', incident: 'cmp1-20261125T095900Z', requests: { 'restart-storage-network': ['n0', 'n1'] }, now, maxAge: 60_000 };

describe('repair reports: signed, for this host, this incident, a request it sent, fresh', () => {
  it('accepts the genuine report and hands back its evidence', () => {
    const verdict = verifyReport(signReport(fields, key, now - 2000), key, expected);
    expect(verdict).toMatchObject({ ok: true, report: { action: 'restart-storage-network', result: 'still-broken', detail: fields.detail, request: 'n1' } });
  });

  it.each([
    ['forged (signed with another key)', () => signReport(fields, new Secret('f'.repeat(40)), now), /bad signature/],
    ['changed after signing (a hopeful report made hopeless)', () => signReport({ ...fields, result: 'works' }, key, now).replace('"works"', '"still-broken"'), /bad signature/],
    ['a request signature passed off as a report', () => signRequest({ node: 'cmp1', action: 'restart-storage-network', incident: expected.incident }, key, now), /lacks/],
    ['written by another node into this key', () => signReport({ ...fields, node: 'cmp2' }, key, now), /written by cmp2 into the key of cmp1/],
    ['replayed from an earlier incident', () => signReport({ ...fields, incident: 'cmp1-20261124T080000Z' }, key, now), /answers incident cmp1-20261124T080000Z, not the open incident/],
    ['answering a request nova-ha never sent', () => signReport({ ...fields, request: 'someone-elses' }, key, now), /answers no restart-storage-network request/],
    ['answering a request for another repair', () => signReport({ ...fields, action: 'restart-nova-compute' }, key, now), /answers no restart-nova-compute request/],
    ['stale (signed long ago)', () => signReport(fields, key, now - 61_000), /outside the 60s window/],
    ['from the future', () => signReport(fields, key, now + 61_000), /outside the 60s window/],
    ['not JSON', () => 'fence it', /not JSON/],
    ['JSON but not a report', () => 'null', /lacks/],
  ])('refuses a report %s', (_name, make, reason) => {
    const verdict = verifyReport(make(), key, expected);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toMatch(reason);
  });

  it('refuses a result nova-ha does not know, even signed', () => {
    expect(verifyReport(signReport({ ...fields, result: 'fence-now' as never }, key, now), key, expected)).toMatchObject({ ok: false, reason: expect.stringMatching(/not one nova-ha knows/) });
  });

  it("bounds and cleans the node's words before they reach logs and emails, and never carries the key", () => {
    const payload = signReport({ ...fields, detail: `line one\nline two\u0007${'x'.repeat(1000)}` }, key, now);
    expect(payload).not.toContain(key.reveal());
    const verdict = verifyReport(payload, key, expected);
    expect(verdict.ok && verdict.report.detail).toMatch(/^line one line two x+$/);
    expect(verdict.ok && verdict.report.detail.length).toBeLessThanOrEqual(REPORT_DETAIL_MAX);
  });

  it('a refusal of a request says whether the request was signed (so its node and incident are a controller\'s word)', () => {
    const allowed = new Set(['restart-nova-compute'] as const);
    const signed = verifyRequest(signRequest({ node: 'cmp1', action: 'restart-storage-network', incident: 'x' }, key, now), key, { self: 'cmp1', now, maxAge: 60_000, allowed });
    expect(signed).toMatchObject({ ok: false, signed: true, reason: expect.stringMatching(/not allowed here/) });
    const forged = verifyRequest(signRequest({ node: 'cmp1', action: 'restart-storage-network', incident: 'x' }, new Secret('f'.repeat(40)), now), key, { self: 'cmp1', now, maxAge: 60_000, allowed });
    expect(forged).not.toHaveProperty('signed');
  });

  it('the policy reads the recorded report from the incident', () => {
    const incident = { ...openIncident('cmp1', 'storage-network', 'its storage network is down', now, 'ctl1'), repairReports: { 'restart-storage-network': { result: 'still-broken' as const, detail: fields.detail, at: now } } };
    expect(summarize(incident).reports).toEqual(incident.repairReports);
    expect(summarize(openIncident('cmp1', 'storage-network', 'x', now, 'ctl1'))).not.toHaveProperty('reports');
  });
});

describe("the node's verdict on its storage path", () => {
  const sample = (reached: number, servers = 3, iface?: { line: string; ok: boolean }) => ({ reached, servers, afterMs: 5000, ...(iface ? { iface } : {}) });

  it.each([
    ['a majority reached, interface fine: works, at once', sample(2, 3, { line: 'stor0 up with 10.0.2.21', ok: true }), false, 'works'],
    ['a majority reached, no interface configured: works', sample(3), false, 'works'],
    ['none reached before the settle time is over: look again', sample(0), false, undefined],
    ['none reached after the settle time: still broken', sample(0, 3, { line: 'stor0 lowerlayerdown', ok: false }), true, 'still-broken'],
    ['a minority reached after the settle time: still broken', sample(1, 3), true, 'still-broken'],
    ['half of an even count is no majority', sample(2, 4), true, 'still-broken'],
    ['servers reached but the interface looks wrong: no verdict', sample(3, 3, { line: 'stor0 up without 10.0.2.21', ok: false }), true, 'ran'],
  ] as const)('%s', (_name, s, settled, result) => {
    expect(storageVerdict(s, settled)?.result).toBe(result);
  });

  it('says what it saw in one line', () => {
    expect(storageVerdict(sample(0, 3, { line: 'stor0 up with 10.0.2.21', ok: true }), true)!.detail).toBe('stor0 up with 10.0.2.21, 0 of 3 storage servers reachable after 5.0 s');
  });
});

describe('what the node looks with (loopback only)', () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('a TCP connection opens to a listening port, from a given local address, and not to a closed one', async () => {
    expect(await tcpReachable('127.0.0.1', port, 1000, '127.0.0.1')).toBe(true);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect(await tcpReachable('127.0.0.1', closedPort, 1000)).toBe(false);
  });

  it('a local address this machine does not have fails at once, not after the timeout', async () => {
    const started = Date.now();
    expect(await tcpReachable('127.0.0.1', port, 5000, '192.0.2.1')).toBe(false);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it("reads an interface's state and addresses, and names a missing one", () => {
    const lo = interfaceState('lo');
    expect(lo.exists).toBe(true);
    expect(lo.addresses).toContain('127.0.0.1');
    expect(describeInterface(interfaceState('nova-ha-none0'))).toBe('nova-ha-none0 missing');
    expect(describeInterface({ name: 'stor0', exists: true, up: false, operstate: 'lowerlayerdown', addresses: ['10.0.2.21'] }, '10.0.2.21')).toBe('stor0 lowerlayerdown');
    expect(describeInterface({ name: 'stor0', exists: true, up: true, operstate: 'up', addresses: [] }, '10.0.2.21')).toBe('stor0 up without 10.0.2.21');
  });
});
