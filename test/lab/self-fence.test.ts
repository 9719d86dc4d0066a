/**
 * The watchdog self-fence fallback with a SIMULATED watchdog (lab/watchdog-sim.ts: these machines
 * have no watchdog device, and a real reset would take the machine down). A compute whose BMC and
 * every network are cut: with an armed (simulated) watchdog it resets itself, and nova-ha
 * evacuates it once its last contact + 2 x timeout + margin has passed, never before; without one
 * it is held for an operator, as before.
 */
import { describe, expect, it } from 'vitest';
import { scenarioLab } from './lab-context.js';
import { reportTiming, stepAt } from './support/fencing.js';
import { startService, startWatchdogSim, stopService, stopWatchdogSim, watchdogFifo, watchdogSimEvents } from '../../lab/fencing.js';
import { installOn } from '../../lab/nova-ha.js';
import { bootOn, closedIncidents, configureControllers, configureNode, currentIncident, serversById, stepsOf, until } from '../../lab/scenario.js';
import { CONSUL_NETWORKS } from '../../lab/topology.js';
import { WATCHDOG_CHECK } from '../../lib/systems/consul/names.js';

const env = scenarioLab({ fencing: 'ipmi' });
const TIMEOUT_MS = 6000;
const MARGIN_MS = 5000;
const WATCHDOG_CONTROLLERS = { fencing: 'ipmi' as const, overrides: { watchdog: { enabled: 'true', margin: `${MARGIN_MS / 1000}s` } } };

/** The host cut off entirely: its three networks at the switch, and its BMC's out-of-band link. */
async function cutOff(host: string): Promise<number> {
  await env.lab.cutLink(host.replace('cmp', 'bmc'), 'oob', 'switch');
  const at = Date.now();
  for (const network of CONSUL_NETWORKS) await env.lab.cutLink(host, network, 'switch');
  return at;
}

