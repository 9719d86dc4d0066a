import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../lab/lab.js';
import { namespaceProcesses } from '../../lab/processes.js';
import { heldFromNovaHa, testLab } from './lab-context.js';

const COMPUTE = 'cmp3';

describe('power control through the BMC (real ipmitool, lanplus, cipher suite 3)', () => {
  heldFromNovaHa(COMPUTE);
  let lab: Lab;
  beforeAll(async () => {
    lab = await testLab();
    await lab.waitForMemberEverywhere(COMPUTE, 'alive', 60_000);
  });
  afterAll(async () => {
    if (!lab.hostIsOn(COMPUTE)) await lab.powerOn(COMPUTE);
    await lab.waitForMemberEverywhere(COMPUTE, 'alive', 90_000);
  });

  it('reports the power state from a controller namespace', async () => {
    expect(await lab.powerStatus(COMPUTE)).toBe('on');
    expect(await lab.powerStatus(COMPUTE, 'ctl3')).toBe('on');
  });

  it('power off cuts the compute: it fails on all three networks; power on brings it back everywhere', async () => {
    const started = Date.now();
    await lab.powerOff(COMPUTE);
    expect(lab.hostIsOn(COMPUTE)).toBe(false);
    expect(await namespaceProcesses(lab.namespace(COMPUTE))).toEqual([]);
    expect(await lab.powerStatus(COMPUTE)).toBe('off');
    await lab.waitForMemberEverywhere(COMPUTE, 'failed', 20_000);
    const failedMs = Date.now() - started;
    expect(failedMs).toBeLessThan(15_000);
    for (const network of ['mgmt', 'storage', 'tenant'] as const) expect(lab.agentProcess(COMPUTE, network)).toBeUndefined();

    const poweredOn = Date.now();
    await lab.powerOn(COMPUTE);
    expect(await lab.powerStatus(COMPUTE)).toBe('on');
    await lab.waitForMemberEverywhere(COMPUTE, 'alive', 60_000);
    console.log(`power off -> failed everywhere in ${failedMs} ms; power on -> alive everywhere in ${Date.now() - poweredOn} ms`);
  });

  it('refuses to start an agent of a powered-off compute by hand', async () => {
    await lab.powerOff(COMPUTE);
    try {
      await expect(lab.startAgent(COMPUTE, 'mgmt')).rejects.toThrow(/cmp3 is powered off: power it on/);
    } finally {
      await lab.powerOn(COMPUTE);
    }
  });
});
