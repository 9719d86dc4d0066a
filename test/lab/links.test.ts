import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Lab, LinkSide } from '../../lab/lab.js';
import { heldFromNovaHa, testLab } from './lab-context.js';

const COMPUTE = 'cmp1';

describe('a cut storage link', () => {
  heldFromNovaHa(COMPUTE);
  let lab: Lab;
  beforeAll(async () => {
    lab = await testLab();
    await lab.waitForMemberEverywhere(COMPUTE, 'alive', 60_000);
  });
  afterEach(async () => {
    await lab.restoreAllLinks(COMPUTE);
    await lab.waitForMemberEverywhere(COMPUTE, 'alive', 90_000);
  });

  it.each<LinkSide>(['host', 'switch'])('on the %s side fails the compute in the storage cluster only, within seconds, and restoring brings it back', async (side) => {
    await lab.cutLink(COMPUTE, 'storage', side);
    const detectedMs = await lab.waitForMember(COMPUTE, 'storage', 'failed', 20_000);
    expect(detectedMs).toBeLessThan(10_000);
    // The other two networks keep the node alive throughout.
    expect(await lab.memberHealth(COMPUTE, 'mgmt')).toBe('passing');
    expect(await lab.memberHealth(COMPUTE, 'tenant')).toBe('passing');
    await lab.restoreLink(COMPUTE, 'storage', side);
    // lab-notes: back to passing anywhere from 1 to 27 s after the link returns.
    await lab.waitForMember(COMPUTE, 'storage', 'alive', 60_000);
    expect(await lab.memberHealth(COMPUTE, 'mgmt')).toBe('passing');
    expect(await lab.memberHealth(COMPUTE, 'tenant')).toBe('passing');
    console.log(`storage cut (${side} side) detected in ${detectedMs} ms`);
  });
});
