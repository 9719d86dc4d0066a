/**
 * The evacuation engine with the HA policy's wider sources: the order of the evacuate calls
 * follows the priority from the instance's metadata, its image, its flavor and its host's
 * aggregates; each image and the aggregate list are read once per run; a source that cannot be
 * read never stops the evacuation, and each instance's record says where its priority came from.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { evacuateInstances, selectInstances, type EvacuationSettings } from '../../lib/recovery/evacuate.js';
import type { InstanceOutcome } from '../../lib/state/incident.js';
import { createLogger } from '../../lib/shared/log.js';
import { FakeNova, NovaRefused } from '../support/fake-nova.js';

const SETTINGS: EvacuationSettings = { concurrency: 1, mode: 'opt-out', selectKey: 'nova_ha_evacuate', priorityKey: 'nova_ha_priority', retries: 0, instanceTimeout: 5000 };
const HOST = 'cmp1';

/** The lab test's cloud: priority 80 from an image, 50 from a flavor, 10 from cmp1's aggregate, 5 from metadata. */
function cloud(): FakeNova {
  const nova = new FakeNova();
  nova.service(HOST, { state: 'down', forcedDown: true });
  nova.service(nova.target);
  nova.image('img-ha', 'cirros-ha', { nova_ha_priority: '80' });
  nova.image('img-plain', 'cirros');
  nova.aggregate('1', 'ha-low', [HOST, 'cmp2'], { nova_ha_priority: '10' });
  nova.aggregate('2', 'elsewhere', ['cmp3'], { nova_ha_priority: '99' });
  nova.server('by-aggregate', HOST, { imageId: 'img-plain' });
  nova.server('by-metadata', HOST, { imageId: 'img-plain', metadata: { nova_ha_priority: '5' } });
  nova.server('by-flavor', HOST, { imageId: 'img-plain', flavor: FakeNova.flavor('m1.ha', { 'nova_ha:nova_ha_priority': '50' }) });
  nova.server('by-image', HOST, { imageId: 'img-ha' });
  return nova;
}

