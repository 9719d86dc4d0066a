/**
 * The capacity arithmetic (lib/decision/capacity.ts): Placement's free amounts with allocation
 * ratios and reserved amounts, an instance's needs from its flavor, and the plan that puts
 * instances of mixed flavors, in priority order, onto the usable hosts' room.
 */
import { describe, expect, it } from 'vitest';
import {
  NOVA_DEFAULT_ZONE,
  NO_AMOUNTS,
  availabilityZoneOf,
  canAbsorb,
  formatAmounts,
  formatMemory,
  freeAmounts,
  instanceNeeds,
  planPlacement,
  roomGrowth,
  roomSignature,
  sameZone,
  unitLimits,
  type Amounts,
  type HostRoom,
  type InstanceDemand,
  type ZoneAggregate,
} from '../../lib/decision/capacity.js';

const amounts = (VCPU: number, MEMORY_MB: number, DISK_GB: number): Amounts => ({ VCPU, MEMORY_MB, DISK_GB });
const host = (name: string, free: Amounts, limits?: HostRoom['limits']): HostRoom => ({ host: name, free, ...(limits ? { limits } : {}) });
const vm = (name: string, needs: Amounts): InstanceDemand => ({ id: `id-${name}`, name, needs });
const small = (name: string): InstanceDemand => vm(name, amounts(1, 2048, 20));

describe('freeAmounts: (total − reserved) × allocation_ratio, floored, − used', () => {
  it.each([
    ['ratio 1, nothing reserved', { total: 8 }, 2, 6],
    ['allocation ratio 4', { total: 8, allocation_ratio: 4 }, 6, 26],
    ['reserved before the ratio', { total: 8, reserved: 2, allocation_ratio: 2 }, 0, 12],
    ['fractional ratio floors like Placement', { total: 7, allocation_ratio: 1.5 }, 0, 10],
    ['used beyond capacity (ratio lowered since) is no room, not negative', { total: 8, allocation_ratio: 1 }, 12, 0],
    ['all reserved', { total: 4, reserved: 4, allocation_ratio: 16 }, 0, 0],
  ])('%s', (_name, vcpu, used, free) => {
    expect(freeAmounts({ VCPU: vcpu }, { VCPU: used }).VCPU).toBe(free);
  });

  it('each class on its own; a class without inventory has no room; unknown classes are ignored', () => {
    const inventories = {
      VCPU: { total: 16, reserved: 0, allocation_ratio: 4 },
      MEMORY_MB: { total: 65536, reserved: 512, allocation_ratio: 1.5 },
      PCI_DEVICE: { total: 2 },
    };
    expect(freeAmounts(inventories, { VCPU: 10, MEMORY_MB: 4096, DISK_GB: 5 })).toEqual(amounts(54, Math.floor(65024 * 1.5) - 4096, 0));
  });

  it('no usages reported yet means nothing used', () => {
    expect(freeAmounts({ DISK_GB: { total: 100, reserved: 10, allocation_ratio: 1 } }, {})).toEqual(amounts(0, 0, 90));
  });

  it('unit limits default like Placement (min 1, step 1, no max)', () => {
    expect(unitLimits({ VCPU: { total: 8, max_unit: 8 }, DISK_GB: { total: 100, min_unit: 10, step_size: 10 } })).toEqual({
      VCPU: { minUnit: 1, maxUnit: 8, stepSize: 1 },
      DISK_GB: { minUnit: 10, maxUnit: Number.MAX_SAFE_INTEGER, stepSize: 10 },
    });
  });
});

describe('instanceNeeds: what Nova asks Placement for', () => {
  it.each([
    ['root disk only', { vcpus: 2, ram: 4096, disk: 40 }, false, amounts(2, 4096, 40)],
    ['ephemeral and swap (rounded up to GB) add to disk', { vcpus: 1, ram: 512, disk: 10, ephemeral: 5, swap: 1536 }, false, amounts(1, 512, 17)],
    ['boot from volume: no root disk', { vcpus: 4, ram: 8192, disk: 80, ephemeral: 0, swap: 0 }, true, amounts(4, 8192, 0)],
  ])('%s', (_name, flavor, fromVolume, needs) => {
    expect(instanceNeeds(flavor, fromVolume)).toEqual(needs);
  });
});

