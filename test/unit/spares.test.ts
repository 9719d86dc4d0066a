/**
 * Spare hosts (issue 17 item 2): which spares a shortfall takes (decision/spares.ts), lending
 * them with one claim per spare (recovery/spares.ts), and giving them back only once empty
 * (operator/spares.ts, and unfence of the failed host).
 */
import { describe, expect, it } from 'vitest';
import type { Amounts } from '../../lib/decision/capacity.js';
import { chooseSpares, roomHosts, totalNeeds, unlendable, type SpareSeen } from '../../lib/decision/spares.js';
import { asOperator } from '../../lib/operator/as-operator.js';
import { giveBackSparesOf, listSpares, returnSpare, SpareError, spareDisabledReason } from '../../lib/operator/spares.js';
import { unfence } from '../../lib/operator/unfence.js';
import { capacityStep } from '../../lib/recovery/controller-effects.js';
import { fenceAndEvacuate } from '../../lib/recovery/fence.js';
import type { Incident } from '../../lib/state/incident.js';
import { lendSpares, type LendDeps } from '../../lib/recovery/spares.js';
import { KEYS, type SpareClaim } from '../../lib/state/records.js';
import { SpareClaims, sparesLentTo } from '../../lib/state/spares.js';
import { type FakeCloud, cloudsDisposedAfterEach } from '../support/fake-cloud.js';
import { flavor } from '../support/fake-nova.js';

const cloudOf = cloudsDisposedAfterEach();
const amounts = (VCPU: number, MEMORY_MB = 0, DISK_GB = 0): Amounts => ({ VCPU, MEMORY_MB, DISK_GB });
const up = { state: 'up', forcedDown: false } as const;
const seen = (spare: string, over: Partial<SpareSeen> = {}): SpareSeen => ({ spare, service: up, claim: undefined, free: amounts(4, 8192, 80), ...over });

describe('chooseSpares: the fewest spares, in the configured order, that cover the shortfall', () => {
  it.each([
    { name: '2 vCPU short, spares of 4: one spare', shortfall: amounts(2), spares: [seen('cmp8'), seen('cmp9')], lend: ['cmp8'], left: amounts(0) },
    { name: '6 vCPU short, spares of 4: two spares', shortfall: amounts(6), spares: [seen('cmp8'), seen('cmp9')], lend: ['cmp8', 'cmp9'], left: amounts(0) },
    { name: 'memory short only: the spare with memory', shortfall: amounts(0, 4096), spares: [seen('cmp8', { free: amounts(4, 0, 80) }), seen('cmp9')], lend: ['cmp9'], left: amounts(0) },
    { name: 'more short than all spares have: all of them, the rest left', shortfall: amounts(10, 1000), spares: [seen('cmp8'), seen('cmp9')], lend: ['cmp8', 'cmp9'], left: amounts(2) },
    { name: 'nothing short: none', shortfall: amounts(0), spares: [seen('cmp8')], lend: [], left: amounts(0) },
  ])('$name', ({ shortfall, spares, lend, left }) => {
    const choice = chooseSpares(shortfall, spares, 'cmp1', 'inc1');
    expect(choice.lend.map((l) => l.spare)).toEqual(lend);
    expect(choice.left).toEqual(left);
  });

  it('a spare that cannot be lent is skipped with the reason, and the next one is taken', () => {
    const choice = chooseSpares(amounts(2), [
      seen('cmp5', { service: { state: 'down', forcedDown: false } }),
      seen('cmp6', { service: undefined }),
      seen('cmp7', { claim: { incident: 'inc2', host: 'cmp2' } }),
      seen('cmp8', { free: amounts(0, 8192, 80) }),
      seen('cmp9'),
    ], 'cmp1', 'inc1');
    expect(choice.lend.map((l) => l.spare)).toEqual(['cmp9']);
    expect(choice.skipped).toEqual([
      { spare: 'cmp5', reason: 'its nova-compute service is down in Nova' },
      { spare: 'cmp6', reason: 'Nova lists no nova-compute service on cmp6; check the name in [capacity] spare_hosts against "openstack compute service list"' },
      { spare: 'cmp7', reason: 'lent to incident inc2 of cmp2' },
      { spare: 'cmp8', reason: 'no free room where room is missing (0 vCPU free)' },
    ]);
  });

  it.each([
    { seen: seen('cmp1'), reason: 'it is the failed host itself' },
    { seen: seen('cmp9', { claim: { incident: 'inc1', host: 'cmp1' } }), reason: 'already lent to this incident' },
    { seen: seen('cmp9', { service: { state: 'up', forcedDown: true } }), reason: 'its nova-compute service is forced down in Nova' },
    { seen: seen('cmp9', { free: new Error('Placement GET /resource_providers: HTTP 503') }), reason: 'its free room is unknown (Placement GET /resource_providers: HTTP 503)' },
    { seen: seen('cmp9'), reason: undefined },
  ])('unlendable: $reason', ({ seen: s, reason }) => {
    expect(unlendable(s, 'cmp1', 'inc1')).toBe(reason);
  });

  it('a spare in another availability zone than the failed host cannot be lent', () => {
    expect(unlendable(seen('cmp8', { otherZone: { spare: 'az2', failed: 'az1' } }), 'cmp1', 'inc1')).toMatch(/^it is in availability zone az2, cmp1 in az1: its instances cannot land there/);
  });

  it('what the held instances need together', () => {
    expect(totalNeeds([amounts(1, 2048, 20), amounts(2, 4096, 0)])).toEqual(amounts(3, 6144, 20));
    expect(totalNeeds([])).toEqual(amounts(0));
  });

  it('spares count as room only for the incident they are lent to', () => {
    expect(roomHosts(['cmp2', 'cmp3', 'cmp8', 'cmp9'], ['cmp8', 'cmp9'], ['cmp9'])).toEqual(['cmp2', 'cmp3', 'cmp9']);
    expect(roomHosts(['cmp2', 'cmp8'], ['cmp8'], [])).toEqual(['cmp2']);
  });
});

