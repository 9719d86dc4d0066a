/**
 * The Placement reads (lib/systems/nova/placement.ts): a host's resource provider, its
 * inventories and usages, over the Nova client's Keystone session, the endpoint from the catalog
 * or from [capacity] placement_endpoint.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NovaClient, NovaConfigError, NovaHttpError, NovaReplyError, PLACEMENT_MICROVERSION } from '../../lib/systems/nova/index.js';
import { Reply } from '../../lib/systems/nova/reply.js';
import { parseServer } from '../../lib/systems/nova/types.js';
import { FakeOpenStack, PLACEMENT, json, novaSection } from '../support/fake-openstack.js';

const FAST = { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 2 };
let stateDir: string;
let cloud: FakeOpenStack;

const client = (): NovaClient => new NovaClient({ nova: novaSection(), stateDir, fetch: cloud.fetch, retry: FAST });
const placementCalls = (path: string) => cloud.calls.filter((c) => c.url.origin === PLACEMENT && c.url.pathname === path);
const providers = (...names: string[]) => ({ resource_providers: names.map((name) => ({ uuid: `uuid-${name}`, name, generation: 3 })) });

beforeEach(() => {
  stateDir = join(mkdtempSync(join(tmpdir(), 'nova-ha-test-')), 'state');
  cloud = new FakeOpenStack();
});
afterEach(() => rmSync(join(stateDir, '..'), { recursive: true, force: true }));

describe('PlacementClient', () => {
  it('finds a host\'s provider by name, with the token and the fixed microversion, at the catalog\'s endpoint', async () => {
    cloud.routes.set('GET placement:/resource_providers', (call) => json(200, providers(call.url.searchParams.get('name')!)));
    expect(await client().placement().providerOf('cmp2')).toEqual({ uuid: 'uuid-cmp2', name: 'cmp2' });
    const [call] = placementCalls('/resource_providers');
    expect(call!.url.origin).toBe(PLACEMENT);
    expect(call!.url.searchParams.get('name')).toBe('cmp2');
    expect(call!.headers['openstack-api-version']).toBe(`placement ${PLACEMENT_MICROVERSION}`);
    expect(call!.headers['x-auth-token']).toBe(cloud.tokens[0]);
  });

  it('a provider named after the FQDN of the host counts; none at all is undefined', async () => {
    cloud.routes.set('GET placement:/resource_providers', (call) => json(200, call.url.searchParams.has('name') ? providers() : providers('cmp20.example.com', 'cmp2.example.com')));
    expect(await client().placement().providerOf('cmp2')).toEqual({ uuid: 'uuid-cmp2.example.com', name: 'cmp2.example.com' });
    expect(await client().placement().providerOf('cmp3')).toBeUndefined();
  });

  it('reads inventories (defaults where Placement leaves a field out) and usages', async () => {
    cloud.routes.set('GET placement:/resource_providers/uuid-cmp2/inventories', () => json(200, { resource_provider_generation: 3, inventories: { VCPU: { total: 8, reserved: 0, min_unit: 1, max_unit: 8, step_size: 1, allocation_ratio: 4.0 }, MEMORY_MB: { total: 16384, reserved: 512 } } }));
    cloud.routes.set('GET placement:/resource_providers/uuid-cmp2/usages', () => json(200, { resource_provider_generation: 3, usages: { VCPU: 6, MEMORY_MB: 12288, DISK_GB: 40 } }));
    const placement = client().placement();
    expect(await placement.inventories('uuid-cmp2')).toEqual({
      VCPU: { total: 8, reserved: 0, min_unit: 1, max_unit: 8, step_size: 1, allocation_ratio: 4 },
      MEMORY_MB: { total: 16384, reserved: 512, min_unit: 1, max_unit: Number.MAX_SAFE_INTEGER, step_size: 1, allocation_ratio: 1 },
    });
    expect(await placement.usages('uuid-cmp2')).toEqual({ VCPU: 6, MEMORY_MB: 12288, DISK_GB: 40 });
  });

  it('[capacity] placement_endpoint replaces the catalog\'s', async () => {
    cloud.placementInCatalog = false;
    cloud.routes.set('GET placement:/resource_providers', () => json(200, providers('cmp2')));
    await client().placement(new URL(`${PLACEMENT}/`)).providerOf('cmp2');
    expect(placementCalls('/resource_providers')[0]!.url.href).toBe(`${PLACEMENT}/resource_providers?name=cmp2`);
  });

  it('no placement in the catalog: a config error naming the fix', async () => {
    cloud.placementInCatalog = false;
    await expect(client().placement().providerOf('cmp2')).rejects.toThrow(NovaConfigError);
    await expect(client().placement().providerOf('cmp2')).rejects.toThrow(/no service of type placement/);
  });

  it('an error status names Placement and its log; a reply of the wrong shape is refused', async () => {
    cloud.routes.set('GET placement:/resource_providers', () => json(403, { errors: [{ status: 403, title: 'Forbidden', detail: 'Policy does not allow placement:resource_providers:list' }] }));
    await expect(client().placement().providerOf('cmp2')).rejects.toThrow(NovaHttpError);
    await expect(client().placement().providerOf('cmp2')).rejects.toThrow(/^Placement GET \/resource_providers\?name=cmp2: HTTP 403/);
    cloud.routes.set('GET placement:/resource_providers/u/usages', () => json(200, { usages: { VCPU: 'six' } }));
    await expect(client().placement().usages('u')).rejects.toThrow(NovaReplyError);
  });

  it('a refused token is replaced once', async () => {
    cloud.routes.set('GET placement:/resource_providers', () => json(200, providers('cmp2')));
    const nova = client();
    await nova.placement().providerOf('cmp2');
    cloud.revoked.add(cloud.tokens[0]!);
    expect(await nova.placement().providerOf('cmp2')).toEqual({ uuid: 'uuid-cmp2', name: 'cmp2' });
    expect(cloud.authentications).toBe(2);
  });
});

describe('a server\'s flavor (what it needs from a host)', () => {
  const base = { id: 's1', name: 'web', status: 'ACTIVE', 'OS-EXT-STS:task_state': null, 'OS-EXT-STS:vm_state': 'active', 'OS-EXT-SRV-ATTR:host': 'cmp1', tenant_id: 'p1', metadata: {} };
  const parse = (extra: Record<string, unknown>) => parseServer(new Reply({ ...base, ...extra }, 'test'));

  it('the embedded flavor of 2.47+ gives its sizes; an image of "" means booted from a volume', () => {
    const flavor = { vcpus: 2, ram: 4096, disk: 40, ephemeral: 0, swap: '', original_name: 'm1.medium', extra_specs: {} };
    expect(parse({ flavor, image: { id: 'img' } })).toMatchObject({ flavor: { vcpus: 2, ram: 4096, disk: 40, ephemeral: 0, swap: 0, name: 'm1.medium' }, bootsFromVolume: false });
    expect(parse({ flavor, image: '' })).toMatchObject({ bootsFromVolume: true });
  });

  it('before 2.47 (flavor by ID only) there are no sizes, and no key for them', () => {
    const server = parse({ flavor: { id: '3', links: [] } });
    expect('flavor' in server).toBe(false);
    expect('bootsFromVolume' in server).toBe(false);
  });
});