describe('formatting in operator words', () => {
  it.each([
    [512, '512 MiB'],
    [1024, '1 GiB'],
    [1536, '1.5 GiB'],
    [12288, '12 GiB'],
  ])('%i MB is %s', (mb, text) => expect(formatMemory(mb)).toBe(text));

  it('leaves out zeros unless asked, and joins with "and"', () => {
    expect(formatAmounts(amounts(2, 0, 0))).toBe('2 vCPU');
    expect(formatAmounts(amounts(24, 49152, 0))).toBe('24 vCPU and 48 GiB');
    expect(formatAmounts(amounts(4, 12288, 600), { keepZeros: true })).toBe('4 vCPU, 12 GiB and 600 GB disk');
    expect(formatAmounts(NO_AMOUNTS)).toBe('nothing');
  });
});

describe('planPlacement: instances in priority order onto the room', () => {
  it('room for all: every instance placed, the summary says so', () => {
    const plan = planPlacement([small('a'), small('b')], [host('cmp2', amounts(8, 16384, 200))]);
    expect(plan.fits.map((f) => [f.instance.name, f.host])).toEqual([['a', 'cmp2'], ['b', 'cmp2']]);
    expect(plan.held).toEqual([]);
    expect(plan.summary).toBe('room for all 2 instances (1 usable host with 8 vCPU, 16 GiB and 200 GB disk free)');
  });

  it('exact fit: an instance that takes the last vCPU, byte and GB still fits', () => {
    const plan = planPlacement([vm('a', amounts(4, 12288, 600))], [host('cmp3', amounts(4, 12288, 600))]);
    expect(plan.held).toEqual([]);
    expect(plan.left[0]!.free).toEqual(NO_AMOUNTS);
  });

  it('shortage: the first ones in the given order fit, the rest are held with what is missing', () => {
    const six = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'].map((name) => vm(name, amounts(1, 2048, 100)));
    const plan = planPlacement(six, [host('cmp3', amounts(4, 12288, 600))]);
    expect(plan.fits.map((f) => f.instance.name)).toEqual(['p1', 'p2', 'p3', 'p4']);
    expect(plan.held.map((h) => h.instance.name)).toEqual(['p5', 'p6']);
    expect(plan.held[0]!.missing).toEqual(amounts(1, 0, 0));
    expect(plan.held[0]!.reason).toBe('needs 1 vCPU more than the closest host, cmp3, has free (0 vCPU, 4 GiB and 200 GB disk)');
    expect(plan.summary).toBe('room for 4 of 6 instances; 2 held: needs 2 vCPU more (1 usable host with 4 vCPU, 12 GiB and 600 GB disk free)');
  });

  it('mixed flavors: a big instance that does not fit is held, smaller ones after it still use the room', () => {
    const plan = planPlacement([vm('big', amounts(8, 32768, 80)), vm('mid', amounts(2, 4096, 20)), small('tiny')], [host('cmp2', amounts(4, 8192, 100))]);
    expect(plan.fits.map((f) => f.instance.name)).toEqual(['mid', 'tiny']);
    expect(plan.held.map((h) => h.instance.name)).toEqual(['big']);
    expect(plan.held[0]!.reason).toBe('needs 7 vCPU, 30 GiB and 20 GB disk more than the closest host, cmp2, has free (1 vCPU, 2 GiB and 60 GB disk)');
    expect(plan.summary).toBe('room for 2 of 3 instances; 1 held: needs 7 vCPU, 30 GiB and 20 GB disk more (1 usable host with 4 vCPU, 8 GiB and 100 GB disk free)');
  });

  it('each instance needs one host: room spread over two hosts is not room for one big instance', () => {
    const plan = planPlacement([vm('big', amounts(4, 8192, 40))], [host('cmp2', amounts(2, 8192, 100)), host('cmp3', amounts(2, 8192, 100))]);
    expect(plan.held).toHaveLength(1);
    expect(plan.summary).toBe('room for 0 of 1 instance; 1 held: no single host has room for any of them (2 usable hosts with 4 vCPU, 16 GiB and 200 GB disk free)');
  });

  it('spreads like Nova: each instance onto the host with the most free memory at that moment', () => {
    const plan = planPlacement([small('a'), small('b'), small('c')], [host('cmp2', amounts(8, 4096, 100)), host('cmp3', amounts(8, 6144, 100))]);
    expect(plan.fits.map((f) => f.host)).toEqual(['cmp3', 'cmp2', 'cmp3']);
  });

  it('the closest host names the reason: fewest classes short first', () => {
    const plan = planPlacement([vm('a', amounts(4, 8192, 10))], [host('cmp2', amounts(1, 1024, 100)), host('cmp3', amounts(2, 16384, 100))]);
    expect(plan.held[0]!.reason).toBe('needs 2 vCPU more than the closest host, cmp3, has free (2 vCPU, 16 GiB and 100 GB disk)');
  });

  it('zero hosts: everything held, and the summary says there is no usable host', () => {
    const plan = planPlacement([small('a')], []);
    expect(plan.held[0]!.reason).toBe('needs 1 vCPU, 2 GiB and 20 GB disk: no usable compute host');
    expect(plan.summary).toBe('room for 0 of 1 instance; 1 held: needs 1 vCPU, 2 GiB and 20 GB disk more (no usable compute host)');
  });

  it('no instances: room for all 0', () => {
    expect(planPlacement([], [host('cmp2', amounts(1, 1, 1))]).summary).toBe('room for all 0 instances (1 usable host with 1 vCPU, 1 MiB and 1 GB disk free)');
  });

  it.each([
    ['max_unit', { VCPU: { minUnit: 1, maxUnit: 4, stepSize: 1 } }, amounts(8, 1024, 10), 'needs 8 vCPU, 1 GiB and 10 GB disk and cmp2 takes at most 4 VCPU per instance'],
    ['min_unit', { DISK_GB: { minUnit: 20, maxUnit: 1000, stepSize: 1 } }, amounts(1, 1024, 10), 'needs 1 vCPU, 1 GiB and 10 GB disk and cmp2 takes at least 20 DISK_GB per instance'],
    ['step_size', { MEMORY_MB: { minUnit: 1, maxUnit: 65536, stepSize: 1024 } }, amounts(1, 1536, 10), 'needs 1 vCPU, 1.5 GiB and 10 GB disk and cmp2 takes MEMORY_MB in steps of 1024'],
  ])('a unit limit (%s) refuses an instance whatever is free', (_name, limits, needs, reason) => {
    const plan = planPlacement([vm('a', needs)], [host('cmp2', amounts(64, 65536, 1000), limits)]);
    expect(plan.held).toEqual([{ instance: vm('a', needs), missing: NO_AMOUNTS, reason }]);
  });

  it('a class the instance does not ask for is not checked against its limits', () => {
    const plan = planPlacement([vm('a', amounts(1, 1024, 0))], [host('cmp2', amounts(4, 4096, 100), { DISK_GB: { minUnit: 10, maxUnit: 100, stepSize: 10 } })]);
    expect(plan.held).toEqual([]);
  });

  it('does not change the hosts it is given', () => {
    const hosts = [host('cmp2', amounts(4, 4096, 100))];
    planPlacement([small('a')], hosts);
    expect(hosts[0]!.free).toEqual(amounts(4, 4096, 100));
  });
});

