/**
 * Fencing end to end with real Consul, Nova and BMCs: verified power-off before any evacuation,
 * every instance ACTIVE elsewhere, fenced stays fenced, and operator unfence.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../lab/lab.js';
import { testLab } from './lab-context.js';
import { bootOn, cliOnController, closedIncidents, configureControllers, currentIncident, mailSince, novaHaLab, resetHost, serversById, setBmcHangsOnPowerOff, stepsOf, thawBmc, until, untilHealthy, type NovaHaLab } from '../../lab/scenario.js';

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
  for (const host of touched) await resetHost(ctx, host);
  touched.clear();
  await ctx.nova.deleteServers();
});

afterAll(() => configureControllers(lab, { fencing: 'ipmi' }));

describe('fence and evacuate', () => {
  it('storage cut that the repair cannot fix: fenced (power off verified), evacuated, stays fenced when power returns, unfence brings it back', async () => {
    const since = Date.now();
    const ids = await bootOn(ctx, 'cmp1', 5, 'fence-storage');
    touched.add('cmp1');
    await lab.cutLink('cmp1', 'storage', 'switch');

    const fenced = await until('fenced', 180_000, () => currentIncident(ctx, 'cmp1'), (i) => i?.phase === 'fenced' || (i?.phase === 'held' && i.hold?.needsOperator === true));
    expect(fenced!.phase).toBe('fenced');
    const steps = stepsOf(fenced!);
    // The order design.md requires: repair tried, then power off verified before any evacuation.
    expect(steps.indexOf('restart-storage-network:done')).toBeLessThan(steps.indexOf('power-off:started'));
    expect(steps.indexOf('power-off:done')).toBeLessThan(steps.indexOf('force-down:started'));
    expect(steps.indexOf('force-down:done')).toBeLessThan(steps.indexOf('evacuate:started'));
    expect(steps).toContain('disable:done');
    expect(await lab.powerStatus('cmp1')).toBe('off');

    const servers = await serversById(ctx);
    for (const id of ids) {
      expect(servers.get(id)?.status, id).toBe('ACTIVE');
      expect(servers.get(id)?.host, id).not.toBe('cmp1');
    }
    expect(fenced!.instances!.map((o) => o.outcome).sort()).toEqual(Array(5).fill('evacuated'));
    const migrations = await ctx.nova.migrations('cmp1', 'evacuation');
    for (const id of ids) expect(migrations.filter((m) => m.instance_uuid === id), id).toHaveLength(1);
    const service = (await ctx.nova.services()).find((s) => s.host === 'cmp1')!;
    expect(service.forced_down).toBe(true);
    expect(service.status).toBe('disabled');
    expect(service.disabled_reason).toContain(fenced!.id);
    const mail = await until('fenced email', 30_000, () => mailSince(ctx, since, 'cmp1'), (m) => m.some((x) => x.subject.includes('fenced')));
    const fencedMail = mail.find((x) => x.subject.includes('fenced'))!;
    for (const id of ids) expect(fencedMail.text).toContain(id);

    // Power restored at the BMC by someone else: the host comes back, nova-ha keeps it fenced.
    await lab.restoreLink('cmp1', 'storage', 'switch');
    await lab.powerOn('cmp1');
    await lab.waitForMemberEverywhere('cmp1', 'alive', 60_000);
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    expect((await currentIncident(ctx, 'cmp1'))!.phase).toBe('fenced');
    const still = (await ctx.nova.services()).find((s) => s.host === 'cmp1')!;
    expect([still.forced_down, still.status]).toEqual([true, 'disabled']);

    // The operator unfences: healthy everywhere, Nova cleaned up, service enabled, incident closed.
    const result = await cliOnController(ctx, ['unfence', 'cmp1', '--timeout', '240']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/evacuation migrations completed/);
    const back = (await ctx.nova.services()).find((s) => s.host === 'cmp1')!;
    expect([back.forced_down, back.status, back.state]).toEqual([false, 'enabled', 'up']);
    const completed = await ctx.nova.migrations('cmp1', 'evacuation');
    for (const id of ids) expect(completed.find((m) => m.instance_uuid === id)?.status).toBe('completed');
    const [closed] = await closedIncidents(ctx, 'cmp1');
    expect(closed!.id).toBe(fenced!.id);
    expect(closed!.phase).toBe('recovered');
    // Nothing moved back, nothing evacuated twice.
    const after = await serversById(ctx);
    for (const id of ids) expect(after.get(id)?.host).toBe(servers.get(id)?.host);
  });

  it('a BMC that stops answering during the fence: held, nothing evacuated, nothing forced down', async () => {
    const ids = await bootOn(ctx, 'cmp2', 2, 'fence-bmc-hang');
    touched.add('cmp2');
    setBmcHangsOnPowerOff(ctx, 'cmp2', true);
    try {
      await lab.cutLink('cmp2', 'storage', 'switch');
      const held = await until('held', 180_000, () => currentIncident(ctx, 'cmp2'), (i) => i?.phase === 'held' && i.hold?.needsOperator === true && i.fenceStarted);
      expect(stepsOf(held!)).toContain('power-off:failed');
      expect(stepsOf(held!)).not.toContain('force-down:started');
      const servers = await serversById(ctx);
      for (const id of ids) expect(servers.get(id)?.host).toBe('cmp2');
      expect((await ctx.nova.services()).find((s) => s.host === 'cmp2')!.forced_down).toBe(false);
    } finally {
      await thawBmc(ctx, 'cmp2');
    }
  });

  it('a controller killed during the fence: another finishes it, and the host is never powered on again', async () => {
    const ids = await bootOn(ctx, 'cmp3', 3, 'fence-resume');
    touched.add('cmp3');
    await lab.cutLink('cmp3', 'storage', 'switch');
    const fencing = await until('fence started', 180_000, () => currentIncident(ctx, 'cmp3'), (i) => i?.fenceStarted === true);
    const lock = await ctx.runtime.clusters.mgmt.kvGet(ctx.runtime.kv.key('locks/cmp3'));
    const first = JSON.parse(lock!.Value!) as { node: string; pid: number };
    // The whole controller dies: its worker and its three Consul agents.
    process.kill(first.pid, 'SIGKILL');
    for (const network of ['mgmt', 'storage', 'tenant'] as const) await lab.killAgent(first.node, network);
    let fenced;
    try {
      fenced = await until('fenced by another controller', 240_000, () => currentIncident(ctx, 'cmp3'), (i) => i?.phase === 'fenced');
    } finally {
      for (const network of ['mgmt', 'storage', 'tenant'] as const) await lab.startAgent(first.node, network);
      await lab.waitForMemberEverywhere(first.node, 'alive', 120_000);
    }
    expect(fenced!.id).toBe(fencing!.id);
    const finishers = new Set(fenced!.timeline.filter((e) => e.at > fencing!.phaseSince).map((e) => e.by));
    expect([...finishers].some((node) => node !== first.node)).toBe(true);
    expect(fenced!.timeline.filter((e) => e.step === 'power-off' && e.outcome === 'done')).toHaveLength(1);
    // Never powered on during the incident: the BMC has been off since the fence.
    expect(await lab.powerStatus('cmp3')).toBe('off');
    expect(lab.hostIsOn('cmp3')).toBe(false);
    const servers = await serversById(ctx);
    for (const id of ids) expect(servers.get(id)?.host).not.toBe('cmp3');
    const migrations = await ctx.nova.migrations('cmp3', 'evacuation');
    for (const id of ids) expect(migrations.filter((m) => m.instance_uuid === id), id).toHaveLength(1);
  });
});
