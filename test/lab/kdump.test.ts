/**
 * kdump awareness with the real fence_kdump protocol: fence-agents' fence_kdump_send run in a lab
 * host's namespace (these machines cannot run kdump itself) to the controllers' nova-ha-kdump
 * listeners, started as the unit install.sh wrote says. A hung host that sends from its own
 * address is evacuated while it "dumps" and powered off only after the messages stop; messages
 * from another address, or from a host alive on its networks, are logged and ignored.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scenarioLab } from './lab-context.js';
import { reportTiming, stepAt } from './support/fencing.js';
import { startKdumpSender, startService, stopKdumpSender, stopService } from '../../lab/fencing.js';
import { installOn, novaHaLog } from '../../lab/nova-ha.js';
import { bootOn, configureControllers, currentIncident, hang, serversById, stepsOf, until } from '../../lab/scenario.js';
import { addressOf } from '../../lab/topology.js';
import { KEYS } from '../../lib/state/records.js';
import type { KdumpRecord } from '../../lib/state/records.js';

const env = scenarioLab({ fencing: 'ipmi' });
const KDUMP_CONTROLLERS = { fencing: 'ipmi' as const, overrides: { kdump: { enabled: 'true', interval: '1s', first_message_wait: '3s', timeout: '120s' } } };
const fencedOrHeld = (i: { phase: string; hold?: { needsOperator: boolean } } | undefined): boolean => i?.phase === 'fenced' || (i?.phase === 'held' && i.hold?.needsOperator === true);
const controllersMgmt = (): string[] => env.lab.controllers.map((c) => addressOf(c, 'mgmt'));
const kdumpRecord = async (host: string): Promise<KdumpRecord | undefined> => (await env.ctx.runtime.kv.read<KdumpRecord>(env.ctx.runtime.kv.key(KEYS.kdump(host))))?.value;

/** The controllers' log events of the listener since `since`. */
function listenerEvents(since: number): Record<string, unknown>[] {
  return env.lab.controllers.flatMap((c) => {
    const file = novaHaLog(env.lab.spec, c);
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('"kdump-')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => Date.parse(e['ts'] as string) >= since);
  });
}

beforeAll(async () => {
  configureControllers(env.lab, KDUMP_CONTROLLERS);
  for (const controller of env.lab.controllers) {
    await installOn(env.lab.spec, controller);
    await startService(env.lab, controller, 'nova-ha-kdump');
  }
  await until('the listeners are up', 30_000, () => listenerEvents(Date.now() - 30_000).filter((e) => e['event'] === 'kdump-listening').length, (n) => n >= 3);
});

afterAll(async () => {
  for (const controller of env.lab.controllers) await stopService(env.lab, controller, 'nova-ha-kdump');
  configureControllers(env.lab, { fencing: 'ipmi' });
  for (const controller of env.lab.controllers) await installOn(env.lab.spec, controller);
});

describe('kdump awareness (fence_kdump protocol)', () => {
  it('a hung host sending fence_kdump messages from its address: evacuated while it dumps, powered off only after the messages stop', async () => {
    const host = 'cmp4';
    const ids = await bootOn(env.ctx, host, 3, 'kdump');
    env.touch(host);
    const failedAt = Date.now();
    await hang(env.ctx, host);
    await startKdumpSender(env.lab, host, controllersMgmt());
    try {
      const evacuated = await until('evacuated while dumping', 240_000, () => currentIncident(env.ctx, host), (i) => i !== undefined && (fencedOrHeld(i) || stepAt(i, 'evacuate', 'done') !== undefined));
      expect(evacuated!.timeline.find((e) => e.step === 'power-off' && e.outcome === 'done')?.detail).toMatch(/^deferred until the crash dump ends \(\d+ fence_kdump messages? from 198\.18\.1\.104 since /);
      expect(stepsOf(evacuated!)).not.toContain('power-off-after-dump:done');
      expect(env.lab.hostIsOn(host)).toBe(true);
      expect(await env.lab.powerStatus(host)).toBe('on');
      const servers = await serversById(env.ctx);
      for (const id of ids) expect([servers.get(id)?.status, servers.get(id)?.host === host]).toEqual(['ACTIVE', false]);
      expect((await kdumpRecord(host))?.from).toBe('198.18.1.104');

      const stoppedAt = Date.now();
      await stopKdumpSender(env.lab, host);
      const fenced = await until('fenced', 120_000, () => currentIncident(env.ctx, host), fencedOrHeld);
      expect(fenced!.phase, JSON.stringify(fenced!.timeline.slice(-6))).toBe('fenced');
      const ended = fenced!.timeline.find((e) => e.step === 'kdump' && /the dump ended/.test(e.detail ?? ''));
      expect(ended!.at).toBeGreaterThanOrEqual(stoppedAt);
      expect(stepAt(fenced!, 'power-off-after-dump', 'done')!).toBeGreaterThan(stoppedAt);
      expect(await env.lab.powerStatus(host)).toBe('off');
      process.stderr.write(`kdump: messages stopped +${((stoppedAt - failedAt) / 1000).toFixed(1)} s, dump seen ended +${((ended!.at - failedAt) / 1000).toFixed(1)} s\n`);
      reportTiming('kdump (evacuate while dumping, power off after)', failedAt, fenced!);
    } finally {
      await stopKdumpSender(env.lab, host);
    }
  });

  it('messages from another address (a controller) and from a host alive on its networks are logged and ignored: the failed host is powered off before its evacuation', async () => {
    const host = 'cmp2';
    const alive = 'cmp1';
    const ids = await bootOn(env.ctx, host, 1, 'kdump-ignored');
    env.touch(host);
    const since = Date.now();
    await hang(env.ctx, host);
    await startKdumpSender(env.lab, 'ctl2', controllersMgmt());
    await startKdumpSender(env.lab, alive, controllersMgmt());
    try {
      const fenced = await until('fenced', 240_000, () => currentIncident(env.ctx, host), fencedOrHeld);
      expect(fenced!.phase, JSON.stringify(fenced!.timeline.slice(-6))).toBe('fenced');
      expect(fenced!.timeline.find((e) => e.step === 'power-off' && e.outcome === 'done')?.detail).toBe('verified by level 1 of 1 (ipmi)');
      expect(stepAt(fenced!, 'power-off', 'done')!).toBeLessThan(stepAt(fenced!, 'evacuate', 'started')!);
      const servers = await serversById(env.ctx);
      for (const id of ids) expect(servers.get(id)?.host).not.toBe(host);
      expect(await kdumpRecord(host)).toBeUndefined();
      expect(await kdumpRecord(alive)).toBeUndefined();
      expect(await currentIncident(env.ctx, alive)).toBeUndefined();
      const ignored = listenerEvents(since).filter((e) => e['event'] === 'kdump-ignored');
      expect(ignored.some((e) => e['from'] === addressOf('ctl2', 'mgmt') && /no compute host is registered/.test(e['detail'] as string))).toBe(true);
      expect(ignored.some((e) => e['host'] === alive && /alive on mgmt/.test(e['detail'] as string))).toBe(true);
      process.stderr.write(`kdump ignored: ${ignored.length} messages logged and ignored (from ctl2 and from ${alive})\n`);
    } finally {
      await stopKdumpSender(env.lab, 'ctl2');
      await stopKdumpSender(env.lab, alive);
    }
  });
});
