/**
 * Every failure path from detection to instances running elsewhere, with no human, in the lab
 * with real Consul, Nova and BMCs (design.md section 4): a hung node, a power loss that a
 * power-on repairs, a power loss after which the host never boots, and a nova-compute that dies
 * and cannot be restarted. (The storage path is in recovery-fence.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { scenarioLab } from './lab-context.js';
import { bootOn, closedIncidents, configureNode, currentIncident, hang, mailSince, serversById, setBootFails, stepsOf, until } from '../../lab/scenario.js';
import { expectInOrder } from '../support/journal.js';

const env = scenarioLab({ fencing: 'ipmi' });

async function expectEvacuated(ids: readonly string[], from: string): Promise<void> {
  const servers = await serversById(env.ctx);
  for (const id of ids) {
    expect(servers.get(id)?.status, id).toBe('ACTIVE');
    expect(servers.get(id)?.host, id).not.toBe(from);
  }
}

describe('failure paths end to end', () => {
  it('a hung node (every process frozen, power on): fenced and evacuated', async () => {
    const ids = await bootOn(env.ctx, 'cmp2', 3, 'path-hang');
    env.touch('cmp2');
    await hang(env.ctx, 'cmp2');
    const fenced = await until('fenced', 180_000, () => currentIncident(env.ctx, 'cmp2'), (i) => i?.phase === 'fenced');
    expect(fenced!.cause).toBe('node-unreachable');
    expect(stepsOf(fenced!).filter((s) => s.startsWith('restart-'))).toEqual([]);
    await expectEvacuated(ids, 'cmp2');
    expect(await env.lab.powerStatus('cmp2')).toBe('off');
  });

  it('power lost (not by nova-ha): powered on, rejoins, recovered and an email; nothing evacuated', async () => {
    const since = Date.now();
    const ids = await bootOn(env.ctx, 'cmp3', 1, 'path-power');
    env.touch('cmp3');
    await env.lab.powerOff('cmp3');
    const [closed] = await until('recovered', 180_000, () => closedIncidents(env.ctx, 'cmp3'), (list) => list.some((i) => i.openedAt >= since - 1000));
    expect(closed!.cause).toBe('power-lost');
    expect(closed!.phase).toBe('recovered');
    expect(stepsOf(closed!)).toContain('power-on:done');
    expect(stepsOf(closed!)).not.toContain('power-off:started');
    expect((await serversById(env.ctx)).get(ids[0]!)?.host).toBe('cmp3');
    await until('recovery email', 30_000, () => mailSince(env.ctx, since, 'cmp3'), (m) => m.some((x) => x.subject.includes('recovered')));
  });

  it('power lost and the host never boots again: verifiably off after the boot timeout, so evacuated', async () => {
    const ids = await bootOn(env.ctx, 'cmp4', 2, 'path-noboot');
    env.touch('cmp4');
    setBootFails(env.ctx, 'cmp4', true);
    await env.lab.powerOff('cmp4');
    const fenced = await until('fenced', 300_000, () => currentIncident(env.ctx, 'cmp4'), (i) => i?.phase === 'fenced');
    const steps = stepsOf(fenced!);
    expectInOrder(steps, 'power-on:done', 'power-off:done', 'evacuate:started');
    await expectEvacuated(ids, 'cmp4');
  });

  it('nova-compute dead and its restart fails: fenced and evacuated', async () => {
    const ids = await bootOn(env.ctx, 'cmp1', 2, 'path-nova');
    env.touch('cmp1');
    // A restart command the agent's user is not granted: sudo refuses it, the restart fails.
    configureNode(env.lab, 'cmp1', { fencing: 'ipmi', overrides: { remediation: { restart_nova_compute: '/usr/bin/false' } } });
    await env.ctx.nova.stopCompute(1);
    const fenced = await until('fenced', 240_000, () => currentIncident(env.ctx, 'cmp1'), (i) => i?.phase === 'fenced');
    expect(fenced!.cause).toBe('nova-compute-dead');
    const steps = stepsOf(fenced!);
    expectInOrder(steps, 'restart-nova-compute:done', 'power-off:started');
    await expectEvacuated(ids, 'cmp1');
  });
});
