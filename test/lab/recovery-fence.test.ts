/**
 * Fencing end to end with real Consul, Nova and BMCs: verified power-off before any evacuation,
 * every instance ACTIVE elsewhere, fenced stays fenced, and operator unfence.
 */
import { describe, expect, it } from 'vitest';
import { scenarioLab } from './lab-context.js';
import { bootOn, cliOnController, closedIncidents, currentIncident, mailSince, novaHaLab, serversById, setBmcHangsOnPowerOff, stepsOf, thawBmc, until } from '../../lab/scenario.js';
import { expectInOrder } from '../support/journal.js';
import { actionRequests, hostRecord, untilFreshEvaluation } from './support/evaluations.js';

const env = scenarioLab({ fencing: 'ipmi' });

describe('fence and evacuate', () => {
  it('storage cut that the repair cannot fix: fenced (power off verified), evacuated, stays fenced when power returns, unfence brings it back', async () => {
    const since = Date.now();
    const ids = await bootOn(env.ctx, 'cmp1', 5, 'fence-storage');
    env.touch('cmp1');
    await env.lab.cutLink('cmp1', 'storage', 'switch');

    const fenced = await until('fenced', 180_000, () => currentIncident(env.ctx, 'cmp1'), (i) => i?.phase === 'fenced' || (i?.phase === 'held' && i.hold?.needsOperator === true));
    expect(fenced!.phase).toBe('fenced');
    const steps = stepsOf(fenced!);
    // The order design.md requires: repair tried, then power off verified before any evacuation.
    expectInOrder(steps, 'restart-storage-network:done', 'power-off:started', 'power-off:done', 'force-down:started', 'force-down:done', 'evacuate:started');
    expect(steps).toContain('disable:done');
    expect(await env.lab.powerStatus('cmp1')).toBe('off');

    const servers = await serversById(env.ctx);
    for (const id of ids) {
      expect(servers.get(id)?.status, id).toBe('ACTIVE');
      expect(servers.get(id)?.host, id).not.toBe('cmp1');
    }
    expect(fenced!.instances!.map((o) => o.outcome).sort()).toEqual(Array(5).fill('evacuated'));
    const migrations = await env.ctx.nova.migrations('cmp1', 'evacuation');
    for (const id of ids) expect(migrations.filter((m) => m.instance_uuid === id), id).toHaveLength(1);
    expect([...actionRequests(env.ctx, ids, since).values()]).toEqual(ids.map(() => 1));
    const service = (await env.ctx.nova.services()).find((s) => s.host === 'cmp1')!;
    expect(service.forced_down).toBe(true);
    expect(service.status).toBe('disabled');
    expect(service.disabled_reason).toContain(fenced!.id);
    const mail = await until('fenced email', 30_000, () => mailSince(env.ctx, since, 'cmp1'), (m) => m.some((x) => x.subject.includes('fenced')));
    const fencedMail = mail.find((x) => x.subject.includes('fenced'))!;
    for (const id of ids) expect(fencedMail.text).toContain(id);

    // Power restored at the BMC by someone else: the host comes back, nova-ha keeps it fenced.
    await env.lab.restoreLink('cmp1', 'storage', 'switch');
    await env.lab.powerOn('cmp1');
    await env.lab.waitForMemberEverywhere('cmp1', 'alive', 60_000);
    // nova-ha saw it back and left it fenced: the first evaluations tell the operators (a fenced
    // host on again is news), later ones do nothing; it has evaluated again since.
    const seen = await until('an evaluation or worker that saw cmp1 back', 60_000, () => hostRecord(env.ctx, 'cmp1'), (r) => r !== undefined && Object.values(r.networks).every((n) => n.state === 'alive'));
    expect(seen!.decision.guard).toBe('fenced');
    expect(['alert', 'none']).toContain(seen!.decision.action);
    const noticed = await until('cmp1 seen on while fenced', 60_000, () => currentIncident(env.ctx, 'cmp1'), (i) => i?.seenOnWhileFenced !== undefined);
    // The record is rewritten only when what nova-ha sees changes, so "later evaluations do
    // nothing" shows in the incident: no step after the notice, still fenced, the host left on.
    await untilFreshEvaluation(env.ctx);
    const later = (await currentIncident(env.ctx, 'cmp1'))!;
    expect(later.phase).toBe('fenced');
    expect(later.timeline.slice(noticed!.timeline.length).filter((e) => e.outcome !== 'info').map((e) => `${e.step}:${e.outcome}`)).toEqual([]);
    expect(await env.lab.powerStatus('cmp1')).toBe('on');
    const still = (await env.ctx.nova.services()).find((s) => s.host === 'cmp1')!;
    expect([still.forced_down, still.status]).toEqual([true, 'disabled']);

    // The operator unfences: healthy everywhere, Nova cleaned up, service enabled, incident closed.
    const result = await cliOnController(env.ctx, ['unfence', 'cmp1', '--timeout', '240']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/evacuation migrations completed/);
    const back = (await env.ctx.nova.services()).find((s) => s.host === 'cmp1')!;
    expect([back.forced_down, back.status, back.state]).toEqual([false, 'enabled', 'up']);
    const completed = await env.ctx.nova.migrations('cmp1', 'evacuation');
    for (const id of ids) expect(completed.find((m) => m.instance_uuid === id)?.status).toBe('completed');
    const [closed] = await closedIncidents(env.ctx, 'cmp1');
    expect(closed!.id).toBe(fenced!.id);
    expect(closed!.phase).toBe('recovered');
    // Nothing moved back, nothing evacuated twice.
    const after = await serversById(env.ctx);
    for (const id of ids) expect(after.get(id)?.host).toBe(servers.get(id)?.host);
  });

  it('a BMC that stops answering during the fence: held, nothing evacuated, nothing forced down', async () => {
    const ids = await bootOn(env.ctx, 'cmp2', 2, 'fence-bmc-hang');
    env.touch('cmp2');
    setBmcHangsOnPowerOff(env.ctx, 'cmp2', true);
    try {
      await env.lab.cutLink('cmp2', 'storage', 'switch');
      const held = await until('held', 180_000, () => currentIncident(env.ctx, 'cmp2'), (i) => i?.phase === 'held' && i.hold?.needsOperator === true && i.fenceStarted);
      expect(stepsOf(held!)).toContain('power-off:failed');
      expect(stepsOf(held!)).not.toContain('force-down:started');
      const servers = await serversById(env.ctx);
      for (const id of ids) expect(servers.get(id)?.host).toBe('cmp2');
      expect((await env.ctx.nova.services()).find((s) => s.host === 'cmp2')!.forced_down).toBe(false);
    } finally {
      await thawBmc(env.ctx, 'cmp2');
    }
  });

  it('a controller killed during the fence: another finishes it, and the host is never powered on again', async () => {
    const ids = await bootOn(env.ctx, 'cmp3', 3, 'fence-resume');
    env.touch('cmp3');
    await env.lab.cutLink('cmp3', 'storage', 'switch');
    const fencing = await until('fence started', 180_000, () => currentIncident(env.ctx, 'cmp3'), (i) => i?.fenceStarted === true);
    const lock = await env.ctx.runtime.clusters.mgmt.kvGet(env.ctx.runtime.kv.key('locks/cmp3'));
    const first = JSON.parse(lock!.Value!) as { node: string; pid: number };
    // The whole controller dies: its worker and its three Consul agents. The test watches
    // through another controller's agents.
    const watcher = novaHaLab(env.lab, env.lab.controllers.find((c) => c !== first.node));
    process.kill(first.pid, 'SIGKILL');
    for (const network of ['mgmt', 'storage', 'tenant'] as const) await env.lab.killAgent(first.node, network);
    let fenced;
    try {
      // Killing a controller may cost the cluster its leader: reads fail until a new one is elected.
      fenced = await until('fenced by another controller', 240_000, () => currentIncident(watcher, 'cmp3').catch(() => undefined), (i) => i?.phase === 'fenced');
    } finally {
      for (const network of ['mgmt', 'storage', 'tenant'] as const) await env.lab.startAgent(first.node, network);
      await env.lab.waitForMemberEverywhere(first.node, 'alive', 120_000);
    }
    expect(fenced!.id).toBe(fencing!.id);
    const finishers = new Set(fenced!.timeline.filter((e) => e.at > fencing!.phaseSince).map((e) => e.by));
    expect([...finishers].some((node) => node !== first.node)).toBe(true);
    expect(fenced!.timeline.filter((e) => e.step === 'power-off' && e.outcome === 'done')).toHaveLength(1);
    // Never powered on during the incident: the BMC has been off since the fence.
    expect(await env.lab.powerStatus('cmp3')).toBe('off');
    expect(env.lab.hostIsOn('cmp3')).toBe(false);
    const servers = await serversById(env.ctx);
    for (const id of ids) expect(servers.get(id)?.host).not.toBe('cmp3');
    const migrations = await env.ctx.nova.migrations('cmp3', 'evacuation');
    for (const id of ids) expect(migrations.filter((m) => m.instance_uuid === id), id).toHaveLength(1);
  });
});
