/**
 * The Consul half end to end, in the lab with real Consul, Nova and BMCs: failures are injected
 * into lab hosts and nova-ha, installed with install.sh, must do what design.md says by itself.
 * Fencing is off here ([fencing] method = none): an incident that would need fencing is held.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../lab/lab.js';
import { testLab } from './lab-context.js';
import { configureControllers, currentIncident, closedIncidents, mailSince, novaHaLab, resetHost, stepsOf, until, untilHealthy, type NovaHaLab } from './support/nova-ha.js';

let lab: Lab;
let ctx: NovaHaLab;
const touched = new Set<string>();

beforeAll(async () => {
  lab = await testLab();
  ctx = novaHaLab(lab);
  configureControllers(lab, { fencing: 'none' });
  for (const host of lab.computes) await untilHealthy(ctx, host, 120_000);
});

afterEach(async () => {
  for (const host of touched) await resetHost(ctx, host);
  touched.clear();
});

afterAll(() => configureControllers(lab, { fencing: 'ipmi' }));

describe('storage network', () => {
  it('a storage link cut on the host is repaired through Consul: incident recovered and an email', async () => {
    const since = Date.now();
    touched.add('cmp1');
    await lab.cutLink('cmp1', 'storage', 'host');
    // The remediation handler on cmp1 runs "ip link set stor0 up" through sudo: the link comes back by itself.
    await until('cmp1 storage link repaired by nova-ha', 60_000, () => lab.linkState('cmp1', 'storage', 'host'), (state) => state === 'up');
    const [closed] = await until('incident closed', 60_000, () => closedIncidents(ctx, 'cmp1'), (list) => list.length > 0);
    expect(closed!.phase).toBe('recovered');
    expect(closed!.cause).toBe('storage-network');
    expect(stepsOf(closed!)).toEqual(expect.arrayContaining(['restart-storage-network:started', 'restart-storage-network:done', 'phase recovered:info']));
    const mails = await until('recovery email', 30_000, () => mailSince(ctx, since, 'cmp1'), (m) => m.some((x) => x.subject.includes('recovered')));
    expect(mails.find((m) => m.subject.includes('recovered'))!.text).toContain('restart-storage-network');
  });

  it('a storage cut the repair cannot fix (at the switch) is held for an operator, with an email', async () => {
    const since = Date.now();
    touched.add('cmp2');
    await lab.cutLink('cmp2', 'storage', 'switch');
    const held = await until('incident held', 90_000, () => currentIncident(ctx, 'cmp2'), (i) => i?.phase === 'held' && i.hold?.needsOperator === true);
    expect(held!.cause).toBe('storage-network');
    expect(held!.hold!.reason).toMatch(/method = none/);
    expect(stepsOf(held!)).toContain('restart-storage-network:done');
    const mails = await until('held email', 30_000, () => mailSince(ctx, since, 'cmp2'), (m) => m.some((x) => x.subject.includes('held for an operator')));
    expect(mails[0]!.to).toEqual(['ops@lab.example']);
  });
});