describe('availability zones: only the failed host\'s zone is room', () => {
  const zoned = (hosts: string[], zone?: string): ZoneAggregate => ({ hosts, metadata: zone === undefined ? {} : { availability_zone: zone } });
  // cmp1, cmp2 in az1; cmp3, cmp8 in az2; cmp4 in an aggregate naming the default zone; cmp5 in a zoneless aggregate; cmp6 in none.
  const aggregates = [zoned(['cmp1', 'cmp2'], 'az1'), zoned(['cmp3', 'cmp8'], 'az2'), zoned(['cmp4'], 'nova'), zoned(['cmp5', 'cmp1']), zoned(['cmp9'], 'az1'), zoned(['cmp9'], 'az2')];
  const candidates = ['cmp2', 'cmp3', 'cmp4', 'cmp5', 'cmp6', 'cmp9'];

  it.each([
    ['in an aggregate naming a zone: that zone', 'cmp1', 'az1'],
    ['in a zoneless aggregate only: the default zone', 'cmp5', NOVA_DEFAULT_ZONE],
    ['in no aggregate: the default zone', 'cmp6', NOVA_DEFAULT_ZONE],
    ['in an aggregate naming the default zone', 'cmp4', NOVA_DEFAULT_ZONE],
    ['in two zones (Nova refuses it): both, joined', 'cmp9', 'az1,az2'],
  ])('availabilityZoneOf: %s', (_case, name, zone) => {
    expect(availabilityZoneOf(name, aggregates)).toBe(zone);
  });

  it.each([
    ['a failed host in az1: only az1 hosts', 'cmp1', { zone: 'az1', inZone: ['cmp2'], elsewhere: ['cmp3', 'cmp4', 'cmp5', 'cmp6', 'cmp9'] }],
    ['a failed host in az2: only az2 hosts', 'cmp8', { zone: 'az2', inZone: ['cmp3'], elsewhere: ['cmp2', 'cmp4', 'cmp5', 'cmp6', 'cmp9'] }],
    ['a failed host in no zone aggregate: zoneless hosts and the default zone\'s', 'cmp7', { zone: 'nova', inZone: ['cmp4', 'cmp5', 'cmp6'], elsewhere: ['cmp2', 'cmp3', 'cmp9'] }],
  ])('sameZone: %s', (_case, failed, expected) => {
    expect(sameZone(failed, candidates, aggregates)).toEqual(expected);
  });

  it('no aggregate names a zone: the cloud is one zone, nothing is narrowed or named', () => {
    expect(sameZone('cmp1', candidates, [zoned(['cmp1', 'cmp2'])])).toEqual({ zone: undefined, inZone: candidates, elsewhere: [] });
    expect(sameZone('cmp1', candidates, [])).toEqual({ zone: undefined, inZone: candidates, elsewhere: [] });
  });

  it('the summary names the zone the room was counted in', () => {
    expect(planPlacement([small('a')], [host('cmp2', amounts(8, 16384, 200))], 'az1').summary).toBe('room for all 1 instance (1 usable host in zone az1 with 8 vCPU, 16 GiB and 200 GB disk free)');
    expect(planPlacement([small('a')], [], 'az1').summary).toBe('room for 0 of 1 instance; 1 held: needs 1 vCPU, 2 GiB and 20 GB disk more (no usable compute host in zone az1)');
    expect(canAbsorb('cmp1', [small('a')], [host('cmp2', amounts(8, 16384, 200))], 'az1').summary).toMatch(/1 usable host in zone az1 with/);
  });
});

