/**
 * Room before evacuating, against the real Nova and Placement (issue 17 items 1 and 3): with only
 * a small host left, the highest priorities that fit are evacuated and the rest held, with what
 * is missing, in the incident, the CLI and one email; a host enabled again gets the held ones
 * evacuated by nova-ha itself. A Placement that cannot be read changes nothing but the record.
 */
import { describe, expect, it } from 'vitest';
import { scenarioLab } from './lab-context.js';
import { bootOn, cliOnController, configureControllers, currentIncident, forgetHost, hang, mailSince, serversById, until } from '../../lab/scenario.js';

/** The retry's backoff short enough that the evaluation (every 10 s in the lab) is what paces it. */
const env = scenarioLab({ fencing: 'ipmi', overrides: { capacity: { retry_backoff: '1s' } } });
const EVALUATE_INTERVAL_MS = 10_000;

/** cmp3 with 4 vCPU (the fake driver reports 1000): room for four lab.tiny instances. */
const SMALL = { reserved_host_cpus: '996', cpu_allocation_ratio: '1.0' };

async function evacuationsOf(id: string, host: string): Promise<number> {
  return (await env.ctx.nova.migrations(host, 'evacuation')).filter((m) => m.instance_uuid === id).length;
}

describe('capacity', () => {
  it('only a small host left: the highest priorities that fit are evacuated, the rest held with what is missing and one email; a host enabled again evacuates them by itself', async () => {
    const since = Date.now();
    env.touch('cmp1', 'cmp3');
    await env.ctx.nova.setComputeOptions(3, SMALL);
    // Its restart may have opened an incident: a busy host is no room.
    await forgetHost(env.ctx, 'cmp3');
    try {
      const ids = await bootOn(env.ctx, 'cmp1', 6, 'cap');
      // Priorities 6 (first booted) down to 1: the last two are the ones to hold.
      for (const [i, id] of ids.entries()) await env.ctx.nova.setMetadata(id, 'nova_ha_priority', String(ids.length - i));
      const first = ids.slice(0, 4);
      const last = ids.slice(4);
      await env.ctx.nova.disable('cmp2', 'test: only a small host left');
      await env.ctx.nova.disable('cmp4', 'test: only a small host left');
      await hang(env.ctx, 'cmp1');

      const fenced = (await until('cmp1 fenced', 240_000, () => currentIncident(env.ctx, 'cmp1'), (i) => i?.phase === 'fenced'))!;
      const estimate = fenced.timeline.find((e) => e.step === 'capacity')?.detail;
      expect(fenced.held?.map((h) => h.id).sort(), `the capacity step's estimate: ${estimate}`).toEqual([...last].sort());
      for (const held of fenced.held!) expect(held.reason).toMatch(/^needs 1 vCPU more than the closest host, cmp3, has free \(0 vCPU, /);
      expect(fenced.timeline.find((e) => e.step === 'capacity')).toMatchObject({ outcome: 'done', detail: expect.stringMatching(/^room for 4 of 6 instances; 2 held: needs 2 vCPU more \(1 usable host with 4 vCPU, /) });
      let servers = await serversById(env.ctx);
      for (const id of first) expect([servers.get(id)?.status, servers.get(id)?.host], id).toEqual(['ACTIVE', 'cmp3']);
      for (const id of last) expect([servers.get(id)?.status, servers.get(id)?.host], id).toEqual(['ACTIVE', 'cmp1']);
      // Held, never called for: Nova has no migration of them.
      for (const id of last) expect(await evacuationsOf(id, 'cmp1'), id).toBe(0);

      const shown = await cliOnController(env.ctx, ['incident', fenced.id]);
      expect(shown.stdout).toMatch(/held +cmp1 +- +needs 1 vCPU more than the closest host, cmp3/);
      expect(shown.stdout).toContain('2 instances held for room; nova-ha evacuates them by itself when room appears; once the cause is fixed, evacuate again with: nova-ha evacuate cmp1');
      const heldMail = await until('the held email', 30_000, () => mailSince(env.ctx, since, 'cmp1').filter((m) => /no room for every instance/i.test(m.subject)), (m) => m.length > 0);
      expect(heldMail).toHaveLength(1);
      expect(heldMail[0]!.text.replace(/\s+/g, ' ')).toContain('To evacuate them yourself once there is room');
      // Nova's answer for the four evacuated is its own email.
      expect(mailSince(env.ctx, since, 'cmp1').filter((m) => /fenced/i.test(m.subject) && !/no room/i.test(m.subject)).length).toBeGreaterThanOrEqual(1);

      const enabledAt = Date.now();
      await env.ctx.nova.enable('cmp2');
      const started = await until('the retry started', 2 * EVALUATE_INTERVAL_MS + 5_000, () => currentIncident(env.ctx, 'cmp1'), (i) => i?.timeline.some((e) => e.step === 'retry' && e.outcome === 'started') === true);
      const start = started!.timeline.find((e) => e.step === 'retry' && e.outcome === 'started')!;
      env.lab.note(`retry started ${((start.at - enabledAt) / 1000).toFixed(1)} s after cmp2 was enabled`);
      expect(start.at - enabledAt).toBeLessThanOrEqual(2 * EVALUATE_INTERVAL_MS);
      expect(start.detail).toMatch(/^attempt 1 of 5: room may have appeared: 2 usable compute hosts now, 1 before \(cmp2 usable again\)/);
      const retried = (await until('the retry done', 180_000, () => currentIncident(env.ctx, 'cmp1'), (i) => i?.timeline.some((e) => e.step === 'retry' && e.outcome !== 'started') === true))!;
      expect(retried.timeline.findLast((e) => e.step === 'retry')).toMatchObject({ outcome: 'done', detail: 'attempt 1: 2 more evacuated, 0 still left behind' });
      expect(retried.held).toBeUndefined();
      expect(retried.phase).toBe('fenced');
      servers = await serversById(env.ctx);
      for (const id of last) expect([servers.get(id)?.status, servers.get(id)?.host], id).toEqual(['ACTIVE', 'cmp2']);
      // Each instance evacuated once, the four of the first run not called again.
      for (const id of ids) expect(await evacuationsOf(id, 'cmp1'), id).toBe(1);
      const retryMail = await until('the retry emails', 30_000, () => mailSince(env.ctx, enabledAt, 'cmp1'), (m) => m.some((x) => /retry 1 when room appeared/i.test(x.subject)));
      expect(retryMail.filter((m) => /room may have appeared/i.test(m.subject))).toHaveLength(1);
      expect(retryMail.filter((m) => /retry 1 when room appeared/i.test(m.subject))).toHaveLength(1);
    } finally {
      await env.ctx.nova.enable('cmp2');
      await env.ctx.nova.enable('cmp4');
      await env.ctx.nova.setComputeOptions(3, {});
    }
  });

  it('Placement cannot be read: every instance evacuated as before, and the incident and the email say the room was not estimated', async () => {
    const since = Date.now();
    // A closed port on the controllers' own loopback: Placement refuses at once.
    configureControllers(env.lab, { fencing: 'ipmi', overrides: { capacity: { retry_backoff: '1s', placement_endpoint: 'http://127.0.0.1:9' } } });
    try {
      const ids = await bootOn(env.ctx, 'cmp2', 3, 'cap-unknown');
      env.touch('cmp2');
      await hang(env.ctx, 'cmp2');
      const fenced = (await until('cmp2 fenced', 240_000, () => currentIncident(env.ctx, 'cmp2'), (i) => i?.phase === 'fenced'))!;
      const servers = await serversById(env.ctx);
      for (const id of ids) expect([servers.get(id)?.status, servers.get(id)?.host !== 'cmp2'], id).toEqual(['ACTIVE', true]);
      expect(fenced.held).toBeUndefined();
      expect(fenced.timeline.find((e) => e.step === 'capacity')).toMatchObject({ outcome: 'skipped', detail: expect.stringMatching(/^the room was not estimated \(Placement could not be read: .*ECONNREFUSED.*\); every instance is evacuated$/) });
      const mail = await until('the fenced email', 30_000, () => mailSince(env.ctx, since, 'cmp2'), (m) => m.some((x) => x.text.replace(/\s+/g, ' ').includes('The room was not estimated (Placement could not be read')));
      expect(mail.filter((m) => /no room/i.test(m.subject))).toEqual([]);
    } finally {
      configureControllers(env.lab, { fencing: 'ipmi', overrides: { capacity: { retry_backoff: '1s' } } });
    }
  });
});
