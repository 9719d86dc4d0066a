/** The lab the global setup brought up, for one test file, and the setup every scenario file shares. */
import { afterAll, afterEach, beforeAll, inject } from 'vitest';
import { Lab } from '../../lab/lab.js';
import type { ConsulNetwork } from '../../lab/topology.js';
import { ConsulApi } from '../../lib/systems/consul/api.js';
import { connect } from '../../lib/systems/consul/connect.js';
import { Secret } from '../../lib/shared/secret.js';
import type { NovaHaLabOptions } from '../../lab/nova-ha.js';
import { cliOnController, configureControllers, configureNode, forgetHost, novaHaLab, resetHost, setBmcHangsOnPowerOff, setBootFails, untilHealthy, type NovaHaLab } from '../../lab/scenario.js';

/** nova-ha's client of one lab agent, as a runtime builds it; no token unless the lab runs ACLs. */
export function agentApi(lab: Lab, node: string, network: ConsulNetwork, token = ''): ConsulApi {
  return new ConsulApi(connect({ url: new URL(lab.httpAddr(node, network)), token: new Secret(token) }, 20_000));
}

export function testLab(): Promise<Lab> {
  return Lab.attach(inject('labPrefix'), (message) => process.stderr.write(`${new Date().toISOString().slice(11, 23)} lab: ${message}\n`));
}

export interface ScenarioLab {
  readonly lab: Lab;
  readonly ctx: NovaHaLab;
  /** Marks a host a test breaks: after the test it is put back as it was. */
  touch(...hosts: string[]): void;
}

/**
 * Registers the hooks of a scenario file: the controllers configured with `fencing` (and any
 * `overrides` of the lab config), every host healthy and forgotten by nova-ha before the first
 * test, each touched host reset after each test (test markers and config overrides removed, then
 * resetHost), the servers deleted, and the default config back at the end.
 */
export function scenarioLab(options: Pick<NovaHaLabOptions, 'fencing' | 'overrides'>, after?: (ctx: NovaHaLab) => Promise<void>): ScenarioLab {
  let lab: Lab | undefined;
  let ctx: NovaHaLab | undefined;
  const touched = new Set<string>();
  beforeAll(async () => {
    lab = await testLab();
    ctx = novaHaLab(lab);
    configureControllers(lab, options);
    // The previous file's last clean-up can still cost a host an incident after it looked healthy
    // (a nova-compute that reports late after heavy work): start from no history and no sent email.
    // A host a failed file left broken (fenced, links cut) is reset, so one failure cannot make
    // every later file skip.
    for (const host of lab.computes) {
      try {
        await untilHealthy(ctx, host, 60_000);
        await forgetHost(ctx, host);
      } catch (error) {
        lab.note(`${host} is not healthy at the start of this file (${(error as Error).message}): resetting it`);
        await putBack(ctx, host);
      }
    }
  });
  afterEach(async () => {
    for (const host of touched) await putBack(ctx!, host);
    touched.clear();
    await after?.(ctx!);
    const deleted = await ctx!.nova.deleteServers();
    if (deleted.restarted.length > 0) lab!.note(`servers still present a minute after deleting them: restarted nova-compute on ${deleted.restarted.join(', ')}`);
    if (deleted.deleted > 0) lab!.note(`deleted ${deleted.deleted} servers in ${deleted.seconds} s`);
  });
  afterAll(() => configureControllers(lab!, { fencing: 'ipmi' }));
  return {
    get lab() {
      return lab!;
    },
    get ctx() {
      return ctx!;
    },
    touch: (...hosts) => hosts.forEach((h) => touched.add(h)),
  };
}

/** A compute as the lab made it: test markers and config overrides removed, then resetHost. */
async function putBack(ctx: NovaHaLab, host: string): Promise<void> {
  setBootFails(ctx, host, false);
  setBmcHangsOnPowerOff(ctx, host, false);
  configureNode(ctx.lab, host, { fencing: 'ipmi' });
  await resetHost(ctx, host);
}

/**
 * For files that test the lab itself (links, agents, power) on one compute: nova-ha is installed
 * and would act on what they break (a power-off, a hung agent), so the host is in nova-ha
 * maintenance for the file, and handed back clean.
 */
export function heldFromNovaHa(host: string): void {
  let ctx: NovaHaLab | undefined;
  beforeAll(async () => {
    ctx = novaHaLab(await testLab());
    const on = await cliOnController(ctx, ['maintenance', 'on', host, '--reason', 'lab test of the lab itself']);
    if (on.code !== 0) throw new Error(`nova-ha maintenance on ${host}: ${on.stderr}`);
  });
  afterAll(async () => {
    const off = await cliOnController(ctx!, ['maintenance', 'off', host]);
    if (off.code !== 0) throw new Error(`nova-ha maintenance off ${host}: ${off.stderr}`);
    await forgetHost(ctx!, host);
  });
}
