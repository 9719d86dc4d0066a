/**
 * What the HA policy reads from the cloud besides the servers' metadata: the flavor Nova embeds
 * in a server (2.47+, with its extra specs), the server's image ID, host aggregates from Nova and
 * image properties from Glance (endpoint from the catalog, no compute microversion sent).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NovaClient, NovaHttpError } from '../../lib/systems/nova/index.js';
import { FakeOpenStack, json, novaSection } from '../support/fake-openstack.js';

const FAST = { retries: 1, minTimeoutMs: 1, maxTimeoutMs: 5 };
const server = (id: string, extra: Record<string, unknown>) => ({ id, name: id, status: 'ACTIVE', 'OS-EXT-STS:task_state': null, 'OS-EXT-STS:vm_state': 'active', 'OS-EXT-SRV-ATTR:host': 'cmp1', tenant_id: 'p1', metadata: {}, locked: false, ...extra });

let stateDir: string;
let cloud: FakeOpenStack;
const client = (): NovaClient => new NovaClient({ nova: novaSection(), stateDir, fetch: cloud.fetch, retry: FAST });

beforeEach(() => {
  stateDir = join(mkdtempSync(join(tmpdir(), 'nova-ha-test-')), 'state');
  cloud = new FakeOpenStack();
});
afterEach(() => rmSync(join(stateDir, '..'), { recursive: true, force: true }));

describe('servers: embedded flavor and image', () => {
  it('reads the flavor with its extra specs and the image ID', async () => {
    const flavor = { vcpus: 2, ram: 2048, disk: 20, ephemeral: 0, swap: 0, original_name: 'm1.ha', extra_specs: { 'nova_ha:nova_ha_priority': '50', 'hw:cpu_policy': 'dedicated' } };
    cloud.routes.set('GET /servers/detail', () => json(200, { servers: [server('a', { flavor, image: { id: 'img-1', links: [] } }), server('b', { flavor: { ...flavor, extra_specs: undefined }, image: '' })] }));
    const [a, b] = await client().listServersOnHost('cmp1');
    expect(a).toMatchObject({ imageId: 'img-1', bootsFromVolume: false, flavor: { name: 'm1.ha', vcpus: 2, ram: 2048, disk: 20, ephemeral: 0, swap: 0, extraSpecs: { 'nova_ha:nova_ha_priority': '50', 'hw:cpu_policy': 'dedicated' } } });
    // Booted from a volume: no image; extra specs hidden by Nova's policy: null, not empty.
    expect(b).toMatchObject({ imageId: null, bootsFromVolume: true, flavor: { name: 'm1.ha', extraSpecs: null } });
  });

  it('an old flavor reference or an odd shape leaves the flavor unknown, never the server unreadable', async () => {
    cloud.routes.set('GET /servers/detail', () => json(200, { servers: [server('a', { flavor: { id: '42', links: [] }, image: { links: [] } }), server('b', { flavor: 'x', image: 7 }), server('c', { flavor: { original_name: 'm1.odd', vcpus: 1, ram: '512', disk: 1 } })] }));
    const servers = await client().listServersOnHost('cmp1');
    for (const s of servers) {
      expect(s.flavor).toBeUndefined();
      expect(s.imageId).toBeUndefined();
    }
  });
});

describe('host aggregates', () => {
  it('lists every aggregate with hosts and string metadata', async () => {
    cloud.routes.set('GET /os-aggregates', () => json(200, { aggregates: [{ id: 1, name: 'ha-low', availability_zone: null, hosts: ['cmp1', 'cmp2'], metadata: { nova_ha_priority: '10', odd: 3 } }, { id: 2, name: 'empty', hosts: [], metadata: {} }] }));
    expect(await client().listAggregates()).toEqual([
      { id: '1', name: 'ha-low', hosts: ['cmp1', 'cmp2'], metadata: { nova_ha_priority: '10' } },
      { id: '2', name: 'empty', hosts: [], metadata: {} },
    ]);
  });
});

describe('Glance images', () => {
  it('reads the properties from the catalog image endpoint, without a compute microversion', async () => {
    cloud.routes.set('GET /v2/images/img-1', () => json(200, { id: 'img-1', name: 'cirros-ha', status: 'active', visibility: 'public', size: 1048576, tags: [], nova_ha_priority: '80', hw_disk_bus: 'virtio', os_hidden: false }));
    expect(await client().getImage('img-1')).toEqual({ id: 'img-1', name: 'cirros-ha', properties: { nova_ha_priority: '80', hw_disk_bus: 'virtio' } });
    const [call] = cloud.callsTo('GET /v2/images/img-1');
    expect(call!.url.origin).toBe('http://glance.test:9292');
    expect(call!.headers['openstack-api-version']).toBeUndefined();
    expect(call!.headers['x-auth-token']).toBe(cloud.tokens[0]);
  });

  it("a missing image fails with Glance's name in the message", async () => {
    cloud.routes.set('GET /v2/images/gone', () => json(404, { message: 'No image found with ID gone' }));
    const error = await client().getImage('gone').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NovaHttpError);
    expect((error as Error).message).toMatch(/^Glance GET .*HTTP 404/);
  });
});
