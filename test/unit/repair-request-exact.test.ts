/**
 * Repair requests and the node's reports (recovery/repair-request.ts), as pure functions: the
 * exact bytes each MAC covers, every field a payload must carry, the freshness window's edges,
 * the exact reasons an operator reads for a refusal, the nonce store's pruning, and what of the
 * node's words survives into logs and emails.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newNonce, REMEDIATION_ACTIONS, repairKeyFingerprint, REPORT_DETAIL_MAX, ReplayGuard, signReport, signRequest, verifyReport, verifyRequest, type RemediationAction } from '../../lib/recovery/repair-request.js';
import { Secret } from '../../lib/shared/secret.js';

const key = new Secret('k'.repeat(40));
const now = Date.parse('2026-11-25T10:00:00Z');
const INCIDENT = 'cmp1-20261125T095900Z';
const both = new Set<RemediationAction>(['restart-storage-network', 'restart-nova-compute']);
const requestOptions = { self: 'cmp1', now, maxAge: 60_000, allowed: both };
const hmac = (secret: string, text: string): string => createHmac('sha256', secret).update(text).digest('hex');
/** A request payload built by hand: fields as given, the MAC over the documented bytes. */
function handRequest(fields: Record<string, unknown>, secret = key.reveal()): string {
  const mac = hmac(secret, JSON.stringify([1, fields['node'], fields['action'], fields['incident'], fields['ts'], fields['nonce']]));
  return JSON.stringify({ ...fields, mac });
}
const requestFields = { node: 'cmp1', action: 'restart-storage-network', incident: INCIDENT, ts: now, nonce: 'n-1' };

