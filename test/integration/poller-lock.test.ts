/**
 * The pollers' lock against a real Consul (dev agent on loopback): one controller polls, the
 * others stand by while its view is fresh, and take it over once the view has gone stale or the
 * poller gave the lock back; a poller whose session Consul ended (its controller died) is
 * replaced at the next run, after the lock-delay.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdPollerLock, type PollerLockOptions } from '../../lib/systems/consul/poller-lock.js';
import { startDevConsul, type DevConsul } from '../support/consul-dev.js';

let consul: DevConsul;
const dirs: string[] = [];
beforeAll(async () => void (consul = await startDevConsul()), 30_000);
afterAll(async () => {
  await consul?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const INTERVAL = 10_000;
function controller(node: string, key: string): (viewAt: number | undefined) => PollerLockOptions {
  const stateDir = mkdtempSync(join(tmpdir(), `nova-ha-poller-${node}-`));
  dirs.push(stateDir);
  return (viewAt) => ({ key, name: 'nova', node, stateDir, ttlSeconds: 30, viewAt, staleAfterMs: 2 * INTERVAL });
}

describe('the poller lock against a real Consul', () => {
  it('a fresh view keeps the poller; a stale one is taken over, once, and the old poller then stands by', async () => {
    const key = 'nova-ha/pollers/nova-stale';
    const [ctl1, ctl2] = [controller('ctl1', key), controller('ctl2', key)];
    expect(await holdPollerLock(consul.api, ctl1(undefined))).toMatchObject({ held: true });
    expect((await holdPollerLock(consul.api, ctl1(Date.now()))).held).toBe(true);
    expect(await holdPollerLock(consul.api, ctl2(Date.now() - INTERVAL))).toEqual({ held: false, holder: 'ctl1' });

    const took = await holdPollerLock(consul.api, ctl2(Date.now() - 2 * INTERVAL - 1000));
    expect(took).toMatchObject({ held: true, tookOver: 'ctl1' });
    expect(await holdPollerLock(consul.api, ctl1(Date.now()))).toEqual({ held: false, holder: 'ctl2' });
    const again = await holdPollerLock(consul.api, ctl2(Date.now()));
    expect(again.held && again.tookOver).toBe(undefined);
  });

  it('a poller that could not read what it polls gives the lock back, and the next run elsewhere takes it', async () => {
    const key = 'nova-ha/pollers/nova-release';
    const [ctl1, ctl2] = [controller('ctl1', key), controller('ctl2', key)];
    const first = await holdPollerLock(consul.api, ctl1(undefined));
    expect(first.held).toBe(true);
    if (first.held) await first.release();
    expect(await holdPollerLock(consul.api, ctl2(Date.now()))).toMatchObject({ held: true });
    expect(await holdPollerLock(consul.api, ctl1(Date.now()))).toEqual({ held: false, holder: 'ctl2' });
  });

  it('a poller whose session ended (its controller died) is replaced at the next run after the lock-delay, with a fresh view', async () => {
    const key = 'nova-ha/pollers/nova-died';
    const ctl1 = controller('ctl1', key);
    const ctl2 = controller('ctl2', key);
    expect((await holdPollerLock(consul.api, ctl1(undefined))).held).toBe(true);
    await consul.api.sessionDestroy(readFileSync(join(ctl1(undefined).stateDir, 'poller-nova.session'), 'utf8').trim());
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(await holdPollerLock(consul.api, ctl2(Date.now()))).toMatchObject({ held: true });
  });
});
