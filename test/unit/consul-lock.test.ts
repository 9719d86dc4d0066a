/**
 * The host lock (systems/consul/lock.ts) over a simulated Consul: one holder at a time, the
 * session tied to the controller, renewed while held, lost when Consul drops the session or no
 * renewal succeeds for a TTL, and released cleanly. Two real Consul actors excluding each other:
 * test/integration/consul-lock.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { holderOf, tryAcquire } from '../../lib/systems/consul/lock.js';
import { consulError, FakeConsul } from '../support/fake-consul.js';

const KEY = 'nova-ha/locks/cmp1';
function cluster(): FakeConsul {
  return new FakeConsul('mgmt', 'ctl1').node('ctl1', { role: 'controller', serfHealth: 'passing' }).node('ctl2', { role: 'controller', serfHealth: 'passing' });
}
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('tryAcquire', () => {
  it('takes a free key with a session tied to serfHealth, and says who holds it', async () => {
    const consul = cluster();
    const lock = await tryAcquire(consul.api, { key: KEY, holder: { node: 'ctl1', pid: 42 } });
    expect(lock).toBeDefined();
    expect(lock!.isHeld()).toBe(true);
    const entry = consul.peekEntry(KEY)!;
    expect(entry.Session).toBe(lock!.session);
    expect(JSON.parse(entry.Value!)).toMatchObject({ node: 'ctl1', pid: 42, session: lock!.session, since: expect.any(String) });
    expect(consul.calls('sessionCreate')[0]![0]).toEqual({ name: `nova-ha ${KEY}`, ttl: '10s', lockDelay: '5s', nodeChecks: ['serfHealth'], behavior: 'release' });
    expect(await holderOf(consul.api, KEY)).toBe(lock!.session);
    await lock!.release();
  });

  it('a key another session holds is not taken, and the attempt leaves no session behind', async () => {
    const consul = cluster();
    const first = await tryAcquire(consul.api, { key: KEY, holder: { node: 'ctl1' } });
    const second = await tryAcquire(consul.agentOf('ctl2').api, { key: KEY, holder: { node: 'ctl2' } });
    expect(second).toBeUndefined();
    expect(consul.sessionIds()).toEqual([first!.session]);
    expect(JSON.parse(consul.peekEntry(KEY)!.Value!)).toMatchObject({ node: 'ctl1' });
    await first!.release();
  });

  it('release frees the key for the next actor and ends the session; twice is harmless', async () => {
    const consul = cluster();
    const lock = (await tryAcquire(consul.api, { key: KEY, holder: { node: 'ctl1' } }))!;
    await lock.release();
    await lock.release();
    expect(lock.isHeld()).toBe(false);
    expect(await lock.lost).toBe('released');
    expect(consul.peekEntry(KEY)?.Session).toBeUndefined();
    expect(JSON.parse(consul.peekEntry(KEY)!.Value!)).toMatchObject({ node: 'ctl1', releasedAt: expect.any(String) });
    expect(consul.sessionIds()).toEqual([]);
    expect(await holderOf(consul.api, KEY)).toBeUndefined();
    const next = await tryAcquire(consul.agentOf('ctl2').api, { key: KEY, holder: { node: 'ctl2' } });
    expect(next?.isHeld()).toBe(true);
    await next!.release();
    expect(consul.calls('kvPut').filter(([, , options]) => (options as { release?: string }).release !== undefined)).toHaveLength(2);
  });

  it('a controller whose own node is failing cannot lock (Consul refuses the session)', async () => {
    const consul = cluster().node('ctl1', { serfHealth: 'critical' });
    await expect(tryAcquire(consul.api, { key: KEY, holder: {} })).rejects.toThrow(/serfHealth/);
    expect(consul.peekEntry(KEY)).toBeUndefined();
  });

  it('an acquire that fails on the way destroys the session it made', async () => {
    const consul = cluster();
    consul.failNext('kvPut');
    await expect(tryAcquire(consul.api, { key: KEY, holder: {} })).rejects.toThrow('rpc error: EOF');
    expect(consul.sessionIds()).toEqual([]);
  });
});

describe('holding', () => {
  it('renews the session about three times per TTL while held', async () => {
    const consul = cluster();
    const lock = (await tryAcquire(consul.api, { key: KEY, holder: {}, ttlSeconds: 0.3 }))!;
    await sleep(350);
    expect(consul.calls('sessionRenew').length).toBeGreaterThanOrEqual(2);
    expect(consul.calls('sessionRenew').every(([id]) => id === lock.session)).toBe(true);
    expect(lock.isHeld()).toBe(true);
    await lock.release();
    const renewals = consul.calls('sessionRenew').length;
    await sleep(250);
    expect(consul.calls('sessionRenew')).toHaveLength(renewals);
  });

  it('is lost when Consul ends the session (TTL ran out, or the controller failed), and another may then lock after the lock-delay', async () => {
    const consul = cluster();
    const lock = (await tryAcquire(consul.api, { key: KEY, holder: {}, ttlSeconds: 0.3, lockDelay: '200ms' }))!;
    consul.invalidateSession(lock.session);
    expect(await lock.lost).toBe('the session expired or was invalidated');
    expect(lock.isHeld()).toBe(false);
    const other = consul.agentOf('ctl2').api;
    expect(await tryAcquire(other, { key: KEY, holder: {} })).toBeUndefined();
    await sleep(250);
    const next = await tryAcquire(other, { key: KEY, holder: {} });
    expect(next?.isHeld()).toBe(true);
    await next!.release();
  });

  it('a Consul that does not answer the renewals for a whole TTL: lost; a short outage: kept', async () => {
    const consul = cluster();
    const lock = (await tryAcquire(consul.api, { key: KEY, holder: {}, ttlSeconds: 0.3 }))!;
    consul.failNext('sessionRenew', consulError(500, 'No cluster leader'));
    await sleep(250);
    expect(lock.isHeld()).toBe(true);
    consul.down(consulError(500, 'No cluster leader'));
    expect(await lock.lost).toMatch(/^the session could not be renewed for 0.3s \(No cluster leader\)$/);
    expect(lock.isHeld()).toBe(false);
    consul.up();
    await lock.release();
  });
});