async function evacuate(nova: FakeNova, settings: EvacuationSettings = SETTINGS): Promise<{ records: InstanceOutcome[]; outcomes: InstanceOutcome[]; log: Record<string, unknown>[] }> {
  const records: InstanceOutcome[] = [];
  const lines: string[] = [];
  const log = createLogger({ component: 'test', level: 'debug', stream: { write: (line: string) => lines.push(line) } });
  const { outcomes } = await evacuateInstances({
    kind: 'evacuation', nova, host: HOST, since: Date.now() - 60_000, settings, log, recorded: [],
    record: async (batch) => void records.push(...batch),
    stillOwner: () => true,
    looks: { firstMs: 5, nextMs: 5, growth: 1, maxMs: 5 },
  });
  return { records, outcomes, log: lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('evacuation order from image, flavor and aggregate', () => {
  it('evacuates 80 (image), 50 (flavor), 10 (aggregate), 5 (metadata over the aggregate), and records where each came from', async () => {
    const nova = cloud();
    const { outcomes } = await evacuate(nova);
    expect(nova.calls('evacuate').map(([id]) => id)).toEqual(['by-image', 'by-flavor', 'by-aggregate', 'by-metadata']);
    expect(Object.fromEntries(outcomes.map((o) => [o.id, [o.outcome, o.priority]]))).toEqual({
      'by-image': ['evacuated', 'priority 80 from image cirros-ha'],
      'by-flavor': ['evacuated', 'priority 50 from flavor m1.ha'],
      'by-aggregate': ['evacuated', 'priority 10 from aggregate ha-low'],
      'by-metadata': ['evacuated', 'priority 5 from its metadata'],
    });
  });

  it('reads each image and the aggregate list once per run, however many instances share them', async () => {
    const nova = cloud();
    for (let i = 0; i < 5; i++) nova.server(`more-${i}`, HOST, { imageId: 'img-ha' });
    await evacuate(nova);
    expect(nova.calls('listAggregates')).toEqual([[]]);
    expect(nova.calls('getImage').map(([id]) => id).sort()).toEqual(['img-ha', 'img-plain']);
  });

  it('an instance booted from a volume has no image to read', async () => {
    const nova = cloud();
    nova.servers.clear();
    nova.server('volume-backed', HOST, { imageId: null });
    const { outcomes } = await evacuate(nova);
    expect(nova.calls('getImage')).toEqual([]);
    expect(outcomes[0]).toMatchObject({ outcome: 'evacuated', priority: 'priority 10 from aggregate ha-low' });
  });

  it('opt-in mode: an aggregate opts its hosts in; an image opts one of them out', async () => {
    const nova = cloud();
    nova.aggregates.clear();
    nova.aggregate('3', 'ha-hosts', [HOST], { nova_ha_evacuate: 'true' });
    nova.image('img-dev', 'dev', { nova_ha_evacuate: 'false' });
    nova.server('dev', HOST, { imageId: 'img-dev' });
    const { outcomes } = await evacuate(nova, { ...SETTINGS, mode: 'opt-in' });
    expect(outcomes.find((o) => o.id === 'dev')).toMatchObject({ outcome: 'skipped', detail: 'not opted in (image dev property nova_ha_evacuate=false)' });
    expect(outcomes.filter((o) => o.outcome === 'evacuated')).toHaveLength(4);
  });
});

describe('a source that cannot be read', () => {
  afterEach(() => vi.useRealTimers());

  it('Glance failing: evacuated all the same, the less specific sources decide, and the record and the log say so', async () => {
    const nova = cloud();
    nova.before('getImage', ([id]) => {
      if (id !== 'img-ha') return;
      throw new NovaRefused(503, 'Glance GET /v2/images/img-ha: HTTP 503 Service Unavailable');
    });
    const { outcomes, log } = await evacuate(nova);
    expect(outcomes.every((o) => o.outcome === 'evacuated')).toBe(true);
    // by-image falls back to its host's aggregate (10); by-aggregate ties with it and goes by name.
    expect(nova.calls('evacuate').map(([id]) => id)).toEqual(['by-flavor', 'by-aggregate', 'by-image', 'by-metadata']);
    expect(outcomes.find((o) => o.id === 'by-image')!.priority).toBe('priority 10 from aggregate ha-low; image properties unread (Glance GET /v2/images/img-ha: HTTP 503 Service Unavailable)');
    expect(log.filter((l) => l['event'] === 'ha-policy-unread').map((l) => [l['level'], l['detail']])).toEqual([['warning', 'image img-ha: Glance GET /v2/images/img-ha: HTTP 503 Service Unavailable; the HA priority and opt-in/opt-out come from the other sources (see: nova-ha incident)']]);
  });

  it('Glance not answering: the evacuation waits 5 s for it, no more', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const nova = cloud();
    nova.getImage = () => new Promise(() => undefined);
    const running = evacuate(nova);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(nova.calls('evacuate')).toEqual([]);
    await vi.runAllTimersAsync();
    const { outcomes } = await running;
    expect(nova.calls('evacuate').map(([id]) => id)).toEqual(['by-flavor', 'by-aggregate', 'by-image', 'by-metadata']);
    expect(outcomes.find((o) => o.id === 'by-image')!.priority).toBe('priority 10 from aggregate ha-low; image properties unread (no answer within 5 s)');
  });

  it("Nova's aggregates failing: evacuated all the same, the records say the aggregates were not read", async () => {
    const nova = cloud();
    nova.failNext('listAggregates', new NovaRefused(403, 'Policy does not allow os_compute_api:os-aggregates:index to be performed.'));
    const { outcomes } = await evacuate(nova);
    expect(nova.calls('evacuate').map(([id]) => id)).toEqual(['by-image', 'by-flavor', 'by-metadata', 'by-aggregate']);
    expect(outcomes.find((o) => o.id === 'by-aggregate')!.priority).toMatch(/^priority 0 \(default: no source sets nova_ha_priority\); aggregates unread \(Policy does not allow/);
    expect(outcomes.find((o) => o.id === 'by-metadata')!.priority).toBe('priority 5 from its metadata');
  });

  it('extra specs Nova does not show: the flavor is unread, the aggregate decides', () => {
    const nova = cloud();
    const server = { ...nova.servers.get('by-flavor')!, flavor: FakeNova.flavor('m1.ha', null) };
    const selection = selectInstances([{ id: server.id, name: server.name, status: 'ACTIVE', taskState: null, vmState: 'active', host: HOST, projectId: 'p1', metadata: {}, locked: false, partial: false, fault: null, imageId: null, flavor: server.flavor }], SETTINGS, { images: new Map(), aggregates: { ok: true, value: [...nova.aggregates.values()] } });
    expect(selection.priorities.get('by-flavor')).toBe("priority 10 from aggregate ha-low; flavor extra specs unread (Nova did not show flavor m1.ha's extra specs (policy os_compute_api:servers:show:flavor-extra-specs))");
  });
});
