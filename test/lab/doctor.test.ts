/**
 * nova-ha doctor against the lab, run on ctl1 as the operator runs it: a healthy lab passes and
 * Nova is left exactly as it was (the dry requests change nothing); a wrong BMC password for one
 * compute is CRITICAL naming it; a cloud left with one usable compute cannot absorb that host,
 * CRITICAL with the shortfall. Needs the lab's Placement (its computes' providers) and the
 * nova-compute checks of this build (their repair key line).
 */
import { describe, expect, it } from 'vitest';
import { bootOn, cliOnController, configureNode } from '../../lab/scenario.js';
import type { LabServer, LabService } from '../../lab/nova.js';
import { scenarioLab } from './lab-context.js';
import { controllerSecret } from './support/fencing.js';

const env = scenarioLab({ fencing: 'ipmi' });

/** What the doctor must not change: a service's state without its heartbeat, a server without its timestamps. */
const serviceShape = (s: LabService) => ({ id: s.id, host: s.host, state: s.state, status: s.status, forced_down: s.forced_down, disabled_reason: s.disabled_reason });
const serverShape = (s: LabServer) => ({ id: s.id, status: s.status, task_state: s.task_state, host: s.host, metadata: s.metadata, fault: s.fault });

describe('nova-ha doctor', () => {
  it('a healthy lab: exit 0, every row OK, and Nova\'s services, servers and migrations unchanged', async () => {
    await bootOn(env.ctx, 'cmp3', 2, 'doctor-healthy');
    const nova = env.ctx.nova;
    const before = { services: (await nova.services()).map(serviceShape), servers: (await nova.servers()).map(serverShape), migrations: await nova.migrations() };
    const result = await cliOnController(env.ctx, ['doctor']);
    env.lab.note(`nova-ha doctor on a healthy lab:\n${result.stdout}`);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const [status, , header, ...rows] = result.stdout.trimEnd().split('\n');
    expect(status).toMatch(/^OK: all 7 readiness checks passed \| n_plus_one_hosts_short=0 .*bmc_failed=0 bmc_hosts=4 repair_key_mismatch=0 clock_skew_ms=\d+ clock_controllers=[1-3]$/);
    expect(header).toMatch(/^CHECK\s+STATUS\s+WHAT WAS FOUND$/);
    expect(rows.map((r) => r.split(/\s+/).slice(0, 2).join(' '))).toEqual(['config OK', 'n-plus-one OK', 'bmc OK', 'nova OK', 'consul OK', 'repair-keys OK', 'clocks OK']);
    // The output says which dry requests were sent and what Nova answered.
    expect(result.stdout).toMatch(/force down: allowed \(refused after the policy check\): PUT \/os-services\/[0-9a-f-]{36} \{\} at compute 2\.53 → HTTP 404/);
    expect(result.stdout).toMatch(/evacuate: allowed \(refused after the policy check\): POST \/servers\/[0-9a-f-]{36}\/action \{"evacuate":\{"force":true\}\} at compute 2\.29 → HTTP 400 "Can't force to a non-provided destination"/);
    const after = { services: (await nova.services()).map(serviceShape), servers: (await nova.servers()).map(serverShape), migrations: await nova.migrations() };
    expect(after).toEqual(before);
  });

  it('a wrong BMC password for cmp2: CRITICAL naming cmp2; the right one restored after', async () => {
    const wrong = controllerSecret(env.lab, 'doctor-wrong.password', 'not-the-Pass-0');
    configureNode(env.lab, 'ctl1', { fencing: 'ipmi', overrides: { 'ipmi:cmp2': { password_file: wrong } } });
    try {
      const result = await cliOnController(env.ctx, ['doctor']);
      env.lab.note(`nova-ha doctor with a wrong BMC password for cmp2:\n${result.stdout}`);
      expect(result.code, result.stdout + result.stderr).toBe(2);
      expect(result.stdout).toMatch(/^CRITICAL: .*bmc: 1 of 4 BMCs did not answer a power status read: cmp2 \(/);
      expect(result.stdout).toMatch(/bmc_failed=1 bmc_hosts=4/);
      expect(result.stdout).toMatch(/^bmc\s+CRITICAL\s+1 of 4 BMCs did not answer a power status read: cmp2 \(/m);
      expect(result.stdout).not.toContain('not-the-Pass-0');
    } finally {
      configureNode(env.lab, 'ctl1', { fencing: 'ipmi' });
    }
    const restored = await cliOnController(env.ctx, ['doctor']);
    expect(restored.stdout).toMatch(/^bmc\s+OK\s+4 BMCs answered a power status read/m);
  });

  it('only one compute enabled: n-plus-one CRITICAL with the shortfall; the others enabled again after', async () => {
    await bootOn(env.ctx, 'cmp1', 2, 'doctor-n1');
    const others = env.lab.computes.filter((h) => h !== 'cmp1');
    await Promise.all(others.map((h) => env.ctx.nova.disable(h, 'test: doctor N+1')));
    try {
      const result = await cliOnController(env.ctx, ['doctor']);
      env.lab.note(`nova-ha doctor with only cmp1 enabled:\n${result.stdout}`);
      expect(result.code, result.stdout + result.stderr).toBe(2);
      // Two lab.tiny instances (1 vCPU, 512 MiB, 1 GB disk each) with no other usable host.
      expect(result.stdout).toMatch(/^n-plus-one\s+CRITICAL\s+cmp1 \(2 instances, 2 vCPU, 1 GiB and 2 GB disk\) does not fit on the other usable hosts: room for 0 of 2 instances; 2 held: needs 2 vCPU, 1 GiB and 2 GB disk more \(no usable compute host\)/m);
      expect(result.stdout.split('\n')[0]).toMatch(/\| n_plus_one_hosts_short=1 n_plus_one_shortfall_vcpu=2 n_plus_one_shortfall_memory_mb=1024 n_plus_one_shortfall_disk_gb=2 /);
    } finally {
      await Promise.all(others.map((h) => env.ctx.nova.enable(h)));
    }
    expect((await env.ctx.nova.services()).filter((s) => s.status !== 'enabled')).toEqual([]);
  });
});