describe('watchdog self-fence fallback (simulated watchdog)', () => {
  it('BMC unreachable, simulated watchdog armed: the host resets itself within its timeout, and is evacuated after the safe time, not before', async () => {
    const host = 'cmp2';
    configureControllers(env.lab, WATCHDOG_CONTROLLERS);
    configureNode(env.lab, host, { fencing: 'ipmi', overrides: { watchdog: { enabled: 'true', device: watchdogFifo(env.lab, host), timeout: `${TIMEOUT_MS / 1000}s` } } });
    env.touch(host);
    try {
      // The simulated watchdog in place of the device; then install.sh adds the nova-ha-watchdog TTL
      // check and writes the service, which the lab starts as its unit says.
      await startWatchdogSim(env.lab, host, TIMEOUT_MS);
      expect(await installOn(env.lab.spec, host)).toMatch(/wrote \S+nova-ha-watchdog\.service/);
      await startService(env.lab, host, 'nova-ha-watchdog');
      const check = await until('the mgmt leader sees the watchdog armed', 60_000, async () => (await env.ctx.runtime.clusters.mgmt.healthNode(host)).find((c) => c.CheckID === WATCHDOG_CHECK), (c) => c?.Status === 'passing');
      expect(check!.Output).toMatch(/^armed timeout_ms=6000 device=\S+watchdog\.fifo simulation=yes/);
      expect(watchdogSimEvents(env.lab, host).map((e) => e.event)).toContain('armed');

      const ids = await bootOn(env.ctx, host, 2, 'self-fence');
      const cutAt = await cutOff(host);
      const reset = await until('the simulated watchdog resets the host', 60_000, () => watchdogSimEvents(env.lab, host).find((e) => e.event === 'reset'), Boolean);
      // The simulation logs the reset as it sends SIGTERM to the host's power keeper, which then
      // takes the host's processes down: off a moment later, as a real reset is not instant either.
      await until('the host off after the reset', 15_000, () => env.lab.hostIsOn(host), (on) => !on, 100);

      const fenced = await until('fenced', 240_000, () => currentIncident(env.ctx, host), (i) => i?.phase === 'fenced' || (i?.phase === 'held' && i.hold?.needsOperator === true));
      expect(fenced!.phase, JSON.stringify(fenced!.timeline.slice(-8))).toBe('fenced');
      expect(fenced!.cause).toBe('power-unknown');
      // The safe time the controllers used, from the watchdog level's record, and the arithmetic behind it.
      const level = fenced!.timeline.find((e) => e.step === 'fence-level' && e.outcome === 'done')!;
      expect(level.detail).toMatch(/^level 2 of 2 \(watchdog\): no BMC or agent confirmed the power off, but the host's watchdog was armed/);
      const [, lastContact, safeAt] = /last contact (\S+) \+ 2 x 6(?:\.0)?s \+ margin 5(?:\.0)?s = (\S+)\)/.exec(level.detail!)!;
      expect(Date.parse(safeAt!) - Date.parse(lastContact!)).toBe(2 * TIMEOUT_MS + MARGIN_MS);
      expect(Date.parse(lastContact!)).toBeGreaterThanOrEqual(cutAt);
      // Reset before the safe time; nothing evacuated before it.
      expect(reset!.at).toBeLessThan(Date.parse(safeAt!));
      expect(stepAt(fenced!, 'evacuate', 'started')!).toBeGreaterThanOrEqual(Date.parse(safeAt!));
      expect(stepsOf(fenced!)).toContain('fence-level:failed');
      const servers = await serversById(env.ctx);
      for (const id of ids) expect([servers.get(id)?.status, servers.get(id)?.host === host]).toEqual(['ACTIVE', false]);
      process.stderr.write(`self-fence: cut ${new Date(cutAt).toISOString()}, reset +${((reset!.at - cutAt) / 1000).toFixed(1)} s, last contact +${((Date.parse(lastContact!) - cutAt) / 1000).toFixed(1)} s, safe time +${((Date.parse(safeAt!) - cutAt) / 1000).toFixed(1)} s\n`);
      reportTiming('BMC unreachable, simulated watchdog', cutAt, fenced!);
    } finally {
      await stopService(env.lab, host, 'nova-ha-watchdog');
      await stopWatchdogSim(env.lab, host);
      await env.lab.restoreAllLinks(host.replace('cmp', 'bmc'));
      configureNode(env.lab, host, { fencing: 'ipmi' });
      // The host may be off: its agents pick the plain fragment up when it boots.
      await installOn(env.lab.spec, host, ['--no-reload']);
      configureControllers(env.lab, { fencing: 'ipmi' });
    }
  });

  it('BMC unreachable, no watchdog: held for an operator as before, nothing evacuated, however long it waits, and not fenced when its links come back', async () => {
    const host = 'cmp3';
    configureControllers(env.lab, WATCHDOG_CONTROLLERS);
    const ids = await bootOn(env.ctx, host, 1, 'no-watchdog');
    env.touch(host);
    try {
      const cutAt = await cutOff(host);
      const held = await until('held', 120_000, () => currentIncident(env.ctx, host), (i) => i?.phase === 'held' && i.cause === 'power-unknown');
      // Longer than the safe time of an armed watchdog would have been.
      await new Promise((resolve) => setTimeout(resolve, 2 * TIMEOUT_MS + MARGIN_MS + 10_000));
      const still = await currentIncident(env.ctx, host);
      expect([still!.phase, still!.cause, still!.id]).toEqual(['held', 'power-unknown', held!.id]);
      expect(stepsOf(still!).filter((s) => /^(power-off|fence-level|force-down|evacuate)/.test(s))).toEqual([]);
      expect(still!.hold!.reason).toMatch(/nothing is evacuated without verified fencing/);
      const servers = await serversById(env.ctx);
      for (const id of ids) expect(servers.get(id)?.host).toBe(host);
      expect(env.lab.hostIsOn(host)).toBe(true);
      process.stderr.write(`no watchdog: held ${((held!.openedAt - cutAt) / 1000).toFixed(1)} s after the cut, still held ${((Date.now() - cutAt) / 1000).toFixed(1)} s after it\n`);

      // The links back, then the BMC. Each cluster sees the host back on its own: the first network
      // back must not make a fence out of the others, which are coming back too (seen: fenced 11 s
      // after the links returned, its power-off through once the BMC answered).
      await env.lab.restoreAllLinks(host);
      await env.lab.waitForMemberEverywhere(host, 'alive', 60_000);
      await env.lab.restoreAllLinks(host.replace('cmp', 'bmc'));
      await new Promise((resolve) => setTimeout(resolve, 15_000));
      const after = (await currentIncident(env.ctx, host)) ?? (await closedIncidents(env.ctx, host)).find((i) => i.id === held!.id);
      expect(stepsOf(after!).filter((s) => /^(power-off|fence-level|force-down|evacuate)/.test(s))).toEqual([]);
      expect(env.lab.hostIsOn(host)).toBe(true);
      const back = await serversById(env.ctx);
      for (const id of ids) expect(back.get(id)?.host).toBe(host);
    } finally {
      // The host back first, the BMC after (when the test failed before doing so): a BMC reachable
      // again while the host still looks cut off (power on, failed everywhere) is a hung host, and
      // nova-ha rightly fences it, under the reset after this test.
      await env.lab.restoreAllLinks(host);
      await env.lab.waitForMemberEverywhere(host, 'alive', 60_000).catch(() => undefined);
      await env.lab.restoreAllLinks(host.replace('cmp', 'bmc'));
      configureControllers(env.lab, { fencing: 'ipmi' });
    }
  });
});
