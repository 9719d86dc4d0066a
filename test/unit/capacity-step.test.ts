/**
 * The capacity step before the evacuation (recovery/capacity.ts and its use in fence.ts): the
 * usable hosts' room from Nova's services, nova-ha's open incidents and Placement; the highest
 * priorities that fit evacuated, the rest held with what is missing, in the incident and one
 * email; a room that cannot be read evacuates everything as before and says so.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fenceAndEvacuate, type CapacityStep } from '../../lib/recovery/fence.js';
import { admitByRoom, readRoom, type RoomSources } from '../../lib/recovery/capacity.js';
import { openIncident, type Incident } from '../../lib/state/incident.js';
import type { Server } from '../../lib/systems/nova/index.js';
import { FakeCloud } from '../support/fake-cloud.js';
import { flavor } from '../support/fake-nova.js';
import { capacityOf, fenceRunOf, SHORT_HOST, shortOfRoomCloud } from '../support/short-of-room.js';

const HOST = SHORT_HOST;
let cloud: FakeCloud;
afterEach(() => cloud?.dispose());

function shortOfRoom(): FakeCloud {
  cloud = shortOfRoomCloud();
  return cloud;
}

const fence = (c: FakeCloud, capacity: CapacityStep = capacityOf(c)): Promise<Incident> => fenceAndEvacuate({ runtime: c.runtime, nova: c.nova, powerOff: (host) => c.bmc.powerOffVerified(host), capacity }, fenceRunOf(c));
const capacityStep = (i: Incident) => i.timeline.filter((e) => e.step === 'capacity');

describe('the capacity step in the fence workflow', () => {
  it('short of room: the highest priorities that fit are evacuated, the rest held with what is missing, and one email', async () => {
    const c = shortOfRoom();
    const incident = await fence(c);
    expect(incident.phase).toBe('fenced');
    expect((incident.instances ?? []).map((o) => `${o.id} ${o.outcome} ${o.to}`).sort()).toEqual(['p3 evacuated cmp3', 'p4 evacuated cmp3', 'p5 evacuated cmp3', 'p6 evacuated cmp3']);
    expect(incident.held).toEqual([
      { id: 'p2', name: 'p2', reason: 'needs 1 vCPU and 2 GiB more than the closest host, cmp3, has free (0 vCPU, 0 MiB and 120 GB disk)' },
      { id: 'p1', name: 'p1', reason: 'needs 1 vCPU and 2 GiB more than the closest host, cmp3, has free (0 vCPU, 0 MiB and 120 GB disk)' },
    ]);
    // Held instances are never called for: nothing recorded for them, no POST.
    expect([...c.nova.callCounts().keys()].sort()).toEqual(['p3', 'p4', 'p5', 'p6']);
    expect(capacityStep(incident)).toMatchObject([{ outcome: 'done', detail: 'room for 4 of 6 instances; 2 held: needs 2 vCPU and 4 GiB more (1 usable host with 4 vCPU, 8 GiB and 200 GB disk free)' }]);
    expect(incident.room).toEqual({ cmp3: { VCPU: 0, MEMORY_MB: 0, DISK_GB: 120 } });
    const held = c.notes.filter((n) => n.event === 'capacity-held');
    expect(held).toHaveLength(1);
    expect(held[0]!.reason).toMatch(/^The usable compute hosts have no room for every instance of cmp1: room for 4 of 6/);
    expect(held[0]!.reason).toContain('Evacuated now, highest priority first: p6, p5, p4, p3. Held: p2 (needs 1 vCPU and 2 GiB more');
    expect(held[0]!.reason).toMatch(/run: nova-ha evacuate cmp1$/);
    // Nova's answer is its own email, and it names the held ones too.
    const fenced = c.notes.filter((n) => n.event === 'fenced');
    expect(fenced).toHaveLength(1);
    expect(fenced[0]!.action).toBe('fenced; 4 of 6 instances evacuated, 2 held for room');
    expect(fenced[0]!.reason).toContain('held for room: p2 (needs 1 vCPU and 2 GiB more');
  });

  it('room for all: evacuated as before, the step records the estimate, no held email', async () => {
    const c = shortOfRoom();
    c.nova.service('cmp2');
    const incident = await fence(c);
    expect((incident.instances ?? []).every((o) => o.outcome === 'evacuated')).toBe(true);
    expect(incident.held).toBeUndefined();
    expect(capacityStep(incident)[0]!.detail).toBe('room for all 6 instances (2 usable hosts with 8 vCPU, 16 GiB and 400 GB disk free)');
    expect(c.notes.map((n) => n.event)).toEqual(['fenced']);
  });

  it('the room goes by the resolved HA priority: an image\'s 80 is evacuated, an aggregate\'s 10 held', async () => {
    cloud = new FakeCloud();
    const nova = cloud.nova;
    nova.scheduling = true;
    nova.image('img-ha', 'cirros-ha', { nova_ha_priority: '80' });
    nova.aggregate('1', 'ha-low', [HOST, 'cmp2'], { nova_ha_priority: '10' });
    // Named so that by their metadata alone (no priority: a tie, broken by name) the aggregate's would go first.
    nova.server('a-by-aggregate', HOST, { flavor: flavor(1, 2048, 20) });
    nova.server('z-by-image', HOST, { imageId: 'img-ha', flavor: flavor(1, 2048, 20) });
    for (const host of ['cmp2', 'cmp4', nova.target]) nova.service(host, { status: 'disabled' });
    nova.placementApi.provide('cmp3', 1, 8192, 200);
    const incident = await fence(cloud);
    expect(incident.instances).toMatchObject([{ id: 'z-by-image', outcome: 'evacuated', to: 'cmp3', priority: 'priority 80 from image cirros-ha' }]);
    expect(incident.held).toEqual([{ id: 'a-by-aggregate', name: 'a-by-aggregate', reason: expect.stringMatching(/^needs 1 vCPU more than the closest host, cmp3/) }]);
    expect([...nova.callCounts().keys()]).toEqual(['z-by-image']);
  });

  it('a host with an open nova-ha incident is not room, and the estimate names it', async () => {
    const c = shortOfRoom();
    c.nova.service('cmp2');
    await c.store.change('cmp2', () => openIncident('cmp2', 'node-unreachable', 'confirming', Date.now(), 'ctl1'));
    const incident = await fence(c);
    expect(incident.held).toHaveLength(2);
    expect(capacityStep(incident)[0]!.detail).toMatch(/; not counted, an incident of theirs is open: cmp2$/);
  });

  it('Placement unreadable: every instance evacuated as before, the step skipped with the reason, and the email says the room was not estimated', async () => {
    const c = shortOfRoom();
    c.nova.scheduling = false;
    c.nova.placementApi.failure = new Error('Placement GET /resource_providers?name=cmp3: connect ECONNREFUSED 127.0.0.1:9');
    const incident = await fence(c);
    expect(incident.instances).toHaveLength(6);
    expect((incident.instances ?? []).every((o) => o.outcome === 'evacuated')).toBe(true);
    expect(capacityStep(incident)).toMatchObject([{ outcome: 'skipped', detail: 'the room was not estimated (Placement could not be read: Placement GET /resource_providers?name=cmp3: connect ECONNREFUSED 127.0.0.1:9); every instance is evacuated' }]);
    const [fenced] = c.notes.filter((n) => n.event === 'fenced');
    expect(fenced!.reason).toContain('The room was not estimated (Placement could not be read: ');
    expect(c.notes.some((n) => n.event === 'capacity-held')).toBe(false);
  });

  it('the operator\'s --ignore-capacity: every instance called for, the step skipped, and no "not estimated" warning', async () => {
    const c = shortOfRoom();
    const incident = await fence(c, capacityOf(c, 'the operator asked for every instance (--ignore-capacity)'));
    expect(c.nova.callCounts().size).toBe(6);
    expect(c.nova.placementApi.reads).toBe(0);
    expect(capacityStep(incident)[0]).toMatchObject({ outcome: 'skipped', detail: 'the room was not estimated (the operator asked for every instance (--ignore-capacity)); every instance is evacuated' });
    // Nova's scheduler decides: what it had no room for ends in ERROR (No valid host), as without the estimate.
    expect((incident.instances ?? []).filter((o) => o.outcome === 'failed')).toHaveLength(2);
    expect(c.notes.find((n) => n.event === 'evacuation-failed')!.reason).not.toContain('not estimated');
  });

  it('without the step (check = false): no capacity record at all', async () => {
    const c = shortOfRoom();
    const incident = await fenceAndEvacuate({ runtime: c.runtime, nova: c.nova, powerOff: (host) => c.bmc.powerOffVerified(host) }, fenceRunOf(c));
    expect(capacityStep(incident)).toEqual([]);
    expect(c.nova.callCounts().size).toBe(6);
  });
});

describe('the capacity step counts only the failed host\'s availability zone', () => {
  it('the room in another zone is not counted: the instances beyond the zone\'s room are held, and the estimate names the zone', async () => {
    const c = shortOfRoom();
    c.nova.service('cmp4', { status: 'enabled' });
    c.nova.aggregate('agg1', 'rack-a', [HOST, 'cmp3'], { availability_zone: 'az1' });
    c.nova.aggregate('agg2', 'rack-b', ['cmp4'], { availability_zone: 'az2' });
    const incident = await fence(c);
    expect((incident.instances ?? []).map((o) => o.to).sort()).toEqual(['cmp3', 'cmp3', 'cmp3', 'cmp3']);
    expect((incident.held ?? []).map((h) => h.id)).toEqual(['p2', 'p1']);
    expect(capacityStep(incident).at(-1)?.detail).toMatch(/^room for 4 of 6 instances; 2 held: needs 2 vCPU and 4 GiB more \(1 usable host in zone az1 with .*\); not counted, in another availability zone: cmp4$/);
    // The evacuation's read of the aggregates (for the HA policy) served the zone too.
    expect(c.nova.calls('listAggregates')).toHaveLength(1);
  });
});

describe('readRoom: which hosts are room', () => {
  const service = (host: string, over: object = {}) => ({ id: host, binary: 'nova-compute', host, zone: 'nova', status: 'enabled' as const, state: 'up' as const, forcedDown: false, disabledReason: null, updatedAt: null, ...over });
  const placement = {
    providerOf: async (host: string) => (host === 'cmp9' ? undefined : { uuid: host, name: host }),
    inventories: async () => ({ VCPU: { total: 4, reserved: 0, allocation_ratio: 2, min_unit: 1, max_unit: 4, step_size: 1 } }),
    usages: async () => ({ VCPU: 1 }),
  };
  const src = (over: Partial<RoomSources> = {}): RoomSources => ({
    listComputeServices: async () => [service('cmp1'), service('cmp2'), service('cmp3', { status: 'disabled' }), service('cmp4', { state: 'down' }), service('cmp5', { forcedDown: true }), service('cmp6'), service('cmp9')],
    listAggregates: async () => [],
    placement,
    openIncidents: async () => [openIncident('cmp6', 'node-unreachable', 'x', 0, 'ctl1')],
    ...over,
  });

  it('enabled, up, not forced down, not the failed host, no open incident; with their free amounts', async () => {
    expect(await readRoom(src(), 'cmp1')).toEqual({
      known: true,
      hosts: [{ host: 'cmp2', free: { VCPU: 7, MEMORY_MB: 0, DISK_GB: 0 }, limits: { VCPU: { minUnit: 1, maxUnit: 4, stepSize: 1 } } }],
      busy: ['cmp6'],
      unplaced: ['cmp9'],
    });
  });

  it.each([
    ['Nova', { listComputeServices: async () => Promise.reject(new Error('Nova GET /os-services: HTTP 503')) }, "Nova's compute services could not be listed: Nova GET /os-services: HTTP 503"],
    ['the incidents', { openIncidents: async () => Promise.reject(new Error('no cluster leader')) }, "nova-ha's incidents could not be read, so which hosts are busy is unknown: no cluster leader"],
    ['Placement', { placement: { ...placement, usages: async () => Promise.reject(new Error('HTTP 500')) } }, 'Placement could not be read: HTTP 500'],
  ])('%s unreadable: the room is unknown, with the reason', async (_what, over, reason) => {
    expect(await readRoom(src(over as Partial<RoomSources>), 'cmp1')).toEqual({ known: false, reason });
  });

  describe('availability zones', () => {
    const aggregates = [
      { id: 'a1', name: 'rack-a', hosts: ['cmp1', 'cmp2'], metadata: { availability_zone: 'az1' } },
      { id: 'a2', name: 'rack-b', hosts: ['cmp6'], metadata: { availability_zone: 'az2' } },
    ];

    it('a failed host in a zone: only that zone\'s hosts are room, the others are named', async () => {
      expect(await readRoom(src({ listAggregates: async () => aggregates }), 'cmp1')).toMatchObject({ known: true, hosts: [{ host: 'cmp2' }], busy: [], unplaced: [], zone: 'az1', elsewhere: ['cmp6', 'cmp9'] });
    });

    it('a failed host in no zone aggregate is in the default zone: hosts in a named zone are not room', async () => {
      const room = await readRoom(src({ listAggregates: async () => aggregates }), 'cmp7');
      expect(room).toMatchObject({ known: true, hosts: [], busy: [], unplaced: ['cmp9'], zone: 'nova', elsewhere: ['cmp1', 'cmp2', 'cmp6'] });
    });

    it('the caller\'s read of the aggregates is used: none is made here', async () => {
      let listed = 0;
      const room = await readRoom(src({ listAggregates: async () => (listed++, []) }), 'cmp1', '', { ok: true, value: aggregates });
      expect(listed).toBe(0);
      expect(room).toMatchObject({ zone: 'az1', hosts: [{ host: 'cmp2' }] });
    });

    it.each([
      ['listed here', { listAggregates: async () => Promise.reject(new Error('HTTP 403')) }, undefined, 'the host aggregates could not be read (HTTP 403)'],
      ['read by the evacuation', {}, { ok: false as const, why: 'no answer within 5 s' }, 'the host aggregates could not be read (no answer within 5 s)'],
    ])('aggregates unreadable (%s): the room is still known, every zone counted, and the estimate says so', async (_case, over, read, why) => {
      const room = await readRoom(src(over as Partial<RoomSources>), 'cmp1', '', read);
      expect(room).toEqual({ known: true, hosts: [expect.objectContaining({ host: 'cmp2' })], busy: ['cmp6'], unplaced: ['cmp9'], zoneUnchecked: why });
      const server = { id: 's1', name: 'web', status: 'ACTIVE', taskState: null, vmState: 'active', host: 'cmp1', projectId: 'p', metadata: {}, locked: false, partial: false, fault: null, flavor: flavor(1, 0, 0) } satisfies Server;
      const admission = admitByRoom([server], room);
      expect(admission.unknown).toBeUndefined();
      expect(admission.call).toEqual([server]);
      expect(admission.summary).toContain(`availability zone not checked, hosts of every zone counted: ${why}`);
    });
  });

  it('an instance without flavor sizes makes the estimate unknown rather than guessed', () => {
    const server = { id: 's1', name: 'web', status: 'ACTIVE', taskState: null, vmState: 'active', host: 'cmp1', projectId: 'p', metadata: {}, locked: false, partial: false, fault: null } satisfies Server;
    const admission = admitByRoom([server], { known: true, hosts: [], busy: [], unplaced: [] });
    expect(admission.call).toEqual([server]);
    expect(admission.unknown).toBe('Nova gives no flavor sizes for web (compute microversion below 2.47)');
  });
});