/** A cloud whose cmp3 and cmp4 are spares, disabled in Nova, each with 4 vCPU, 8 GiB and 80 GB free. */
function withSpares(c: FakeCloud): LendDeps {
  for (const spare of ['cmp3', 'cmp4']) c.nova.service(spare, { status: 'disabled', disabledReason: 'spare' });
  return { runtime: c.runtime, nova: c.nova, freeRoom: async () => amounts(4, 8192, 80) };
}

const spareCloud = (extra: Record<string, string> = {}): FakeCloud => cloudOf({ config: { capacity: { spare_hosts: 'cmp3, cmp4', ...extra } } });

const claimOf = (c: FakeCloud, spare: string): SpareClaim | undefined => c.consul.mgmt.peek<SpareClaim>(c.key(KEYS.spare(spare)));

describe('lendSpares', () => {
  it('a shortfall of 2 vCPU with spares of 4: one spare claimed, enabled and recorded in the incident', async () => {
    const c = spareCloud();
    const deps = withSpares(c);
    const outcome = await asOperator(c.runtime, 'cmp1', 'fence', (run) => lendSpares(deps, run, amounts(2)));
    expect(outcome.lent.map((l) => l.spare)).toEqual(['cmp3']);
    expect(outcome.left).toEqual(amounts(0));
    expect(c.nova.services.get('cmp3')?.status).toBe('enabled');
    expect(c.nova.services.get('cmp4')?.status).toBe('disabled');
    const incident = c.incident('cmp1')!;
    expect(claimOf(c, 'cmp3')).toMatchObject({ spare: 'cmp3', incident: incident.id, host: 'cmp1', by: 'ctl1', aggregates: [], enabledAt: expect.any(Number) });
    expect(claimOf(c, 'cmp4')).toBeUndefined();
    expect(incident.timeline.filter((e) => e.step === 'spare-lent').map((e) => [e.outcome, e.detail])).toEqual([
      ['done', 'cmp3: enabled in Nova for the instances of cmp1 (free 4 vCPU, 8192 MB, 80 GB); give it back with: nova-ha spares return cmp3'],
    ]);
    expect(sparesLentTo(await new SpareClaims(c.runtime.kv).all(), incident.id)).toEqual(['cmp3']);
  });

  it('a spare that is down is skipped with the reason, and the next one lent', async () => {
    const c = spareCloud();
    const deps = withSpares(c);
    c.nova.service('cmp3', { status: 'disabled', state: 'down' });
    const outcome = await asOperator(c.runtime, 'cmp1', 'fence', (run) => lendSpares(deps, run, amounts(2)));
    expect(outcome.lent.map((l) => l.spare)).toEqual(['cmp4']);
    expect(outcome.skipped).toEqual([{ spare: 'cmp3', reason: 'its nova-compute service is down in Nova' }]);
    expect(c.incident('cmp1')!.timeline.filter((e) => e.step === 'spare-lent').map((e) => [e.outcome, e.detail?.split(' (')[0]])).toEqual([
      ['skipped', 'cmp3: its nova-compute service is down in Nova'],
      ['done', 'cmp4: enabled in Nova for the instances of cmp1'],
    ]);
    expect(c.nova.calls('enableService')).toEqual([['svc-cmp4']]);
    expect(claimOf(c, 'cmp3')).toBeUndefined();
  });

  it('a spare in another availability zone is skipped, naming both zones, and one in the failed host\'s zone lent', async () => {
    const c = spareCloud();
    c.nova.aggregate('agg1', 'rack-a', ['cmp1', 'cmp4'], { availability_zone: 'az1' });
    c.nova.aggregate('agg2', 'rack-b', ['cmp3'], { availability_zone: 'az2' });
    const outcome = await asOperator(c.runtime, 'cmp1', 'fence', (run) => lendSpares(withSpares(c), run, amounts(2)));
    expect(outcome.lent.map((l) => l.spare)).toEqual(['cmp4']);
    expect(outcome.skipped).toEqual([{ spare: 'cmp3', reason: "it is in availability zone az2, cmp1 in az1: its instances cannot land there (with [capacity] spare_aggregates = true a lent spare joins the failed host's aggregates, and so its zone)" }]);
    expect(claimOf(c, 'cmp3')).toBeUndefined();
  });

  it.each([
    ['with spare_aggregates (it joins the failed host\'s zone)', { spare_aggregates: 'true' }, false],
    ['when the aggregates cannot be read (the zone unchecked)', {}, true],
  ])('a spare in another zone is lent %s', async (_case, extra, failAggregates) => {
    const c = spareCloud(extra);
    c.nova.aggregate('agg1', 'rack-a', ['cmp1'], { availability_zone: 'az1' });
    c.nova.aggregate('agg2', 'rack-b', ['cmp3', 'cmp4'], { availability_zone: 'az2' });
    if (failAggregates) c.nova.failNext('listAggregates');
    const outcome = await asOperator(c.runtime, 'cmp1', 'fence', (run) => lendSpares(withSpares(c), run, amounts(2)));
    expect(outcome.lent.map((l) => l.spare)).toEqual(['cmp3']);
  });

  it('two incidents racing for the one spare: exactly one gets it, the other is told who has it', async () => {
    const c = cloudOf({ config: { capacity: { spare_hosts: 'cmp4' } } });
    c.nova.service('cmp4', { status: 'disabled' });
    const deps: LendDeps = { runtime: c.runtime, nova: c.nova, freeRoom: async () => amounts(4, 8192, 80) };
    const [one, two] = await Promise.all([
      asOperator(c.runtime, 'cmp1', 'fence', (run) => lendSpares(deps, run, amounts(2))),
      asOperator(c.runtime, 'cmp2', 'fence', (run) => lendSpares(deps, run, amounts(2))),
    ]);
    const winners = [one, two].filter((o) => o.lent.length === 1);
    expect(winners).toHaveLength(1);
    const winner = one.lent.length === 1 ? 'cmp1' : 'cmp2';
    const loser = winner === 'cmp1' ? 'cmp2' : 'cmp1';
    const claim = claimOf(c, 'cmp4')!;
    expect(claim).toMatchObject({ host: winner, incident: c.incident(winner)!.id });
    const lost = winner === 'cmp1' ? two : one;
    expect(lost.lent).toEqual([]);
    expect(lost.left).toEqual(amounts(2));
    expect(lost.skipped).toEqual([{ spare: 'cmp4', reason: expect.stringMatching(new RegExp(`^lent to incident ${claim.incident} of ${winner}`)) }]);
    expect(c.nova.calls('enableService')).toEqual([['svc-cmp4']]);
    expect(c.incident(loser)!.timeline.some((e) => e.step === 'spare-lent' && e.outcome === 'skipped')).toBe(true);
  });

  it('with spare_aggregates, the spare joins the aggregates of the failed host it was not in, recorded in its claim before they are joined', async () => {
    const c = spareCloud({ spare_aggregates: 'true' });
    const deps = withSpares(c);
    c.nova.aggregate('1', 'ssd', ['cmp1', 'cmp2']);
    c.nova.aggregate('2', 'gpu', ['cmp2']);
    c.nova.aggregate('3', 'rack1', ['cmp1', 'cmp3']);
    const order: string[] = [];
    c.nova.before('addHostToAggregate', () => order.push(`add, claim lists ${claimOf(c, 'cmp3')?.aggregates.map((a) => a.name).join(' ')}`));
    c.nova.before('enableService', () => order.push('enable'));
    await asOperator(c.runtime, 'cmp1', 'fence', (run) => lendSpares(deps, run, amounts(2)));
    expect(order).toEqual(['add, claim lists ssd', 'enable']);
    expect(c.nova.calls('addHostToAggregate')).toEqual([['1', 'cmp3']]);
    expect(c.nova.aggregates.get('1')?.hosts).toEqual(['cmp1', 'cmp2', 'cmp3']);
    expect(claimOf(c, 'cmp3')?.aggregates).toEqual([{ id: '1', name: 'ssd' }]);
    expect(c.incident('cmp1')!.timeline.find((e) => e.step === 'spare-lent')?.detail).toContain('; added to aggregates ssd;');
  });

  it('a spare Nova refused to enable is released (out of its aggregates, claim deleted) and the next one lent instead', async () => {
    const c = spareCloud({ spare_aggregates: 'true' });
    const deps = withSpares(c);
    c.nova.aggregate('1', 'ssd', ['cmp1']);
    c.nova.failNext('enableService');
    const outcome = await asOperator(c.runtime, 'cmp1', 'fence', (run) => lendSpares(deps, run, amounts(2)));
    expect(outcome.lent.map((l) => l.spare)).toEqual(['cmp4']);
    expect(outcome.skipped).toEqual([{ spare: 'cmp3', reason: 'Service Unavailable; its claim was released, the spare is free again' }]);
    expect(claimOf(c, 'cmp3')).toBeUndefined();
    expect(c.nova.aggregates.get('1')?.hosts).toEqual(['cmp1', 'cmp4']);
    expect(c.incident('cmp1')!.timeline.find((e) => e.step === 'spare-lent' && e.outcome === 'failed')?.detail).toBe('cmp3: Service Unavailable; its claim was released, the spare is free again');
  });

  it('a lending a dead worker left unfinished (claimed, not enabled) is finished by the next call of the same incident, and counted', async () => {
    const c = spareCloud();
    const deps = withSpares(c);
    const incidentId = await asOperator(c.runtime, 'cmp1', 'fence', async (run) => (await run.change((i) => i)).id);
    await new SpareClaims(c.runtime.kv).claim({ spare: 'cmp4', incident: incidentId, host: 'cmp1', at: 1, by: 'ctl2', aggregates: [] });
    const outcome = await asOperator(c.runtime, 'cmp1', 'fence', (run) => lendSpares(deps, run, amounts(2)));
    expect(outcome.lent.map((l) => l.spare)).toEqual(['cmp4']);
    expect(c.nova.calls('enableService')).toEqual([['svc-cmp4']]);
    expect(claimOf(c, 'cmp4')).toMatchObject({ by: 'ctl2', enabledAt: expect.any(Number) });
    expect(claimOf(c, 'cmp3')).toBeUndefined();
  });

  it('Nova\'s service list unread: nothing lent, the incident says why', async () => {
    const c = spareCloud();
    const deps = withSpares(c);
    c.nova.failNext('listComputeServices');
    const outcome = await asOperator(c.runtime, 'cmp1', 'fence', (run) => lendSpares(deps, run, amounts(2)));
    expect(outcome).toEqual({ lent: [], skipped: [], left: amounts(2) });
    expect(c.nova.calls('enableService')).toEqual([]);
    expect(c.incident('cmp1')!.timeline.find((e) => e.step === 'spare-lent')).toMatchObject({ outcome: 'failed', detail: 'no spare lent: which spares are free is unknown (Service Unavailable); the evacuation goes on without them' });
  });
});

