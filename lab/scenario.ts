/**
 * Driving failure scenarios in a lab with nova-ha installed, from the root namespace, for the lab
 * tests, the demo and the benchmarks: nova-ha's KV state read with its own code over the
 * controllers' unix sockets, the mailbox, failure injection (hangs, hosts that do not boot, BMCs
 * that freeze), waits, and a reset that puts a host back as it was.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, type Config } from '../lib/config/load.js';
import type { Incident } from '../lib/state/incident.js';
import { IncidentStore } from '../lib/state/incident-store.js';
import { silentLogger } from '../lib/shared/log.js';
import { KEYS } from '../lib/state/records.js';
import { createRuntime, type Runtime } from '../lib/recovery/runtime.js';
import { readStatus } from '../lib/operator/status.js';
import { agentSocket } from './consul-config.js';
import type { Lab } from './lab.js';
import { readMailbox, type StoredMail } from './mail.js';
import { NovaLab, type BootOptions, type LabServer } from './nova.js';
import { namespaceProcesses } from './processes.js';
import { installedLib, mailDir, novaHaConfig, renderConfig, writeNodeConfig, type NovaHaLabOptions } from './nova-ha.js';
import { CONSUL_NETWORKS, controllerNames, nodeDir, runDir } from './topology.js';

export interface NovaHaLab {
  readonly lab: Lab;
  readonly nova: NovaLab;
  /** nova-ha's runtime in the root namespace, talking to ctl1's agents over their unix sockets. */
  readonly runtime: Runtime;
  readonly incidents: IncidentStore;
}

/** nova-ha's view of the lab as `observer` (a controller) reads it. */
export function novaHaLab(lab: Lab, observer = 'ctl1'): NovaHaLab {
  const spec = lab.spec;
  const base = renderConfig(spec, observer, { fencing: 'ipmi' });
  const sockets = CONSUL_NETWORKS.map((n) => `${n}_address = unix://${agentSocket(spec, observer, n)}`).join('\n');
  const { config } = parseConfig(`${base}\n[consul]\n${sockets}\n`.replace(/^log_file = .*$/m, 'log_file ='));
  const runtime = createRuntime(config as Config, 'test', silentLogger);
  return { lab, nova: new NovaLab(spec), runtime, incidents: new IncidentStore(runtime.kv) };
}

/** Rewrites every controller's config (handlers read it on every run: no reload needed). */
export function configureControllers(lab: Lab, options: NovaHaLabOptions): void {
  for (const controller of controllerNames()) writeNodeConfig(lab.spec, controller, renderConfig(lab.spec, controller, options));
}

export async function until<T>(what: string, timeoutMs: number, read: () => Promise<T> | T, done: (value: T) => boolean, pollMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(value, (_k, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v)).slice(0, 600)}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

export const currentIncident = async (ctx: NovaHaLab, host: string): Promise<Incident | undefined> => (await ctx.incidents.current(host))?.value;
export const closedIncidents = (ctx: NovaHaLab, host: string): Promise<Incident[]> => ctx.incidents.history(host);

/** Every mail received since `since` (ms), optionally only for one host. */
export function mailSince(ctx: NovaHaLab, since: number, host?: string): StoredMail[] {
  return readMailbox(mailDir(ctx.lab.spec)).filter((m) => m.at >= since && (!host || m.subject.includes(` ${host}:`)));
}

/** The steps of an incident's timeline, in order, as "step:outcome". */
export const stepsOf = (incident: Incident): string[] => incident.timeline.map((e) => `${e.step}:${e.outcome}`);

/**
 * nova-ha's KV state of one host removed (incident, history, record, lock, maintenance, dedupe
 * markers), then waits until nova-ha sees the host healthy again with no incident.
 */
export async function forgetHost(ctx: NovaHaLab, host: string): Promise<void> {
  const api = ctx.runtime.clusters.mgmt;
  for (const key of [KEYS.incident(host), KEYS.host(host), KEYS.lock(host), KEYS.maintenance(host)]) await api.kvDelete(ctx.runtime.kv.key(key));
  await api.client.kv.del({ key: ctx.runtime.kv.key(KEYS.historyOf(host)), recurse: true });
  await api.client.kv.del({ key: ctx.runtime.kv.key('notify'), recurse: true });
  await untilHealthy(ctx, host, 120_000);
}

/**
 * Puts a compute back as a test found it: links up, agents running, powered on, nova-compute
 * running and enabled in Nova, no nova-ha state about it. Waits until nova-ha sees it healthy.
 */
