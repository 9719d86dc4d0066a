import { beforeAll, describe, expect, it } from 'vitest';
import { assertLabRoute } from '../../lab/guard.js';
import type { Lab } from '../../lab/lab.js';
import { addressOf } from '../../lab/topology.js';
import { testLab } from './lab-context.js';

describe('network guard', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await testLab();
  });

  it('accepts a lab address routed through a lab device, and loopback through lo', async () => {
    await expect(lab.checkRoute('ctl1', addressOf('bmc1', 'oob'))).resolves.toMatchObject({ device: 'oob0' });
    await expect(lab.checkRoute('ctl2', addressOf('cmp2', 'storage'))).resolves.toMatchObject({ device: 'stor0' });
    await expect(lab.checkRoute('cmp1', '127.0.0.1')).resolves.toMatchObject({ device: 'lo' });
    // The namespace's own lab address stays inside it (via lo): accepted, naming the device that holds it.
    await expect(lab.checkRoute('ctl1', addressOf('ctl1', 'mgmt'))).resolves.toMatchObject({ device: 'mgmt0' });
  });

  it('refuses an address outside the lab', async () => {
    await expect(lab.checkRoute('ctl1', '8.8.8.8')).rejects.toThrow(/refusing to send to 8\.8\.8\.8 from namespace nht-ctl1: outside/);
    await expect(lab.checkRoute('ctl1', '198.18.9.1')).rejects.toThrow(/outside 127\.0\.0\.0\/8 and the lab subnets/);
    await expect(lab.checkRoute('ctl1', 'not-an-address')).rejects.toThrow(/not an IPv4 address/);
  });

  it('refuses any address from the root namespace', async () => {
    await expect(assertLabRoute(null, addressOf('ctl1', 'mgmt'))).rejects.toThrow(/from the root namespace: lab traffic must start inside a lab namespace/);
    await expect(assertLabRoute(undefined, '127.0.0.1')).rejects.toThrow(/root namespace/);
  });

  it('refuses a namespace that is not a lab namespace', async () => {
    await expect(assertLabRoute('some-netns', addressOf('ctl1', 'mgmt'))).rejects.toThrow(/not a lab namespace/);
  });

  it('refuses a lab address the namespace has no route for', async () => {
    // Computes have no oob link: without the guard this would go out the default route, if there were one.
    await expect(lab.checkRoute('cmp1', addressOf('bmc1', 'oob'))).rejects.toThrow(/from namespace nht-cmp1: no route/);
  });

  it('refuses once the sending link is down, and accepts again after', async () => {
    const target = addressOf('ctl1', 'tenant');
    await lab.cutLink('cmp4', 'tenant', 'host');
    try {
      await expect(lab.checkRoute('cmp4', target)).rejects.toThrow(/from namespace nht-cmp4: no route/);
    } finally {
      await lab.restoreLink('cmp4', 'tenant', 'host');
    }
    await expect(lab.checkRoute('cmp4', target)).resolves.toMatchObject({ device: 'ten0' });
  });
});