describe('giving spares back', () => {
  async function lent(c: FakeCloud): Promise<string> {
    const deps = withSpares(c);
    return asOperator(c.runtime, 'cmp1', 'fence', async (run) => {
      await lendSpares(deps, run, amounts(2));
      return (await run.change((i) => ({ ...i, phase: 'fenced' }))).id;
    });
  }

  it('only once empty: with instances on it nothing changes and the operator is told how many are left', async () => {
    const c = spareCloud({ spare_aggregates: 'true' });
    c.nova.aggregate('1', 'ssd', ['cmp1']);
    const incidentId = await lent(c);
    c.nova.server('vm1', 'cmp3');
    c.nova.server('vm2', 'cmp3', { name: 'db' });
    const refused = await returnSpare(c.runtime, c.nova, 'cmp3', 'ctl1 (alice)');
    expect(refused).toEqual({ returned: false, instancesLeft: 2, detail: 'cmp3 still runs 2 instances (vm1, db); nothing was changed: migrate them away (openstack server migrate --live-migration SERVER), then run: nova-ha spares return cmp3' });
    expect(c.nova.services.get('cmp3')?.status).toBe('enabled');
    expect(c.nova.aggregates.get('1')?.hosts).toContain('cmp3');
    expect(claimOf(c, 'cmp3')).toBeDefined();

    c.nova.servers.clear();
    const returned = await returnSpare(c.runtime, c.nova, 'cmp3', 'ctl1 (alice)');
    expect(returned).toEqual({ returned: true, detail: `cmp3 given back: disabled in Nova, left aggregates ssd, claim of incident ${incidentId} deleted` });
    expect(c.nova.services.get('cmp3')).toMatchObject({ status: 'disabled', disabledReason: spareDisabledReason({ incident: incidentId }) });
    expect(c.nova.aggregates.get('1')?.hosts).toEqual(['cmp1']);
    expect(claimOf(c, 'cmp3')).toBeUndefined();
    expect(c.incident('cmp1')!.timeline.at(-1)).toMatchObject({ step: 'spare-returned', outcome: 'done', by: 'ctl1 (alice)' });
  });

  it('a spare nobody holds, or one whose incident is still evacuating, is refused with the reason', async () => {
    const c = spareCloud();
    withSpares(c);
    await expect(returnSpare(c.runtime, c.nova, 'cmp4', 'ctl1')).rejects.toThrow(new SpareError('cmp4 is not lent to any incident (no claim at nova-ha/spares/cmp4); see: nova-ha spares'));
    const deps = withSpares(c);
    const incidentId = await asOperator(c.runtime, 'cmp1', 'fence', async (run) => {
      await lendSpares(deps, run, amounts(2));
      return (await run.change((i) => ({ ...i, phase: 'evacuating' }))).id;
    });
    await expect(returnSpare(c.runtime, c.nova, 'cmp3', 'ctl1')).rejects.toThrow(`cmp3 is lent to incident ${incidentId} of cmp1, which is still in phase evacuating`);
    expect(c.nova.services.get('cmp3')?.status).toBe('enabled');
  });

  it('unfence of the failed host gives back the empty spares and marks the others for return', async () => {
    const c = cloudOf({ config: { capacity: { spare_hosts: 'cmp3, cmp4' } } });
    const deps = withSpares(c);
    c.nova.server('vm1', 'cmp1');
    c.nova.target = 'cmp3';
    const incident = await asOperator(c.runtime, 'cmp1', 'fence', async (run) => {
      await lendSpares(deps, run, amounts(6));
      return fenceAndEvacuate({ runtime: c.runtime, nova: c.nova, powerOff: (h) => c.bmc.powerOffVerified(h) }, run);
    });
    expect(incident.phase).toBe('fenced');
    expect(c.nova.servers.get('vm1')?.host).toBe('cmp3');
    for (const m of c.nova.migrations) Object.assign(m, { status: 'completed' });
    c.novaView('cmp1', { id: 'svc-cmp1', state: 'down', since: 0, status: 'disabled', forcedDown: true });
    c.bmc.power.set('cmp1', 'on');
    const said: string[] = [];
    const closed = (await unfence(c.runtime, c.effects(), c.nova, 'cmp1', { timeoutMs: 5000, say: (l) => said.push(l), progress: () => undefined }))!;
    expect(said).toContain(`cmp4 given back: disabled in Nova, claim of incident ${incident.id} deleted`);
    expect(said).toContain('cmp3 still runs 1 instance (vm1); nothing was changed: migrate them away (openstack server migrate --live-migration SERVER), then run: nova-ha spares return cmp3');
    expect(claimOf(c, 'cmp4')).toBeUndefined();
    expect(c.nova.services.get('cmp4')?.status).toBe('disabled');
    expect(claimOf(c, 'cmp3')).toMatchObject({ incident: incident.id, returnRequested: { at: expect.any(Number), by: 'ctl1 (operator)' } });
    expect(c.nova.services.get('cmp3')?.status).toBe('enabled');
    expect(c.notes.at(-1)?.reason).toContain('Spare hosts lent to the incident: ');
    expect(closed.timeline.some((e) => e.step === 'spare-returned' && e.detail?.startsWith('cmp4 given back'))).toBe(true);

    const rows = await listSpares(c.runtime, c.nova);
    expect(rows.map((r) => [r.spare, r.service, r.instances, r.claim?.returnRequested !== undefined])).toEqual([
      ['cmp3', 'enabled, up', 1, true],
      ['cmp4', 'disabled, up', 0, false],
    ]);

    c.nova.servers.clear();
    expect((await returnSpare(c.runtime, c.nova, 'cmp3', 'ctl1 (alice)')).returned).toBe(true);
    expect(claimOf(c, 'cmp3')).toBeUndefined();
  });

  it('giveBackSparesOf touches only the spares of that host\'s incident', async () => {
    const c = spareCloud();
    withSpares(c);
    await new SpareClaims(c.runtime.kv).claim({ spare: 'cmp4', incident: 'cmp2-x', host: 'cmp2', at: 1, by: 'ctl2', aggregates: [], enabledAt: 2 });
    expect(await giveBackSparesOf(c.runtime, c.nova, 'cmp1', 'cmp1-x', 'ctl1')).toEqual([]);
    expect(claimOf(c, 'cmp4')).toMatchObject({ incident: 'cmp2-x' });
    expect(c.nova.calls('disableService')).toEqual([]);
  });
});

