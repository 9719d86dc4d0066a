/**
 * Spare hosts (issue 17 item 2) against the real Nova: cmp4 is configured as a spare and kept
 * disabled; cmp1 fails while cmp2 and cmp3 are disabled too, so its instances fit nowhere else.
 * nova-ha lends cmp4 (claim in KV, enabled in Nova), evacuates onto it, and gives it back only
 * once it is empty: unfence of cmp1 marks it for return, `nova-ha spares return cmp4` disables it
 * again after the operator moved the instances away. Before any failure, nova-ha doctor counts
 * the free spare as the room a failure would borrow.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { KEYS, type SpareClaim } from '../../lib/state/records.js';
import { bootOn, cliOnController, currentIncident, hang, serversById, stepsOf, until } from '../../lab/scenario.js';
import { scenarioLab } from './lab-context.js';

const SPARE = 'cmp4';
const env = scenarioLab({ fencing: 'ipmi', overrides: { capacity: { spare_hosts: SPARE } } });

const claimKey = (): string => env.ctx.runtime.kv.key(KEYS.spare(SPARE));
const claim = async (): Promise<SpareClaim | undefined> => (await env.ctx.runtime.kv.read<SpareClaim>(claimKey()))?.value;
const service = async (host: string) => (await env.ctx.nova.services()).find((s) => s.host === host)!;

afterAll(async () => {
  // Every compute enabled and no claim left, whatever the test reached (cmp1 is reset as a touched host).
  for (const host of ['cmp2', 'cmp3', SPARE]) if ((await service(host)).status === 'disabled') await env.ctx.nova.enable(host);
  await env.ctx.runtime.kv.delete(claimKey());
});

describe('spare hosts', () => {
  it('nova-ha doctor counts the free spare as room: n-plus-one OK with cmp4 lent while cmp2 and cmp3 are disabled', async () => {
    const ids = await bootOn(env.ctx, 'cmp1', 2, 'spare-doctor');
    try {
      await env.ctx.nova.disable(SPARE, 'spare host');
      await env.ctx.nova.disable('cmp2', 'test: no room');
      await env.ctx.nova.disable('cmp3', 'test: no room');
      const result = await cliOnController(env.ctx, ['doctor']);
      env.lab.note(`nova-ha doctor with only cmp1 enabled and the spare cmp4 free:\n${result.stdout}`);
      // cmp1 is named as the most loaded host, or among the others when an earlier test left more elsewhere.
      expect(result.stdout).toMatch(/^n-plus-one\s+OK\s+.*\bcmp1 .*with 1 spare host \(cmp4\) lent/m);
      // The doctor only counts the spare: nothing is claimed, nothing enabled.
      expect(await claim()).toBeUndefined();
      expect((await service(SPARE)).status).toBe('disabled');
    } finally {
      await env.ctx.nova.deleteServers(ids);
      for (const host of ['cmp2', 'cmp3', SPARE]) if ((await service(host)).status === 'disabled') await env.ctx.nova.enable(host);
    }
  });

  it('a configured spare is enabled, used, and given back by unfence', async () => {
    const ids = await bootOn(env.ctx, 'cmp1', 2, 'spare');
    env.touch('cmp1');
    // bootOn enables every other compute again after booting: the spare and the others are disabled only now.
    await env.ctx.nova.disable(SPARE, 'spare host');
    await env.ctx.nova.disable('cmp2', 'test: no room');
    await env.ctx.nova.disable('cmp3', 'test: no room');
    expect((await service(SPARE)).status).toBe('disabled');

    await hang(env.ctx, 'cmp1');
    const fenced = await until('fenced', 240_000, () => currentIncident(env.ctx, 'cmp1'), (i) => i?.phase === 'fenced' || (i?.phase === 'held' && i.hold?.needsOperator === true));
    expect(fenced!.phase).toBe('fenced');
    const lent = fenced!.timeline.find((e) => e.step === 'spare-lent' && e.outcome === 'done');
    expect(lent?.detail).toMatch(/^cmp4: enabled in Nova for the instances of cmp1/);
    expect(stepsOf(fenced!).indexOf('spare-lent:done')).toBeLessThan(stepsOf(fenced!).indexOf('evacuate:done'));
    expect(await claim()).toMatchObject({ spare: SPARE, incident: fenced!.id, host: 'cmp1', enabledAt: expect.any(Number) });
    expect((await service(SPARE)).status).toBe('enabled');
    const servers = await serversById(env.ctx);
    for (const id of ids) expect([servers.get(id)?.status, servers.get(id)?.host], id).toEqual(['ACTIVE', SPARE]);
    // The others were never enabled by nova-ha: a spare is the only room it adds.
    expect([(await service('cmp2')).status, (await service('cmp3')).status]).toEqual(['disabled', 'disabled']);

    const listed = await cliOnController(env.ctx, ['spares']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`cmp4 +enabled, up +2 +lent: incident ${fenced!.id} \\(cmp1\\)`));

    // The operator unfences cmp1: the spare still runs its instances, so it is only marked for return.
    await env.lab.powerOn('cmp1');
    await env.lab.waitForMemberEverywhere('cmp1', 'alive', 120_000);
    // A fenced host on again is news: a worker records it. unfence waits for no worker, as an operator would.
    await until('cmp1 seen on while fenced', 60_000, () => currentIncident(env.ctx, 'cmp1'), (i) => i?.seenOnWhileFenced !== undefined);
    await until('no worker on cmp1', 60_000, () => env.ctx.runtime.clusters.mgmt.kvGet(env.ctx.runtime.kv.key(KEYS.lock('cmp1'))), (lock) => lock?.Session === undefined);
    const unfenced = await cliOnController(env.ctx, ['unfence', 'cmp1', '--timeout', '240']);
    expect(unfenced.code, unfenced.stderr).toBe(0);
    expect(unfenced.stderr).toContain('cmp4 still runs 2 instances');
    expect(await claim()).toMatchObject({ incident: fenced!.id, returnRequested: { at: expect.any(Number) } });
    expect((await service(SPARE)).status).toBe('enabled');

    const refused = await cliOnController(env.ctx, ['spares', 'return', SPARE]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/cmp4 still runs 2 instances .*nothing was changed: migrate them away/);
    expect((await service(SPARE)).status).toBe('enabled');

    // The operator moves the instances away (here: deletes them), then gives the spare back.
    await env.ctx.nova.deleteServers(ids);
    await until('cmp4 empty', 120_000, async () => (await env.ctx.nova.servers(SPARE)).length, (n) => n === 0, 2000);
    const returned = await cliOnController(env.ctx, ['spares', 'return', SPARE]);
    expect(returned.code, returned.stderr).toBe(0);
    expect(returned.stdout).toContain(`cmp4 given back: disabled in Nova, claim of incident ${fenced!.id} deleted`);
    const back = await service(SPARE);
    expect([back.status, back.disabled_reason]).toEqual(['disabled', `nova-ha: spare host, given back after incident ${fenced!.id}`]);
    expect(await claim()).toBeUndefined();
    const after = await cliOnController(env.ctx, ['spares']);
    expect(after.stdout).toMatch(/cmp4 +disabled, up +0 +free/);
  });
});
