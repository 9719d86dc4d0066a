import { describe, expect, it } from 'vitest';
import { parseCatalog, selectEndpoint } from '../../lib/systems/nova/catalog.js';
import { versionDocumentUrl } from '../../lib/systems/nova/client.js';
import { NovaConfigError, NovaReplyError } from '../../lib/systems/nova/errors.js';

const catalog = parseCatalog([
  { type: 'identity', name: 'keystone', endpoints: [{ interface: 'public', region_id: 'RegionOne', url: 'https://ks.example.com/v3' }] },
  {
    type: 'compute',
    name: 'nova',
    endpoints: [
      { interface: 'public', region_id: 'RegionOne', url: 'https://nova.example.com/v2.1' },
      { interface: 'internal', region_id: 'RegionOne', url: 'http://nova.internal:8774/v2.1/' },
      { interface: 'internal', region_id: 'RegionTwo', url: 'http://nova2.internal:8774/v2.1' },
      { interface: 'admin', region: 'RegionOne', url: 'http://nova.admin:8774/v2.1' },
    ],
  },
]);

describe('catalog endpoint selection', () => {
  it('picks by type, region and interface, without a trailing slash', () => {
    expect(selectEndpoint(catalog, { type: 'compute', region: 'RegionOne', interface: 'internal' })).toBe('http://nova.internal:8774/v2.1');
    expect(selectEndpoint(catalog, { type: 'compute', region: 'RegionOne', interface: 'public' })).toBe('https://nova.example.com/v2.1');
    expect(selectEndpoint(catalog, { type: 'compute', region: 'RegionTwo', interface: 'internal' })).toBe('http://nova2.internal:8774/v2.1');
  });

  it('reads the old "region" field when region_id is missing', () => {
    expect(selectEndpoint(catalog, { type: 'compute', region: 'RegionOne', interface: 'admin' })).toBe('http://nova.admin:8774/v2.1');
  });

  it('accepts an empty region only when that leaves one endpoint', () => {
    expect(selectEndpoint(catalog, { type: 'compute', region: '', interface: 'public' })).toBe('https://nova.example.com/v2.1');
    expect(() => selectEndpoint(catalog, { type: 'compute', region: '', interface: 'internal' })).toThrow(/2 internal compute endpoints in region \(any\).*set \[nova\] region_name/);
  });

  it('names what the catalog offers when nothing matches', () => {
    expect(() => selectEndpoint(catalog, { type: 'compute', region: 'RegionThree', interface: 'internal' })).toThrow(NovaConfigError);
    expect(() => selectEndpoint(catalog, { type: 'compute', region: 'RegionThree', interface: 'internal' })).toThrow(/no internal compute endpoint in region RegionThree \(it has: .*internal@RegionTwo.*\); set \[nova\] interface and region_name/);
    expect(() => selectEndpoint(catalog, { type: 'placement', region: 'RegionOne', interface: 'internal' })).toThrow(/no service of type placement \(it has: compute, identity\)/);
  });

  it('rejects a malformed catalog, naming the entry', () => {
    expect(() => parseCatalog(undefined)).toThrow(NovaReplyError);
    expect(() => parseCatalog([{ type: 'compute', endpoints: [{ interface: 'public' }] }])).toThrow(/catalog\[0\] \(compute\)\.endpoints\[0\]: expected url and interface/);
  });

  it('finds the version document of an endpoint, with or without a project ID in it', () => {
    expect(versionDocumentUrl('http://nova:8774/v2.1', 'p1').href).toBe('http://nova:8774/v2.1');
    expect(versionDocumentUrl('http://nova:8774/v2.1/', null).href).toBe('http://nova:8774/v2.1');
    expect(versionDocumentUrl('http://nova:8774/v2.1/0736e6b77015439fbd0319ee676a6e09', null).href).toBe('http://nova:8774/v2.1');
    expect(versionDocumentUrl('https://cloud/compute/v2.1/my-project', 'my-project').href).toBe('https://cloud/compute/v2.1');
  });
});
