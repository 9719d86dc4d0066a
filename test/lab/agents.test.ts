import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConfigDir, CONSUL_BINARY } from '../../lab/consul-config.js';
import type { Lab } from '../../lab/lab.js';
import { run } from '../../lab/shell.js';
import { CONSUL_NETWORKS } from '../../lab/topology.js';
import { heldFromNovaHa, testLab } from './lab-context.js';

const COMPUTE = 'cmp2';

describe('Consul agents', () => {
  heldFromNovaHa(COMPUTE);
  let lab: Lab;
  beforeAll(async () => {
    lab = await testLab();
    await lab.waitForMemberEverywhere(COMPUTE, 'alive', 60_000);
  });
  afterAll(async () => {
    for (const network of CONSUL_NETWORKS) {
      if (!lab.agentProcess(COMPUTE, network)) await lab.startAgent(COMPUTE, network);
    }
    await lab.waitForMemberEverywhere(COMPUTE, 'alive', 90_000);
  });

  it('run as user consul, with the node role in node_meta, and answer on their unix socket', async () => {
    const self = await lab.consul(COMPUTE, 'storage').getOk<{ Config: { NodeName: string; Datacenter: string }; Meta: Record<string, string> }>('/v1/agent/self');
    expect(self.Config).toMatchObject({ NodeName: COMPUTE, Datacenter: 'storage' });
    expect(self.Meta['nova-ha-role']).toBe('compute');
    const controller = await lab.consul('ctl2', 'tenant').getOk<{ Meta: Record<string, string> }>('/v1/agent/self');
    expect(controller.Meta['nova-ha-role']).toBe('controller');
    const pid = lab.agentProcess(COMPUTE, 'mgmt')?.pid;
    const { stdout } = await run('ps', ['-o', 'user=', '-p', String(pid)]);
    expect(stdout.trim()).toBe('consul');
  });

  it('a SIGSTOPped (hung) agent is seen as failed, and alive again once resumed', async () => {
    await lab.hangAgent(COMPUTE, 'mgmt');
    try {
      const detectedMs = await lab.waitForMember(COMPUTE, 'mgmt', 'failed', 20_000);
      expect(detectedMs).toBeLessThan(10_000);
      expect(await lab.memberHealth(COMPUTE, 'storage')).toBe('passing');
      console.log(`hung agent detected in ${detectedMs} ms`);
    } finally {
      await lab.resumeAgent(COMPUTE, 'mgmt');
    }
    await lab.waitForMember(COMPUTE, 'mgmt', 'alive', 60_000);
  });

  it('a stopped agent is failed (not left), and starts again', async () => {
    await lab.stopAgent(COMPUTE, 'tenant');
    expect(lab.agentProcess(COMPUTE, 'tenant')).toBeUndefined();
    await lab.waitForMember(COMPUTE, 'tenant', 'failed', 20_000);
    await lab.startAgent(COMPUTE, 'tenant');
    await lab.waitForMember(COMPUTE, 'tenant', 'alive', 60_000);
  });

  it('pick up a config fragment from their .d directory on consul reload over the socket', async () => {
    const fragment = join(agentConfigDir(lab.spec, COMPUTE, 'mgmt'), 'lab-test-check.json');
    const checks = (): Promise<Record<string, unknown>> => lab.consul(COMPUTE, 'mgmt').getOk<Record<string, unknown>>('/v1/agent/checks');
    writeFileSync(fragment, JSON.stringify({ checks: [{ id: 'lab-test', name: 'lab test', args: ['/bin/true'], interval: '10s' }] }));
    try {
      await run(CONSUL_BINARY, ['reload', `-http-addr=${lab.httpAddr(COMPUTE, 'mgmt')}`]);
      expect(Object.keys(await checks())).toContain('lab-test');
    } finally {
      rmSync(fragment, { force: true });
      await run(CONSUL_BINARY, ['reload', `-http-addr=${lab.httpAddr(COMPUTE, 'mgmt')}`]);
    }
    expect(Object.keys(await checks())).not.toContain('lab-test');
  });
});
