/**
 * Fence agents and fence levels end to end, with Debian's fence-agents against the lab's BMCs:
 * fence_ipmilan against ipmi_sim as the fence method; a first level that fails (fence_ipmilan with
 * a wrong password) and a second that fences (ipmitool); and a secret scan while fencing through
 * fence_redfish against the lab's Redfish stand-in (lab/redfish-bmc.ts), an agent that keeps its
 * password out of every argv (fence_ipmilan does not: it runs ipmitool -P).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { scenarioLab } from './lab-context.js';
import { ArgvSampler, agentOverrides, controllerSecret, filesContaining, reportTiming, stepAt } from './support/fencing.js';
import { readPassword } from '../../lab/bmc.js';
import { redfishLog, redfishPassword, startRedfish, stopRedfish } from '../../lab/fencing.js';
import { bootOn, configureControllers, currentIncident, hang, serversById, stepsOf, until } from '../../lab/scenario.js';

const env = scenarioLab({ fencing: 'ipmi' });

async function expectEvacuated(ids: readonly string[], from: string): Promise<void> {
  const servers = await serversById(env.ctx);
  for (const id of ids) {
    expect(servers.get(id)?.status, id).toBe('ACTIVE');
    expect(servers.get(id)?.host, id).not.toBe(from);
  }
}

const IPMILAN_OPTIONS = 'username=nova-ha lanplus=1 cipher=3';
const fencedOrHeld = (i: { phase: string; hold?: { needsOperator: boolean } } | undefined): boolean => i?.phase === 'fenced' || (i?.phase === 'held' && i.hold?.needsOperator === true);

describe('fence agents and fence levels', () => {
  it('[fencing] method = agent with fence_ipmilan: a hung host is fenced through the agent (off verified by its status), then evacuated', async () => {
    const password = controllerSecret(env.lab, 'ipmi.password', readPassword(env.lab.spec));
    configureControllers(env.lab, { fencing: 'agent', overrides: agentOverrides(env.lab, ['ipmilan'], { ipmilan: { agent: 'fence_ipmilan', options: IPMILAN_OPTIONS, passwordFile: password } }) });
    const ids = await bootOn(env.ctx, 'cmp1', 3, 'agent-ipmilan');
    env.touch('cmp1');
    const failedAt = Date.now();
    await hang(env.ctx, 'cmp1');
    const fenced = await until('fenced', 240_000, () => currentIncident(env.ctx, 'cmp1'), fencedOrHeld);
    expect(fenced!.phase, JSON.stringify(fenced!.timeline.slice(-6))).toBe('fenced');
    const levels = fenced!.timeline.filter((e) => e.step === 'fence-level');
    expect(levels.map((e) => `${e.outcome}: ${e.detail}`)).toEqual([
      expect.stringMatching(/^started: level 1 of 1 \(ipmilan\): fence_ipmilan with .*\bip\b.*, password on stdin$/),
      expect.stringMatching(/^done: level 1 of 1 \(ipmilan\): fence_ipmilan (off sent; its status reported off|status already reported off)/),
    ]);
    expect(stepAt(fenced!, 'power-off', 'done')!).toBeLessThan(stepAt(fenced!, 'force-down', 'started')!);
    expect(stepAt(fenced!, 'force-down', 'done')!).toBeLessThan(stepAt(fenced!, 'evacuate', 'started')!);
    expect(await env.lab.powerStatus('cmp1')).toBe('off');
    await expectEvacuated(ids, 'cmp1');
    reportTiming('fence_ipmilan (agent level)', failedAt, fenced!);
  });

  it('levels: the first (fence_ipmilan, wrong password) cannot verify the power off, so the second (ipmitool) fences; every attempt is in the incident', async () => {
    const wrong = controllerSecret(env.lab, 'wrong.password', 'not-the-Pass-0');
    configureControllers(env.lab, { fencing: 'agent', overrides: agentOverrides(env.lab, ['badpass', 'ipmi'], { badpass: { agent: 'fence_ipmilan', options: IPMILAN_OPTIONS, passwordFile: wrong } }) });
    const ids = await bootOn(env.ctx, 'cmp2', 2, 'agent-levels');
    env.touch('cmp2');
    const failedAt = Date.now();
    await hang(env.ctx, 'cmp2');
    const fenced = await until('fenced', 240_000, () => currentIncident(env.ctx, 'cmp2'), fencedOrHeld);
    expect(fenced!.phase, JSON.stringify(fenced!.timeline.slice(-6))).toBe('fenced');
    const levels = fenced!.timeline.filter((e) => e.step === 'fence-level');
    expect(levels.map((e) => `${e.outcome}: ${e.detail}`)).toEqual([
      expect.stringMatching(/^started: level 1 of 2 \(badpass\): fence_ipmilan/),
      expect.stringMatching(/^failed: level 1 of 2 \(badpass\): fence_ipmilan status did not report off within 10000 ms \(.*Unable to obtain correct plug status/),
      expect.stringMatching(/^started: level 2 of 2 \(ipmi\): ipmitool to 198\.18\.4\.102$/),
      expect.stringMatching(/^done: level 2 of 2 \(ipmi\): power off sent; the BMC reported off/),
    ]);
    expect(fenced!.timeline.find((e) => e.step === 'power-off' && e.outcome === 'done')?.detail).toBe('verified by level 2 of 2 (ipmi)');
    expect(stepsOf(fenced!).indexOf('power-off:done')).toBeLessThan(stepsOf(fenced!).indexOf('evacuate:started'));
    expect(await env.lab.powerStatus('cmp2')).toBe('off');
    await expectEvacuated(ids, 'cmp2');
    // The wrong password is nowhere in the incident, the logs or the mail either.
    expect(JSON.stringify(fenced)).not.toContain('not-the-Pass-0');
    expect(filesContaining(env.lab, 'not-the-Pass-0')).toEqual([]);
    reportTiming('fence_ipmilan wrong password, then ipmitool (2 levels)', failedAt, fenced!);
  });

  it('secret scan: fencing through fence_redfish (password on its stdin) puts no password in any argv, log, incident or mail', async () => {
    const secret = redfishPassword(env.lab);
    const password = controllerSecret(env.lab, 'redfish.password', secret);
    await startRedfish(env.lab, 'cmp3');
    const ipmiPassword = readPassword(env.lab.spec);
    let sampler: ArgvSampler | undefined;
    try {
      configureControllers(env.lab, { fencing: 'agent', overrides: agentOverrides(env.lab, ['redfish'], { redfish: { agent: 'fence_redfish', options: 'username=nova-ha ssl_insecure=1 systems_uri=/redfish/v1/Systems/1', passwordFile: password } }) });
      const ids = await bootOn(env.ctx, 'cmp3', 2, 'agent-redfish');
      env.touch('cmp3');
      sampler = new ArgvSampler([secret, ipmiPassword], /fence_redfish/);
      const failedAt = Date.now();
      await hang(env.ctx, 'cmp3');
      const fenced = await until('fenced', 240_000, () => currentIncident(env.ctx, 'cmp3'), fencedOrHeld);
      await sampler.stop();
      expect(fenced!.phase, JSON.stringify(fenced!.timeline.slice(-6))).toBe('fenced');
      expect(fenced!.timeline.find((e) => e.step === 'fence-level' && e.outcome === 'done')?.detail).toMatch(/^level 1 of 1 \(redfish\): fence_redfish/);
      // The stand-in was asked by fence_redfish, with the right password, and powered the host off through the lab BMC.
      const requests = readFileSync(redfishLog(env.lab, 'cmp3'), 'utf8');
      expect(requests).toMatch(/POST \/redfish\/v1\/Systems\/1\/Actions\/ComputerSystem\.Reset 204 ForceOff/);
      expect(requests).not.toMatch(/ 401/);
      expect(await env.lab.powerStatus('cmp3')).toBe('off');
      await expectEvacuated(ids, 'cmp3');

      process.stderr.write(`secret scan: ${sampler.samples} samples of every process's argv, ${sampler.watched.size} fence_redfish processes seen, ${sampler.hits.length} hits\n`);
      expect(sampler.watched.size).toBeGreaterThan(0);
      expect(sampler.hits).toEqual([]);
      expect(JSON.stringify(fenced)).not.toContain(secret);
      expect(filesContaining(env.lab, secret)).toEqual([]);
      reportTiming('fence_redfish (agent level)', failedAt, fenced!);
    } finally {
      await sampler?.stop();
      await stopRedfish(env.lab, 'cmp3');
    }
  });
});