export async function resetHost(ctx: NovaHaLab, host: string): Promise<void> {
  const { lab, nova } = ctx;
  const index = Number(host.replace('cmp', ''));
  const phases = phaseClock();
  const startedAt = Date.now();
  // A hung host (SIGSTOPped processes) that nobody fenced is still frozen: thaw it first.
  for (const p of await namespaceProcesses(lab.namespace(host))) process.kill(p.pid, 'SIGCONT');
  await lab.restoreAllLinks(host);
  if (!lab.hostIsOn(host)) {
    // Booting starts the host's agents itself: starting them here too would race it.
    await lab.powerOn(host);
  } else {
    for (const network of CONSUL_NETWORKS) {
      const agent = lab.agentProcess(host, network);
      if (agent) await lab.resumeAgent(host, network);
      else await lab.startAgent(host, network);
    }
  }
  await lab.waitForMemberEverywhere(host, 'alive', 60_000);
  phases.end('alive');
  await nova.startCompute(index);
  // Un-forcing is refused until a nova-compute started after the evacuation has completed its
  // evacuation migrations: restart one that ran through it. One this reset started (the host's
  // power-on starts it) has just done so, and a second start would cost as much as the first.
  const ranThrough = (nova.computeStartedAt(index) ?? Infinity) < startedAt;
  if (ranThrough && (await nova.services()).find((s) => s.host === host)?.forced_down) await nova.restartCompute(index);
  phases.end('nova-compute');
  await until(`${host} un-forced in Nova`, 120_000, async () => {
    const service = (await nova.services()).find((s) => s.host === host);
    if (service?.forced_down) await nova.forceDown(host, false).catch(() => undefined);
    return (await nova.services()).find((s) => s.host === host);
  }, (service) => service?.forced_down === false, 2000);
  // Enabled only once the service is up: Nova syncs Placement's COMPUTE_STATUS_DISABLED trait
  // only with a compute it sees up, and otherwise leaves it until the compute's next periodic
  // resource update (a minute): a boot right after the reset found no allocation candidates.
  await waitComputeUp(ctx, host, index);
  const service = (await nova.services()).find((s) => s.host === host);
  if (service?.status === 'disabled') await nova.enable(host);
  phases.end('up in Nova');
  // The reset's own restarts can still open an incident: forgetHost lets nova-ha settle before the next test.
  await forgetHost(ctx, host);
  phases.end('healthy in nova-ha');
  lab.note(`reset ${host} in ${phases.summary()}`);
}

/**
 * Until Nova sees cmpN's running nova-compute up, on a report of its own (a restarted one's
 * predecessor keeps it up a few seconds, then it is down until its first report: a test started
 * in between meets a host Nova calls down). A nova-compute cut off from its message bus for a
 * minute can stay silent for minutes after the links return (oslo.messaging still waits on the
 * dead connection; seen in CI: not up 120 s after the no-watchdog test's cut): restarted once,
 * as an operator would, when it has not reported within 45 s.
 */
async function waitComputeUp(ctx: NovaHaLab, host: string, index: number): Promise<void> {
  const { lab, nova } = ctx;
  if (await nova.waitReportedByRunning(index, 45).then(() => true, () => false)) return;
  lab.note(`${host}: nova-compute not up in Nova 45 s into the reset; restarting it`);
  await nova.restartCompute(index);
  await nova.waitReportedByRunning(index, 120);
}

/** How long each phase of a multi-step helper took, for the lab's log. */
function phaseClock(): { end(phase: string): void; summary(): string } {
  const started = performance.now();
  let last = started;
  const parts: string[] = [];
  return {
    end(phase) {
      const now = performance.now();
      parts.push(`${phase} ${((now - last) / 1000).toFixed(1)}`);
      last = now;
    },
    summary: () => `${((performance.now() - started) / 1000).toFixed(1)} s (${parts.join(', ')})`,
  };
}

/** Until nova-ha sees the host alive everywhere, nova-compute up on the node and in Nova, not in maintenance, with no incident. */
export async function untilHealthy(ctx: NovaHaLab, host: string, timeoutMs = 60_000): Promise<void> {
  await until(`${host} healthy with no incident`, timeoutMs, async () => (await readStatus(ctx.runtime)).hosts.find((h) => h.host === host), (h) =>
    h !== undefined && Object.values(h.networks).every((s) => s === 'alive') && h.novaCompute.node === 'up' && h.novaCompute.api === 'up' && h.incident === null && h.maintenance !== 'unknown' && !h.maintenance.on);
}

