/**
 * The cloud the capacity tests share (capacity-step.test.ts, retry-left-behind.test.ts): cmp1
 * fails with six 1-vCPU instances booted from an image (their disks take room), priorities 6 (p6)
 * down to 1 (p1); cmp2, cmp4 and the fake's default target are disabled; cmp3 has room for four.
 */
import { readRoom, type RoomSources } from '../../lib/recovery/capacity.js';
import type { FenceRun } from '../../lib/recovery/effects.js';
import type { CapacityStep } from '../../lib/recovery/fence.js';
import { openIncident } from '../../lib/state/incident.js';
import { FakeCloud } from './fake-cloud.js';
import { flavor } from './fake-nova.js';

export const SHORT_HOST = 'cmp1';

export function shortOfRoomCloud(): FakeCloud {
  const cloud = new FakeCloud();
  const nova = cloud.nova;
  nova.scheduling = true;
  nova.image('img-cirros', 'cirros');
  for (let p = 1; p <= 6; p++) nova.server(`p${p}`, SHORT_HOST, { metadata: { nova_ha_priority: String(p) }, imageId: 'img-cirros', flavor: flavor(1, 2048, 20) });
  for (const host of ['cmp2', 'cmp4', nova.target]) nova.service(host, { status: 'disabled' });
  for (const host of ['cmp2', 'cmp3', 'cmp4']) nova.placementApi.provide(host, 4, 8192, 200);
  return cloud;
}

/** The failed host's fence run over the cloud's incident store, opening its incident if none is. */
export function fenceRunOf(c: FakeCloud): FenceRun {
  return {
    host: SHORT_HOST,
    change: async (mutate) => (await c.store.change(SHORT_HOST, (current) => mutate(current ?? openIncident(SHORT_HOST, 'node-unreachable', 'failed on every network', Date.now(), c.runtime.node))))!,
    stillOwner: () => true,
  };
}

export const roomSourcesOf = (c: FakeCloud): RoomSources => ({ listComputeServices: () => c.nova.listComputeServices(), listAggregates: () => c.nova.listAggregates(), placement: c.nova.placement(), openIncidents: () => c.store.open() });

/** The capacity step over the cloud, without spares; ignored as --ignore-capacity gives it. */
export const capacityOf = (c: FakeCloud, ignored?: string): CapacityStep => ({ readRoom: (host, incidentId, aggregates) => readRoom(roomSourcesOf(c), host, incidentId, aggregates), ...(ignored ? { ignored } : {}) });
