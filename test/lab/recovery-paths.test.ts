/**
 * Every failure path from detection to instances running elsewhere, with no human, in the lab
 * with real Consul, Nova and BMCs (design.md section 4): a hung node, a power loss that a
 * power-on repairs, a power loss after which the host never boots, and a nova-compute that dies
 * and cannot be restarted. (The storage path is in recovery-fence.test.ts.)
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../lab/lab.js';
import { testLab } from './lab-context.js';
import { bootOn, closedIncidents, configureControllers, configureNode, currentIncident, hang, mailSince, novaHaLab, resetHost, serversById, setBootFails, stepsOf, until, untilHealthy, type NovaHaLab } from '../../lab/scenario.js';

let lab: Lab;
let ctx: NovaHaLab;
const touched = new Set<string>();

beforeAll(async () => {
  lab = await testLab();
  ctx = novaHaLab(lab);
  configureControllers(lab, { fencing: 'ipmi' });
  for (const host of lab.computes) await untilHealthy(ctx, host, 120_000);
});

afterEach(async () => {
  for (const host of touched) {
    setBootFails(ctx, host, false);
    configureNode(lab, host, { fencing: 'ipmi' });
    await resetHost(ctx, host);
  }
  touched.clear();
  await ctx.nova.deleteServers();
});

async function expectEvacuated(ids: readonly string[], from: string): Promise<void> {
  const servers = await serversById(ctx);
  for (const id of ids) {
    expect(servers.get(id)?.status, id).toBe('ACTIVE');
    expect(servers.get(id)?.host, id).not.toBe(from);
  }
}

describe('failure paths end to end', () => {
  it('a hung node (every process frozen, power on): fenced and evacuated', async () => {
    const ids = await bootOn(ctx, 'cmp2', 3, 'path-hang');
    touched.add('cmp2');
    await hang(ctx, 'cmp2');
    const fenced = await until('fenced', 180_000, () => currentIncident(ctx, 'cmp2'), (i) => i?.phase === 'fenced');
    expect(fenced!.cause).toBe('node-unreachable');
    expect(stepsOf(fenced!).filter((s) => s.startsWith('restart-'))).toEqual([]);
    await expectEvacuated(ids, 'cmp2');
    expect(await lab.powerStatus('cmp2')).toBe('off');
  });

  it('power lost (not by nova-ha): powered on, rejoins, recovered and an email; nothing evacuated', async () => {
    const since = Date.now();
    const ids = await bootOn(ctx, 'cmp3', 1, 'path-power');
    touched.add('cmp3');
    await lab.powerOff('cmp3');
    const [closed] = await until('recovered', 180_000, () => closedIncidents(ctx, 'cmp3'), (list) => list.some((i) => i.openedAt >= since - 1000));
    expect(closed!.cause).toBe('power-lost');
    expect(closed!.phase).toBe('recovered');
    expect(stepsOf(closed!)).toContain('power-on:done');
    expect(stepsOf(closed!)).not.toContain('power-off:started');
    expect((await serversById(ctx)).get(ids[0]!)?.host).toBe('cmp3');
    await until('recovery email', 30_000, () => mailSince(ctx, since, 'cmp3'), (m) => m.some((x) => x.subject.includes('recovered')));
  });

  it('power lost and the host never boots again: verifiably off after the boot timeout, so evacuated', async () => {
    const ids = await bootOn(ctx, 'cmp4', 2, 'path-noboot');
    touched.add('cmp4');
    setBootFails(ctx, 'cmp4', true);
    await lab.powerOff('cmp4');
    const fenced = await until('fenced', 300_000, () => currentIncident(ctx, 'cmp4'), (i) => i?.phase === 'fenced');
    const steps = stepsOf(fenced!);
    expect(steps.indexOf('power-on:done')).toBeLessThan(steps.indexOf('power-off:done'));
    expect(steps.indexOf('power-off:done')).toBeLessThan(steps.indexOf('evacuate:started'));
    await expectEvacuated(ids, 'cmp4');
  });

  it('nova-compute dead and its restart fails: fenced and evacuated', async () => {
    const ids = await bootOn(ctx, 'cmp1', 2, 'path-nova');
    touched.add('cmp1');
    // A restart command the agent's user is not granted: sudo refuses it, the restart fails.
    configureNode(lab, 'cmp1', { fencing: 'ipmi', overrides: { remediation: { restart_nova_compute: '/usr/bin/false' } } });
    await ctx.nova.stopCompute(1);
    const fenced = await until('fenced', 240_000, () => currentIncident(ctx, 'cmp1'), (i) => i?.phase === 'fenced');
    expect(fenced!.cause).toBe('nova-compute-dead');
    const steps = stepsOf(fenced!);
    expect(steps.indexOf('restart-nova-compute:done')).toBeLessThan(steps.indexOf('power-off:started'));
    await expectEvacuated(ids, 'cmp1');
  });
});
