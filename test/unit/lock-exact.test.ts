/**
 * The host lock's renewal (systems/consul/lock.ts) on a fake clock: renewed every third of its
 * TTL, lost only after a whole TTL without a successful renewal counted from the last success,
 * and a lock already lost is not released again.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { holderOf, tryAcquire } from '../../lib/systems/consul/lock.js';
import { consulError, FakeConsul } from '../support/fake-consul.js';

const KEY = 'nova-ha/locks/cmp1';
const cluster = (): FakeConsul => new FakeConsul('mgmt', 'ctl1').node('ctl1', { role: 'controller', serfHealth: 'passing' });

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
  vi.setSystemTime(Date.parse('2026-11-25T10:00:00Z'));
});
afterEach(() => vi.useRealTimers());

describe('lock renewal on a fake clock', () => {
  it('renews every third of the TTL, and stops once released', async () => {
    const consul = cluster();
    const lock = (await tryAcquire(consul.api, { key: KEY, holder: {}, ttlSeconds: 3 }))!;
    expect(consul.calls('sessionCreate')[0]![0]).toMatchObject({ ttl: '3s' });
    await vi.advanceTimersByTimeAsync(999);
    expect(consul.calls('sessionRenew')).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(consul.calls('sessionRenew')).toEqual([[lock.session]]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(consul.calls('sessionRenew')).toHaveLength(3);
    await lock.release();
    await vi.advanceTimersByTimeAsync(5000);
    expect(consul.calls('sessionRenew')).toHaveLength(3);
  });

  it('the default TTL is 10 s: renewed every 3.3 s', async () => {
    const consul = cluster();
    const lock = (await tryAcquire(consul.api, { key: KEY, holder: {} }))!;
    await vi.advanceTimersByTimeAsync(3300);
    expect(consul.calls('sessionRenew')).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    expect(consul.calls('sessionRenew')).toHaveLength(1);
    await lock.release();
  });

  it('failed renewals lose it a whole TTL after the last one that succeeded, not before', async () => {
    const consul = cluster();
    const lock = (await tryAcquire(consul.api, { key: KEY, holder: {}, ttlSeconds: 3 }))!;
    let reason: string | undefined;
    void lock.lost.then((r) => (reason = r));
    // Renewals at 1, 2, 3, 4 s succeed; from 4.5 s on Consul does not answer.
    await vi.advanceTimersByTimeAsync(4500);
    consul.down(consulError(500, 'No cluster leader'));
    await vi.advanceTimersByTimeAsync(2500); // failures at 5, 6, 7 s: 3 s since the last success, not more
    expect(lock.isHeld()).toBe(true);
    expect(reason).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1000); // 8 s: 4 s since the last success
    expect(lock.isHeld()).toBe(false);
    expect(reason).toBe('the session could not be renewed for 3s (No cluster leader)');
    const renewals = consul.calls('sessionRenew').length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(consul.calls('sessionRenew')).toHaveLength(renewals);
  });

  it('a lock already lost is not released again: no release write, no session destroyed', async () => {
    const consul = cluster();
    const lock = (await tryAcquire(consul.api, { key: KEY, holder: { node: 'ctl1' }, ttlSeconds: 3 }))!;
    consul.invalidateSession(lock.session);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await lock.lost).toBe('the session expired or was invalidated');
    const puts = consul.calls('kvPut').length;
    await lock.release();
    expect(consul.calls('kvPut')).toHaveLength(puts);
    expect(consul.calls('sessionDestroy')).toEqual([]);
    expect(await lock.lost).toBe('the session expired or was invalidated');
  });

  it('a release that Consul refuses still ends the lock here and its session', async () => {
    const consul = cluster();
    const lock = (await tryAcquire(consul.api, { key: KEY, holder: { node: 'ctl1', purpose: 'fence' } }))!;
    expect(lock.key).toBe(KEY);
    consul.failNext('kvPut');
    await lock.release();
    expect(lock.isHeld()).toBe(false);
    expect(consul.calls('sessionDestroy')).toEqual([[lock.session]]);
    expect(consul.calls('kvPut').at(-1)).toEqual([KEY, JSON.stringify({ node: 'ctl1', purpose: 'fence', releasedAt: '2026-11-25T10:00:00.000Z' }), { release: lock.session }]);
    expect(await holderOf(consul.api, KEY)).toBeUndefined();
  });

  it('a session Consul will not destroy, after a release or a lost attempt, is left to its TTL: no error', async () => {
    const consul = cluster();
    const lock = (await tryAcquire(consul.api, { key: KEY, holder: {} }))!;
    consul.failNext('sessionDestroy');
    expect(await tryAcquire(consul.api, { key: KEY, holder: {} })).toBeUndefined();
    consul.failNext('sessionDestroy');
    await lock.release();
    expect(lock.isHeld()).toBe(false);
    expect(consul.calls('sessionDestroy')).toHaveLength(2);
  });

  it('the lock records when it was taken, and the lock-delay asked for', async () => {
    const consul = cluster();
    const lock = (await tryAcquire(consul.api, { key: KEY, holder: { node: 'ctl1' }, lockDelay: '15s' }))!;
    expect(consul.calls('kvPut')[0]).toEqual([KEY, JSON.stringify({ node: 'ctl1', session: lock.session, since: '2026-11-25T10:00:00.000Z' }), { acquire: lock.session }]);
    expect(consul.calls('sessionCreate')[0]![0]).toMatchObject({ lockDelay: '15s' });
    await lock.release();
  });

  it('a key taken by another session: the session made for the attempt is destroyed', async () => {
    const consul = cluster();
    const first = (await tryAcquire(consul.api, { key: KEY, holder: {} }))!;
    expect(await tryAcquire(consul.api, { key: KEY, holder: {} })).toBeUndefined();
    expect(consul.calls('sessionDestroy')).toHaveLength(1);
    expect(consul.calls('sessionDestroy')[0]![0]).not.toBe(first.session);
    await first.release();
  });
});
