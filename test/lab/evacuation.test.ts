/**
 * The evacuation engine against the real Nova: 20 instances from one host, selection by metadata,
 * stopped instances, Nova's API going away mid-evacuation, a worker killed mid-evacuation, an
 * operator evacuating a host Nova still thinks is up, and the opt-in drain of a host whose tenant
 * network failed (live migration).
 */
import { describe, expect, it } from 'vitest';
import { KEYS } from '../../lib/state/records.js';
import { scenarioLab } from './lab-context.js';
import { bootOn, cliOnController, configureControllers, currentIncident, hang, mailSince, serversById, until } from '../../lab/scenario.js';
import { expectInOrder } from '../support/journal.js';
import { actionRequests, controllerLog } from './support/evaluations.js';

const env = scenarioLab({ fencing: 'ipmi' }, (c) => c.nova.startApi());

async function evacuationsPer(host: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const m of await env.ctx.nova.migrations(host, 'evacuation')) counts.set(m.instance_uuid, (counts.get(m.instance_uuid) ?? 0) + 1);
  return counts;
}

describe('evacuation', () => {
  it('an operator evacuates 20 instances of a host Nova still thinks is up: forced down first, all ACTIVE elsewhere', async () => {
    const since = Date.now();
    const ids = await bootOn(env.ctx, 'cmp1', 20, 'evac-20');
    env.touch('cmp1');
    // In maintenance nova-ha leaves the host to the operator. The operator isolates it in a way
    // Nova cannot see (Nova still reports the service up: Nova would refuse to evacuate it).
    await env.ctx.runtime.kv.write(env.ctx.runtime.kv.key(KEYS.maintenance('cmp1')), { reason: 'operator test', since: Date.now(), by: 'test' });
    expect((await env.ctx.nova.services()).find((s) => s.host === 'cmp1')?.state).toBe('up');
    const refused = await cliOnController(env.ctx, ['evacuate', 'cmp1']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not fenced by nova-ha.*--confirm-fenced/);
    const result = await cliOnController(env.ctx, ['evacuate', 'cmp1', '--confirm-fenced']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/20\/20 instances evacuated/);
    const servers = await serversById(env.ctx);
    for (const id of ids) {
      expect(servers.get(id)?.status, id).toBe('ACTIVE');
      expect(servers.get(id)?.host, id).not.toBe('cmp1');
    }
    for (const [, n] of await evacuationsPer('cmp1')) expect(n).toBe(1);
    // nova-ha's own calls, not only what Nova let through: one evacuate request per instance.
    expect([...actionRequests(env.ctx, ids, since).values()]).toEqual(ids.map(() => 1));
    // The operator's incident: the one that evacuated (an earlier, unrelated one may be in the history).
    const incident = [(await env.ctx.incidents.current('cmp1'))?.value, ...(await env.ctx.incidents.history('cmp1'))].find((i) => i?.timeline.some((e) => e.step === 'evacuate'))!;
    const steps = incident.timeline.map((e) => `${e.step}:${e.outcome}`);
    expectInOrder(steps, 'force-down:done', 'evacuate:started');
  });

  it('a stopped instance ends SHUTOFF elsewhere; an opted-out one stays', async () => {
    const since = Date.now();
    const [stopped, optedOut, plain] = await bootOn(env.ctx, 'cmp2', 3, 'evac-select');
    await env.ctx.nova.stopServer(stopped!);
    await env.ctx.nova.setMetadata(optedOut!, 'nova_ha_evacuate', 'false');
    env.touch('cmp2');
    await hang(env.ctx, 'cmp2');
    const fenced = await until('fenced', 180_000, () => currentIncident(env.ctx, 'cmp2'), (i) => i?.phase === 'fenced');
    const servers = await serversById(env.ctx);
    expect([servers.get(stopped!)?.status, servers.get(stopped!)?.host !== 'cmp2']).toEqual(['SHUTOFF', true]);
    expect(servers.get(optedOut!)?.host).toBe('cmp2');
    expect([servers.get(plain!)?.status, servers.get(plain!)?.host !== 'cmp2']).toEqual(['ACTIVE', true]);
    expect(fenced!.instances!.find((o) => o.id === optedOut)?.outcome).toBe('skipped');
    expect(actionRequests(env.ctx, [stopped!, optedOut!, plain!], since)).toEqual(new Map([[stopped!, 1], [optedOut!, 0], [plain!, 1]]));
  });

  it("Nova's API stopped during the evacuation: it finishes when the API returns", async () => {
    const ids = await bootOn(env.ctx, 'cmp3', 4, 'evac-api');
    env.touch('cmp3');
    await hang(env.ctx, 'cmp3');
    await until('fence started', 180_000, () => currentIncident(env.ctx, 'cmp3'), (i) => i?.fenceStarted === true);
    await env.ctx.nova.stopApi();
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    await env.ctx.nova.startApi();
    await until('fenced', 300_000, () => currentIncident(env.ctx, 'cmp3'), (i) => i?.phase === 'fenced');
    const servers = await serversById(env.ctx);
    for (const id of ids) expect(servers.get(id)?.host, id).not.toBe('cmp3');
    for (const [, n] of await evacuationsPer('cmp3')) expect(n).toBe(1);
  });

  it('the worker killed mid-evacuation and resumed: no instance evacuated twice', async () => {
    const since = Date.now();
    const ids = await bootOn(env.ctx, 'cmp4', 8, 'evac-resume');
    env.touch('cmp4');
    await hang(env.ctx, 'cmp4');
    const evacuating = await until('evacuation under way', 180_000, () => currentIncident(env.ctx, 'cmp4'), (i) => (i?.instances ?? []).some((o) => o.outcome === 'evacuating'));
    const lock = await env.ctx.runtime.clusters.mgmt.kvGet(env.ctx.runtime.kv.key(KEYS.lock('cmp4')));
    process.kill((JSON.parse(lock!.Value!) as { pid: number }).pid, 'SIGKILL');
    const killedAt = Date.now();
    const fenced = await until('fenced after the resume', 300_000, () => currentIncident(env.ctx, 'cmp4'), (i) => i?.phase === 'fenced');
    expect(fenced!.id).toBe(evacuating!.id);
    const counts = await evacuationsPer('cmp4');
    for (const id of ids) expect(counts.get(id), id).toBe(1);
    // Nova refuses a second evacuation by itself, so its records cannot show one: count nova-ha's
    // own requests. A request in flight when the worker was killed has no answer in the log; the
    // resuming run logs each instance it finds already called (move-resumed) and must not call it.
    const requests = actionRequests(env.ctx, ids, since);
    const resumed = new Set(controllerLog(env.ctx, 'move-resumed', since).map((r) => String(r['instance'])));
    const afterKill = actionRequests(env.ctx, ids, killedAt);
    for (const id of ids) {
      expect(requests.get(id), id).toBeLessThanOrEqual(1);
      expect(requests.get(id)! + (resumed.has(id) ? 1 : 0), `${id}: neither an answered request nor a resume in the log`).toBeGreaterThanOrEqual(1);
      if (resumed.has(id)) expect(afterKill.get(id), `${id} called again after it was found called`).toBe(0);
    }
    const servers = await serversById(env.ctx);
    for (const id of ids) expect(servers.get(id)?.status, id).toBe('ACTIVE');
  });

  it("no room left in the cloud: Nova's fault is in the outcome, the CLI, the incident and the email, and the command given evacuates them once there is room", async () => {
    const since = Date.now();
    const ids = await bootOn(env.ctx, 'cmp2', 2, 'evac-noroom');
    env.touch('cmp2');
    await env.ctx.runtime.kv.write(env.ctx.runtime.kv.key(KEYS.maintenance('cmp2')), { reason: 'operator test', since: Date.now(), by: 'test' });
    const others = env.lab.computes.filter((h) => h !== 'cmp2');
    for (const other of others) await env.ctx.nova.disable(other, 'test: no room');
    try {
      // Past the capacity estimate (which would hold them: no usable host), so that Nova answers.
      const failed = await cliOnController(env.ctx, ['evacuate', 'cmp2', '--confirm-fenced', '--ignore-capacity']);
      // Instances left behind: the command says so in its exit code, why in Nova's words, and what to run.
      expect(failed.code, failed.stderr).toBe(1);
      expect(failed.stdout).toMatch(/failed +\(ERROR on cmp2 after the evacuation: No valid host was found/);
      expect(failed.stdout).toContain('2 instances failed; once the cause is fixed, evacuate again with: nova-ha evacuate cmp2');
      const incident = (await currentIncident(env.ctx, 'cmp2'))!;
      for (const id of ids) expect(incident.instances!.find((o) => o.id === id)).toMatchObject({ outcome: 'failed', fault: expect.stringMatching(/^No valid host was found/) });
      const shown = await cliOnController(env.ctx, ['incident', incident.id]);
      expect(shown.stdout).toMatch(/failed +cmp2 +- +ERROR on cmp2 after the evacuation: No valid host was found/);
      expect(shown.stdout).toContain('evacuate again with: nova-ha evacuate cmp2');
      const mail = await until('evacuation-failed email', 30_000, () => mailSince(env.ctx, since, 'cmp2'), (m) => m.some((x) => x.text.includes('To try again what failed')));
      const text = mail.find((x) => x.text.includes('To try again what failed'))!.text;
      expect(text).toMatch(/failed +cmp2 +- +ERROR on cmp2 after the evacuation: No valid host was found/);
      expect(text).toContain('To try again what failed, once its cause is fixed, run:\n  nova-ha evacuate cmp2\n');
    } finally {
      for (const other of others) await env.ctx.nova.enable(other);
    }
    // Room again: the command the operator was given, exactly, evacuates them.
    const again = await cliOnController(env.ctx, ['evacuate', 'cmp2']);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    const servers = await serversById(env.ctx);
    for (const id of ids) expect([servers.get(id)?.status, servers.get(id)?.host !== 'cmp2'], id).toEqual(['ACTIVE', true]);
  });

  it('tenant network down with the opt-in drain: its running instances live-migrated away, each confirmed; nothing fenced', async () => {
    configureControllers(env.lab, { fencing: 'ipmi', overrides: { evacuation: { live_migrate_on_tenant_failure: 'true' } } });
    try {
      const ids = await bootOn(env.ctx, 'cmp1', 3, 'drain');
      env.touch('cmp1');
      await env.lab.cutLink('cmp1', 'tenant', 'switch');
      const drained = await until('drain done', 240_000, () => currentIncident(env.ctx, 'cmp1'), (i) => i?.timeline.some((e) => e.step === 'drain' && e.outcome !== 'started') === true);
      expect(drained!.timeline.find((e) => e.step === 'drain' && e.outcome !== 'started')).toMatchObject({ outcome: 'done', detail: '3 live-migrated, 0 skipped, 0 failed, of 3' });
      expect(drained!.timeline.map((e) => e.step)).not.toContain('power-off');
      const servers = await serversById(env.ctx);
      for (const id of ids) expect([servers.get(id)?.status, servers.get(id)?.host !== 'cmp1'], id).toEqual(['ACTIVE', true]);
      const live = await env.ctx.nova.migrations('cmp1', 'live-migration');
      for (const id of ids) expect(live.filter((m) => m.instance_uuid === id && m.status === 'completed'), id).toHaveLength(1);
      // No new instances land on it while drained.
      expect((await env.ctx.nova.services()).find((s) => s.host === 'cmp1')?.status).toBe('disabled');
    } finally {
      configureControllers(env.lab, { fencing: 'ipmi' });
      // The fake driver keeps live-migrated guests in the source's memory (a real hypervisor
      // frees them); a restart empties it, so later tests can place instances here again.
      await env.ctx.nova.restartCompute(1);
    }
  });
});