/** Boots count servers, all on host (of the flavor and image named in options, else the lab's own): the other computes are disabled in Nova meanwhile. */
export async function bootOn(ctx: NovaHaLab, host: string, count: number, name: string, options: BootOptions = {}): Promise<string[]> {
  const others = ctx.lab.computes.filter((h) => h !== host);
  const started = performance.now();
  await Promise.all(others.map((other) => ctx.nova.disable(other, 'test: placing servers')));
  try {
    // The lab's cloud, not nova-ha, is what a failed boot tests: once (seen in a full run: both
    // servers ERROR without a fault, 4 s after the boot), the failure is noted with what Nova
    // logged about it, and the boot made again.
    for (let attempt = 1; ; attempt++) {
      const booted = await ctx.nova.boot(count, name, options);
      if (booted.active === count) return [...booted.servers];
      const logged = ctx.nova.logLinesAbout(booted.errors.map((e) => e.id));
      const failure = `boot ${name}: ${booted.active} of ${count} ACTIVE: ${JSON.stringify(booted.errors).slice(0, 300)}${logged.length > 0 ? `; Nova logged:\n${logged.join('\n')}` : '; Nova logged no warning about them'}`;
      if (attempt === 2) throw new Error(failure);
      ctx.lab.note(`${failure}\nbooting them again`);
      await ctx.nova.deleteServers(booted.servers);
    }
  } finally {
    await Promise.all(others.map((other) => ctx.nova.enable(other)));
    ctx.lab.note(`booted ${count} ${name} on ${host} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}

/** Marks a compute whose next power-on boots nothing (the BMC says on; no agent, no nova-compute). */
export function setBootFails(ctx: NovaHaLab, host: string, fails: boolean): void {
  const marker = join(nodeDir(ctx.lab.spec, host), 'boot-fails');
  if (fails) writeFileSync(marker, 'test\n');
  else rmSync(marker, { force: true });
}

/** Runs the installed nova-ha CLI inside ctl1, as an operator on a controller would. */
export async function cliOnController(ctx: NovaHaLab, args: readonly string[], timeoutMs = 600_000): Promise<{ code: number; stdout: string; stderr: string }> {
  const cli = join(installedLib(ctx.lab.spec), 'cli', 'nova-ha.js');
  return ctx.lab.exec('ctl1', [process.execPath, cli, '--config', novaHaConfig(ctx.lab.spec, 'ctl1'), ...args], { allowFailure: true, timeoutMs });
}

/** Marks a compute whose BMC freezes when it is told to power off (the host stays on). */
export function setBmcHangsOnPowerOff(ctx: NovaHaLab, host: string, hangs: boolean): void {
  const marker = join(nodeDir(ctx.lab.spec, host), 'bmc-hangs-on-power-off');
  if (hangs) writeFileSync(marker, 'test\n');
  else rmSync(marker, { force: true });
}

/** Thaws a BMC frozen by setBmcHangsOnPowerOff and powers its host on cleanly. */
export async function thawBmc(ctx: NovaHaLab, host: string): Promise<void> {
  setBmcHangsOnPowerOff(ctx, host, false);
  const bmc = host.replace('cmp', 'bmc');
  const [sim] = readFileSync(join(runDir(ctx.lab.spec), 'pids', `${bmc}-ipmi_sim.pid`), 'utf8').trim().split(/\s+/);
  process.kill(Number(sim), 'SIGCONT');
  // The thawed BMC finishes the power-off it was given; then nothing of the old host may remain.
  await until(`${host} powered off by its thawed BMC`, 20_000, () => ctx.lab.powerStatus(host), (state) => state === 'off', 1000);
  const leftovers = await namespaceProcesses(ctx.lab.namespace(host));
  for (const p of leftovers) process.kill(p.pid, 'SIGKILL');
}

/** Servers by id, as Nova sees them now. */
export async function serversById(ctx: NovaHaLab): Promise<Map<string, LabServer>> {
  return new Map((await ctx.nova.servers()).map((s) => [s.id, s]));
}

/** Rewrites one node's config with overrides (its handlers read it on every run). */
export function configureNode(lab: Lab, node: string, options: NovaHaLabOptions): void {
  writeNodeConfig(lab.spec, node, renderConfig(lab.spec, node, options));
}

/** SIGSTOP every process of a compute but its power keeper: a hung host (the BMC still says on). */
export async function hang(ctx: NovaHaLab, host: string): Promise<void> {
  const keeper = Number(readFileSync(join(runDir(ctx.lab.spec), 'pids', `${host}-host.pid`), 'utf8').split(/\s+/)[0]);
  for (const p of await namespaceProcesses(ctx.lab.namespace(host))) if (p.pid !== keeper) process.kill(p.pid, 'SIGSTOP');
}