describe('a repair request: the MAC covers exactly version, node, action, incident, time and nonce', () => {
  it('signRequest writes the fields it was given and a MAC anyone with the key can recompute', () => {
    const payload = JSON.parse(signRequest({ node: 'cmp1', action: 'restart-nova-compute', incident: INCIDENT }, key, now, 'chosen-nonce')) as Record<string, unknown>;
    expect(payload).toEqual({ node: 'cmp1', action: 'restart-nova-compute', incident: INCIDENT, ts: now, nonce: 'chosen-nonce', mac: hmac(key.reveal(), JSON.stringify([1, 'cmp1', 'restart-nova-compute', INCIDENT, now, 'chosen-nonce'])) });
  });

  it('a request built by hand over those bytes is accepted, with its fields handed back', () => {
    expect(verifyRequest(handRequest(requestFields), key, requestOptions)).toEqual({ ok: true, request: requestFields, withPreviousKey: false });
  });

  it('without a time or nonce given, it is signed now with a fresh random nonce each time', () => {
    const before = Date.now();
    const first = JSON.parse(signRequest({ node: 'cmp1', action: 'restart-storage-network', incident: INCIDENT }, key)) as { ts: number; nonce: string };
    const second = JSON.parse(signRequest({ node: 'cmp1', action: 'restart-storage-network', incident: INCIDENT }, key)) as { ts: number; nonce: string };
    expect(first.ts).toBeGreaterThanOrEqual(before);
    expect(first.ts).toBeLessThanOrEqual(Date.now());
    expect(first.nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(second.nonce).not.toBe(first.nonce);
  });

  it('a nonce is 16 random bytes in hex', () => {
    const nonces = new Set(Array.from({ length: 20 }, () => newNonce()));
    expect(nonces.size).toBe(20);
    for (const n of nonces) expect(n).toMatch(/^[0-9a-f]{32}$/);
  });

  it('nova-ha knows exactly two repairs a node may run', () => {
    expect(REMEDIATION_ACTIONS).toEqual(['restart-storage-network', 'restart-nova-compute']);
  });
});

describe('a repair key fingerprint', () => {
  it('is the first 16 hex digits of HMAC-SHA256 of a fixed text under the key, as node:crypto computes it', () => {
    for (const secret of ['k'.repeat(40), 'a key with spaces and ünïcode, 40+ chars long', 'x'.repeat(200)]) {
      expect(repairKeyFingerprint(new Secret(secret))).toBe(`hmac-sha256:${hmac(secret, 'nova-ha repair key fingerprint').slice(0, 16)}`);
    }
  });
});

describe('verifyRequest refuses, with the reason an operator reads', () => {
  it.each([
    ['node is not a string', { ...requestFields, node: 7 }],
    ['action is missing', { ...requestFields, action: undefined }],
    ['incident is not a string', { ...requestFields, incident: null }],
    ['ts is a string', { ...requestFields, ts: String(now) }],
    ['nonce is a number', { ...requestFields, nonce: 5 }],
  ])('a payload whose %s: lacks a field, even with a MAC over it', (_name, fields) => {
    expect(verifyRequest(handRequest(fields), key, requestOptions)).toEqual({ ok: false, reason: 'payload lacks node, action, incident, ts, nonce or mac' });
  });

  it('a payload whose mac is not a string lacks a field', () => {
    expect(verifyRequest(JSON.stringify({ ...requestFields, mac: 12 }), key, requestOptions)).toEqual({ ok: false, reason: 'payload lacks node, action, incident, ts, nonce or mac' });
  });

  it('not JSON', () => {
    expect(verifyRequest('{', key, requestOptions)).toEqual({ ok: false, reason: 'payload is not JSON' });
  });

  it.each([
    ['in capitals (hex, but not as signed)', (mac: string) => mac.toUpperCase()],
    ['with extra bytes after it', (mac: string) => `${mac}00`],
    ['with junk after it', (mac: string) => `${mac}zz`],
    ['too short', (mac: string) => mac.slice(0, 62)],
    ['empty', () => ''],
  ])('a MAC %s: bad signature, never a crash', (_name, change) => {
    const payload = JSON.parse(handRequest(requestFields)) as { mac: string };
    const verdict = verifyRequest(JSON.stringify({ ...payload, mac: change(payload.mac) }), key, requestOptions);
    expect(verdict).toEqual({ ok: false, reason: 'bad signature (forged, or signed with another hmac_key)', request: requestFields });
  });

  it('addressed to another node: says to whom, and that it was signed', () => {
    expect(verifyRequest(handRequest({ ...requestFields, node: 'cmp2' }), key, requestOptions)).toEqual({ ok: false, reason: 'addressed to cmp2, not to this node (cmp1)', request: { ...requestFields, node: 'cmp2' }, signed: true });
  });

  it('an action nova-ha does not know, signed: named', () => {
    expect(verifyRequest(handRequest({ ...requestFields, action: 'reboot' }), key, requestOptions)).toMatchObject({ ok: false, reason: 'action "reboot" is not one nova-ha knows', signed: true });
  });

  it('an action whose command is not configured here: named', () => {
    expect(verifyRequest(handRequest({ ...requestFields, action: 'restart-nova-compute' }), key, { ...requestOptions, allowed: new Set(['restart-storage-network'] as const) })).toMatchObject({
      ok: false,
      reason: 'action "restart-nova-compute" is not allowed here (its command is not configured in [remediation])',
      signed: true,
    });
  });

  it.each([
    ['signed exactly the window ago: accepted', now - 60_000, undefined],
    ['signed exactly the window ahead (a fast clock): accepted', now + 60_000, undefined],
    ['a millisecond older than the window: refused', now - 60_001, 'signed 60s ago, outside the 60s window (a replay, or clocks out of sync)'],
    ['a millisecond further ahead than the window: refused', now + 60_001, 'signed -60s ago, outside the 60s window (a replay, or clocks out of sync)'],
    ['90.4 s old: the seconds rounded', now - 90_400, 'signed 90s ago, outside the 60s window (a replay, or clocks out of sync)'],
    ['90.6 s old: the seconds rounded up', now - 90_600, 'signed 91s ago, outside the 60s window (a replay, or clocks out of sync)'],
  ])('%s', (_name, ts, reason) => {
    const verdict = verifyRequest(handRequest({ ...requestFields, ts }), key, requestOptions);
    if (reason === undefined) expect(verdict.ok).toBe(true);
    else expect(verdict).toMatchObject({ ok: false, reason, signed: true });
  });

  it('a window of 2.5 s is shown rounded too', () => {
    expect(verifyRequest(handRequest({ ...requestFields, ts: now - 10_000 }), key, { ...requestOptions, maxAge: 2_500 })).toMatchObject({ reason: 'signed 10s ago, outside the 3s window (a replay, or clocks out of sync)' });
  });
});

describe('key rotation', () => {
  it('a request signed with the current key is never reported as signed with the previous one, even when both are the same', () => {
    expect(verifyRequest(handRequest(requestFields), key, { ...requestOptions, previousKey: new Secret(key.reveal()) })).toMatchObject({ ok: true, withPreviousKey: false });
  });

  it('an empty previous key accepts nothing, not even a request signed with the empty key', () => {
    const signedEmpty = handRequest(requestFields, '');
    expect(verifyRequest(signedEmpty, key, { ...requestOptions, previousKey: new Secret('') })).toMatchObject({ ok: false, reason: expect.stringMatching(/^bad signature/) });
  });

  it('a request signed with the previous key is accepted and says so', () => {
    const previous = new Secret('p'.repeat(40));
    expect(verifyRequest(handRequest(requestFields, previous.reveal()), key, { ...requestOptions, previousKey: previous })).toEqual({ ok: true, request: requestFields, withPreviousKey: true });
  });
});

describe('the nonce store of a node', () => {
  // Made in a hook, not while the file is collected: a run that filters these tests out (the
  // mutation runner does) would otherwise leave the directory behind.
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nova-ha-replay-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps a nonce exactly twice the window old and one a bit younger, drops one older', () => {
    const file = join(dir, 'prune', 'nonces.json');
    const guard = new ReplayGuard(file, 1000);
    guard.remember('old', 0, 0);
    guard.remember('edge', 1, 1);
    guard.remember('young', 1500, 1500);
    guard.remember('now', 2001, 2001);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ edge: 1, young: 1500, now: 2001 });
    expect(['old', 'edge', 'young', 'now'].map((n) => guard.seen(n))).toEqual([false, true, true, true]);
  });

  it('creates its directory several levels deep, private to its user, and leaves no temporary file', () => {
    const file = join(dir, 'a', 'b', 'c', 'nonces.json');
    new ReplayGuard(file, 60_000).remember('x', now, now);
    expect(statSync(join(dir, 'a', 'b', 'c')).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe(JSON.stringify({ x: now }));
    expect(() => statSync(`${file}.${process.pid}.tmp`)).toThrow();
  });

  it('a damaged file is an empty store: nothing seen, and the next nonce replaces it', () => {
    const file = join(dir, 'damaged.json');
    writeFileSync(file, 'not json');
    const guard = new ReplayGuard(file, 60_000);
    expect(guard.seen('x')).toBe(false);
    guard.remember('y', now, now);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ y: now });
  });

  it('a store never written sees nothing', () => {
    expect(new ReplayGuard(join(dir, 'never', 'nonces.json'), 60_000).seen('x')).toBe(false);
  });
});