describe('canAbsorb: can the other hosts take host X\'s instances (N+1)', () => {
  const hosts = [host('cmp1', amounts(8, 16384, 200)), host('cmp2', amounts(2, 4096, 100))];

  it('the host itself never counts as room', () => {
    const result = canAbsorb('cmp1', [small('a'), small('b'), small('c')], hosts);
    expect(result.absorbed).toBe(false);
    expect(result.fits.every((f) => f.host === 'cmp2')).toBe(true);
    expect(result.held.map((h) => h.instance.name)).toEqual(['c']);
  });

  it('absorbed when everything fits elsewhere', () => {
    expect(canAbsorb('cmp2', [small('a'), small('b')], hosts).absorbed).toBe(true);
  });
});

describe('roomSignature and roomGrowth: has room appeared since the last attempt', () => {
  const before = roomSignature([host('cmp3', amounts(4, 12800, 605))]);

  it('rounds memory down to GiB and disk to 10 GB, hosts by name', () => {
    expect(before).toEqual({ cmp3: amounts(4, 12288, 600) });
    expect(Object.keys(roomSignature([host('b', NO_AMOUNTS), host('a', NO_AMOUNTS)]))).toEqual(['a', 'b']);
  });

  it.each([
    ['a host usable again', [host('cmp3', amounts(4, 12800, 605)), host('cmp2', amounts(8, 16384, 100))], '2 usable compute hosts now, 1 before (cmp2 usable again)'],
    ['usage dropped on a host', [host('cmp3', amounts(6, 16384, 605))], 'more room on cmp3: 2 vCPU and 4 GiB'],
    ['noise below the rounding', [host('cmp3', amounts(4, 13000, 609))], undefined],
    ['less room', [host('cmp3', amounts(2, 12288, 600))], undefined],
    ['a host gone, the other the same', [], undefined],
  ])('%s', (_name, hosts, growth) => {
    expect(roomGrowth(before, roomSignature(hosts))).toBe(growth);
  });

  it('no earlier room recorded: any usable host counts as room appearing', () => {
    expect(roomGrowth(undefined, roomSignature([host('cmp2', NO_AMOUNTS)]))).toBe('1 usable compute host now');
    expect(roomGrowth(undefined, {})).toBeUndefined();
  });
});
