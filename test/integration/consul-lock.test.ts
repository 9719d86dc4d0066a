/**
 * Two live actors on one host, with a real Consul (dev agent on loopback): the host lock lets
 * exactly one hold it, the other is refused until the holder releases it or its session ends;
 * check-and-set refuses a writer that read before another wrote.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holderOf, tryAcquire } from '../../lib/systems/consul/lock.js';
import { JsonKv } from '../../lib/systems/consul/kv.js';
import { startDevConsul, type DevConsul } from '../support/consul-dev.js';

let consul: DevConsul;
beforeAll(async () => void (consul = await startDevConsul()), 30_000);
afterAll(async () => consul?.stop());

describe('the host lock against a real Consul', () => {
  it('of two actors racing for a host, exactly one gets it; the other gets it only after a release', async () => {
    const key = 'nova-ha/locks/cmp1';
    const [a, b] = await Promise.all([tryAcquire(consul.api, { key, holder: { actor: 'a' }, lockDelay: '0s' }), tryAcquire(consul.api, { key, holder: { actor: 'b' }, lockDelay: '0s' })]);
    const held = [a, b].filter((l) => l !== undefined);
    expect(held).toHaveLength(1);
    expect(await holderOf(consul.api, key)).toBe(held[0]!.session);
    expect(await tryAcquire(consul.api, { key, holder: { actor: 'c' } })).toBeUndefined();
    await held[0]!.release();
    expect(await holderOf(consul.api, key)).toBeUndefined();
    const next = await tryAcquire(consul.api, { key, holder: { actor: 'c' } });
    expect(next?.isHeld()).toBe(true);
    await next!.release();
  });

  it('a holder whose session Consul ends loses the lock, and another then takes it after the lock-delay', async () => {
    const key = 'nova-ha/locks/cmp2';
    const first = (await tryAcquire(consul.api, { key, holder: { actor: 'a' }, ttlSeconds: 10, lockDelay: '1s' }))!;
    await consul.api.sessionDestroy(first.session);
    expect(await holderOf(consul.api, key)).toBeUndefined();
    // Within the lock-delay nobody may take it: the old holder may still be finishing a step.
    expect(await tryAcquire(consul.api, { key, holder: { actor: 'b' }, lockDelay: '0s' })).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const second = await tryAcquire(consul.api, { key, holder: { actor: 'b' }, lockDelay: '0s' });
    expect(second?.isHeld()).toBe(true);
    await second!.release();
    // The first holder's renewal finds its session gone.
    expect(await Promise.race([first.lost, new Promise((resolve) => setTimeout(() => resolve('still held'), 5000))])).toBe('the session expired or was invalidated');
  });

  it('check-and-set: of two writers that read the same version, only the first write lands', async () => {
    const kv = new JsonKv(consul.api, 'cas-race');
    await kv.write(kv.key('incident'), { step: 0 });
    const read = (await kv.read<{ step: number }>(kv.key('incident')))!;
    expect(await kv.write(kv.key('incident'), { step: 1, by: 'a' }, read.index)).toBe(true);
    expect(await kv.write(kv.key('incident'), { step: 1, by: 'b' }, read.index)).toBeFalsy();
    expect((await kv.read(kv.key('incident')))!.value).toEqual({ step: 1, by: 'a' });
  });
});