describe("a node's report: the MAC covers its own tag and every field", () => {
  const fields = { node: 'cmp1', incident: INCIDENT, action: 'restart-storage-network', request: 'n1', result: 'works' as const, detail: 'stor0 up, 3 of 3 storage servers reachable after 0.2 s' };
  const expected = { host: 'cmp1', incident: INCIDENT, requests: { 'restart-storage-network': ['n1'] }, now, maxAge: 60_000 };
  const reportBytes = (r: Record<string, unknown>): string => JSON.stringify(['nova-ha repair report', 1, r['node'], r['incident'], r['action'], r['request'], r['result'], r['detail'], r['ts'], r['nonce']]);
  function handReport(over: Record<string, unknown> = {}, secret = key.reveal()): string {
    const r = { ...fields, ts: now, nonce: 'rn-1', ...over };
    return JSON.stringify({ ...r, mac: hmac(secret, reportBytes(r)) });
  }

  it('signReport: the fields, the time, a fresh nonce and a MAC over the tagged bytes', () => {
    const payload = JSON.parse(signReport(fields, key, now)) as Record<string, unknown> & { nonce: string };
    expect(payload.nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(payload).toEqual({ ...fields, ts: now, nonce: payload.nonce, mac: hmac(key.reveal(), reportBytes(payload)) });
  });

  it('signReport without a time signs it now', () => {
    const before = Date.now();
    const { ts } = JSON.parse(signReport(fields, key)) as { ts: number };
    expect(ts).toBeGreaterThanOrEqual(before);
    expect(ts).toBeLessThanOrEqual(Date.now());
  });

  it('signReport cuts a long detail to the bound before signing', () => {
    const payload = JSON.parse(signReport({ ...fields, detail: 'y'.repeat(1000) }, key, now)) as { detail: string };
    expect(REPORT_DETAIL_MAX).toBe(400);
    expect(payload.detail).toBe('y'.repeat(400));
  });

  it('a report built by hand over those bytes is accepted, fields as sent', () => {
    expect(verifyReport(handReport(), key, expected)).toEqual({ ok: true, report: { ...fields, ts: now, nonce: 'rn-1' } });
  });

  it('a request MAC (no tag) over the same fields is a bad signature', () => {
    const r = { ...fields, ts: now, nonce: 'rn-1' };
    const untagged = hmac(key.reveal(), JSON.stringify([1, r.node, r.incident, r.action, r.request, r.result, r.detail, r.ts, r.nonce]));
    expect(verifyReport(JSON.stringify({ ...r, mac: untagged }), key, expected)).toMatchObject({ ok: false, reason: 'bad signature (forged, or the node signs with another hmac_key)' });
  });

  it.each(['node', 'incident', 'action', 'request', 'result', 'detail', 'nonce', 'mac'])('a report whose %s alone is not a string lacks a field', (field) => {
    const payload = { ...(JSON.parse(handReport()) as Record<string, unknown>), [field]: 42 };
    expect(verifyReport(JSON.stringify(payload), key, expected)).toEqual({ ok: false, reason: 'lacks node, incident, action, request, result, detail, ts, nonce or mac' });
  });

  it('a report whose time is a string lacks a field', () => {
    expect(verifyReport(handReport({ ts: String(now) }), key, expected)).toEqual({ ok: false, reason: 'lacks node, incident, action, request, result, detail, ts, nonce or mac' });
  });

  it('not JSON', () => {
    expect(verifyReport('{', key, expected)).toEqual({ ok: false, reason: 'not JSON' });
  });

  it.each([
    ['written by another node', { node: 'cmp2' }, 'written by cmp2 into the key of cmp1'],
    ['for another incident', { incident: 'cmp1-old' }, `answers incident cmp1-old, not the open incident ${INCIDENT} (replayed, or left from an earlier one)`],
    ['for a repair nova-ha does not know', { action: 'reboot' }, `answers no reboot request sent in incident ${INCIDENT} (replayed, or forged)`],
    ['for a request never sent', { request: 'n9' }, `answers no restart-storage-network request sent in incident ${INCIDENT} (replayed, or forged)`],
    ['with a result nova-ha does not know', { result: 'fence-now' }, 'result "fence-now" is not one nova-ha knows'],
    ['a millisecond older than the window', { ts: now - 60_001 }, 'signed 60s ago, outside the 60s window (replayed, or clocks out of sync)'],
    ['a millisecond further ahead than the window', { ts: now + 60_001 }, 'signed -60s ago, outside the 60s window (replayed, or clocks out of sync)'],
    ['90.6 s old', { ts: now - 90_600 }, 'signed 91s ago, outside the 60s window (replayed, or clocks out of sync)'],
  ])('refuses a signed report %s, saying so exactly', (_name, over, reason) => {
    expect(verifyReport(handReport(over), key, expected)).toMatchObject({ ok: false, reason, report: { ...fields, ts: now, nonce: 'rn-1', ...over } });
  });

  it.each([
    ['exactly the window old', now - 60_000],
    ['exactly the window ahead', now + 60_000],
  ])('accepts a report signed %s', (_name, ts) => {
    expect(verifyReport(handReport({ ts }), key, expected).ok).toBe(true);
  });

  it('a report with a MAC in capitals, too short, or with junk after it: bad signature, never a crash', () => {
    const payload = JSON.parse(handReport()) as { mac: string };
    for (const mac of [payload.mac.toUpperCase(), payload.mac.slice(0, 10), `${payload.mac}zz`]) {
      expect(verifyReport(JSON.stringify({ ...payload, mac }), key, expected)).toMatchObject({ ok: false, reason: 'bad signature (forged, or the node signs with another hmac_key)' });
    }
  });

  it.each([
    ['control characters become one space each run', 'a\n\n\tb\u0007c', 'a b c'],
    ['non-ASCII becomes a space', 'stor0 \u00e9tat: up', 'stor0  tat: up'],
    ['printable ASCII is kept as it is', 'stor0 up ~ {x} 3/3', 'stor0 up ~ {x} 3/3'],
    ['a long hand-made detail is cut to the bound', 'z'.repeat(500), 'z'.repeat(400)],
  ])("the node's words: %s", (_name, detail, shown) => {
    const verdict = verifyReport(handReport({ detail }), key, expected);
    expect(verdict.ok && verdict.report.detail).toBe(shown);
  });

  it('a report answers a request of the repair it names only: the other repair\'s nonces do not count', () => {
    const requests = { 'restart-nova-compute': ['n1'] };
    expect(verifyReport(handReport(), key, { ...expected, requests })).toMatchObject({ ok: false, reason: expect.stringMatching(/^answers no restart-storage-network request/) });
    expect(verifyReport(handReport({ action: 'restart-nova-compute' }), key, { ...expected, requests }).ok).toBe(true);
  });
});