describe('spares in the capacity step', () => {
  /**
   * cmp1 fails with six 1-vCPU instances booted from an image, priorities 6 down to 1; cmp2 and
   * the fake's default target are disabled; cmp3 has room for four; cmp4 is the spare (disabled)
   * with room for four.
   */
  function shortOfRoom(config: Record<string, string> = { spare_hosts: 'cmp4' }): FakeCloud {
    const c = cloudOf({ config: { capacity: config } });
    c.nova.scheduling = true;
    c.nova.image('img-cirros', 'cirros');
    for (let p = 1; p <= 6; p++) c.nova.server(`p${p}`, 'cmp1', { metadata: { nova_ha_priority: String(p) }, imageId: 'img-cirros', flavor: flavor(1, 2048, 20) });
    for (const host of ['cmp2', c.nova.target]) c.nova.service(host, { status: 'disabled' });
    c.nova.service('cmp4', { status: 'disabled', disabledReason: 'spare' });
    for (const host of ['cmp2', 'cmp3', 'cmp4']) c.nova.placementApi.provide(host, 4, 8192, 200);
    return c;
  }
  const fence = (c: FakeCloud): Promise<Incident> => asOperator(c.runtime, 'cmp1', 'fence', (run) => fenceAndEvacuate({ runtime: c.runtime, nova: c.nova, powerOff: (h) => c.bmc.powerOffVerified(h), capacity: capacityStep(c.runtime, c.nova)! }, run));

  it('short of room: a spare is lent for what the held instances need, the room read again, and every instance evacuated', async () => {
    const c = shortOfRoom();
    const incident = await fence(c);
    expect(incident.phase).toBe('fenced');
    expect((incident.instances ?? []).map((o) => `${o.id} ${o.outcome} ${o.to}`).sort()).toEqual(['p1 evacuated cmp4', 'p2 evacuated cmp4', 'p3 evacuated cmp3', 'p4 evacuated cmp3', 'p5 evacuated cmp3', 'p6 evacuated cmp3']);
    expect(incident.held).toBeUndefined();
    const steps = incident.timeline.map((e) => `${e.step}:${e.outcome}`);
    expect(steps.indexOf('spare-lent:done')).toBeGreaterThan(steps.indexOf('evacuate:started'));
    expect(steps.indexOf('spare-lent:done')).toBeLessThan(steps.indexOf('capacity:done'));
    expect(incident.timeline.find((e) => e.step === 'capacity')?.detail).toMatch(/^room for all 6 instances/);
    expect(claimOf(c, 'cmp4')).toMatchObject({ incident: incident.id, host: 'cmp1', enabledAt: expect.any(Number) });
    expect(c.notes.map((n) => n.event)).not.toContain('capacity-held');
  });

  it('room enough without spares: none lent, the spare not counted and left disabled', async () => {
    const c = shortOfRoom();
    c.nova.service('cmp2');
    const incident = await fence(c);
    expect((incident.instances ?? []).every((o) => o.outcome === 'evacuated' && o.to !== 'cmp4')).toBe(true);
    expect(incident.timeline.some((e) => e.step === 'spare-lent')).toBe(false);
    expect(c.nova.services.get('cmp4')?.status).toBe('disabled');
  });

  it('a spare lent to another incident is not room for this one, even enabled', async () => {
    const c = shortOfRoom();
    c.nova.service('cmp4');
    await new SpareClaims(c.runtime.kv).claim({ spare: 'cmp4', incident: 'cmp2-x', host: 'cmp2', at: 1, by: 'ctl2', aggregates: [], enabledAt: 2 });
    const incident = await fence(c);
    expect(incident.held?.map((h) => h.id)).toEqual(['p2', 'p1']);
    expect(incident.timeline.find((e) => e.step === 'spare-lent')).toMatchObject({ outcome: 'skipped', detail: 'cmp4: lent to incident cmp2-x of cmp2' });
    expect(c.nova.callCounts().has('p1')).toBe(false);
  });

  it('in a zone, with spare_aggregates: the spare joins the failed host\'s zone aggregate, and the room read afresh counts it', async () => {
    const c = shortOfRoom({ spare_hosts: 'cmp4', spare_aggregates: 'true' });
    c.nova.aggregate('agg1', 'rack-a', ['cmp1', 'cmp3'], { availability_zone: 'az1' });
    const incident = await fence(c);
    expect(incident.held).toBeUndefined();
    expect((incident.instances ?? []).filter((o) => o.to === 'cmp4').map((o) => o.id).sort()).toEqual(['p1', 'p2']);
    expect(incident.timeline.find((e) => e.step === 'capacity')?.detail).toMatch(/^room for all 6 instances \(2 usable hosts in zone az1 with /);
    // One read for the evacuation (HA policy and zone), one to join the aggregates, one after the lending changed them.
    expect(c.nova.calls('listAggregates')).toHaveLength(3);
  });

  it('without spare_hosts nothing is lent: the rest is held as before', async () => {
    const c = shortOfRoom({});
    const incident = await fence(c);
    expect(incident.held?.map((h) => h.id)).toEqual(['p2', 'p1']);
    expect(incident.timeline.some((e) => e.step === 'spare-lent')).toBe(false);
    expect(c.nova.calls('enableService')).toEqual([]);
  });
});
