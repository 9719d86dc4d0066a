/**
 * Bringing a whole lab up and taking it down. `down` trusts nothing from `up`: it works after a
 * crashed or half-finished `up`, from the prefix alone, and proves that nothing is left.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createPassword, writeBmcConfig } from './bmc.js';
import { bootstrapClusters, createNovaHaTokens, giveAgentTokens, waitForAgentSync } from './consul-acl.js';
import { CONSUL_BINARY, writeAgentFiles } from './consul-config.js';
import { clusterHealth, clusterLeader, ensureConsulUser, raftVoters, startAgentProcess, waitForAgentApi } from './consul-agents.js';
import { createNetwork, deleteNamespaces } from './network.js';
import { removeLabSudoers } from './nova-ha.js';
import { namespaceProcesses, processesMentioning, readRecords, recordProcess, isRunning, stopProcesses, type ProcessRecord } from './processes.js';
import { inParallel, run, sleep } from './shell.js';
import { labNamespacesOnMachine, readState, validateSpec, writeState } from './state.js';
import { bmcOf, CONSUL_NETWORKS, computeNames, controllerNames, LAB_RUN_ROOT, namespaceOf, runDir, type LabSpec } from './topology.js';

export type LabLog = (message: string) => void;

/** Computes powered on together while the lab comes up. */
const BOOT_WAVE = 5;

export interface UpReport {
  readonly networkMs: number;
  /** From the first agent started until every cluster had a leader and every member was alive. */
  readonly clustersMs: number;
  readonly totalMs: number;
}

export interface DownReport {
  readonly prefix: string;
  /** Recorded processes that were still running and were stopped. */
  readonly stoppedRecorded: readonly string[];
  /** Processes found in the lab's namespaces besides the recorded ones (e.g. started by Nova scripts). */
  readonly stoppedInNamespaces: number;
  readonly deletedNamespaces: readonly string[];
  /** Where the logs of the lab went, when it had any. */
  readonly logsDir: string | undefined;
  readonly durationMs: number;
}

export interface Leftovers {
  readonly namespaces: readonly string[];
  readonly processes: readonly { pid: number; args: string }[];
  readonly runDirExists: boolean;
}

export const lastLogsDir = (prefix: string): string => join(LAB_RUN_ROOT, `${prefix}-last-logs`);
export const downCommand = (prefix: string): string => `npx tsx lab/cli.ts down --prefix ${prefix}`;

async function requireTools(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the lab must run as root (it creates network namespaces): run it with sudo');
  if (!existsSync(CONSUL_BINARY)) throw new Error(`no consul binary at ${CONSUL_BINARY}: run scripts/deps.sh lab`);
  for (const tool of ['ipmi_sim', 'ipmitool', 'setpriv']) {
    const { code } = await run('sh', ['-c', `command -v ${tool}`], { allowFailure: true });
    if (code !== 0) throw new Error(`${tool} is not installed: run scripts/deps.sh lab`);
  }
}

async function refuseExisting(spec: LabSpec): Promise<void> {
  const existing = await labNamespacesOnMachine(spec.prefix);
  if (existing.length > 0) {
    throw new Error(`lab ${spec.prefix} already exists (${existing.length} namespaces, e.g. ${existing[0]}): take it down first with ${downCommand(spec.prefix)}`);
  }
  if (existsSync(runDir(spec))) throw new Error(`lab ${spec.prefix} left its run directory ${runDir(spec)} behind: clean it with ${downCommand(spec.prefix)}`);
}

function startBmc(spec: LabSpec, compute: string, files: { lanConf: string; emu: string; stateDir: string }): ProcessRecord {
  const bmc = bmcOf(compute);
  const logFd = openSync(join(runDir(spec), 'logs', `${bmc}-ipmi_sim.log`), 'a');
  try {
    // detached: the sim leads its own process group (stopped with kill -- -PGID). No setsid in
    // front of it: a group leader's setsid forks, and the recorded PID would be the wrong one.
    // -n: no console; with stdin on /dev/null and no -n the sim aborts.
    const child = spawn('ip', ['netns', 'exec', namespaceOf(spec, bmc), 'ipmi_sim', '-n', '-c', files.lanConf, '-f', files.emu, '-s', files.stateDir], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`cannot start ipmi_sim for ${bmc}`);
    return recordProcess(runDir(spec), `${bmc}-ipmi_sim`, child.pid, true);
  } finally {
    closeSync(logFd);
  }
}

/**
 * Wait until every Consul network has an agreed leader, every one of `expected` (all lab nodes by
 * default) is passing serfHealth in it and every controller votes in its Raft again (so the next
 * test can take any one server away without costing the cluster its quorum).
 */
export async function waitForHealthyClusters(spec: LabSpec, timeoutMs: number, log: LabLog, expected = [...controllerNames(), ...computeNames(spec)]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastReport = Date.now();
  let missing: string[] = [];
  while (Date.now() < deadline) {
    missing = [];
    for (const network of CONSUL_NETWORKS) {
      if (!(await clusterLeader(spec, network))) {
        missing.push(`${network}: no leader`);
        continue;
      }
      const health = await clusterHealth(spec, network);
      const notAlive = expected.filter((node) => health?.get(node) !== 'passing');
      if (notAlive.length > 0) missing.push(`${network}: ${notAlive.length} not alive (${notAlive.slice(0, 4).join(', ')}${notAlive.length > 4 ? ', ...' : ''})`);
      const voters = await raftVoters(spec, network);
      const notVoting = controllerNames().filter((controller) => !voters?.has(controller));
      if (notVoting.length > 0) missing.push(`${network}: ${notVoting.join(', ')} not voting in Raft yet`);
    }
    if (missing.length === 0) return;
    if (Date.now() - lastReport > 5_000) {
      log(`waiting for Consul: ${missing.join('; ')}`);
      lastReport = Date.now();
    }
    await sleep(250);
  }
  throw new Error(`lab ${spec.prefix}: Consul not healthy after ${timeoutMs} ms (${missing.join('; ')}): see logs in ${join(runDir(spec), 'logs')}`);
}

export interface BringUpOptions {
  /** How long to wait for leaders and members, in ms. */
  readonly timeoutMs?: number;
  /** Consul ACLs on every agent, denying by default; the lab bootstraps them and hands out tokens (lab/consul-acl.ts). */
  readonly acl?: boolean;
}

export async function bringUp(spec: LabSpec, log: LabLog, options: BringUpOptions = {}): Promise<UpReport> {
  const { timeoutMs = 300_000, acl = false } = options;
  validateSpec(spec);
  await requireTools();
  await refuseExisting(spec);
  const owner = await ensureConsulUser(log);
  const started = Date.now();
  writeState(spec, { acl }); // first, so that down knows this lab even if everything below fails
  mkdirSync(join(runDir(spec), 'logs'), { recursive: true });
  mkdirSync(join(runDir(spec), 'pids'), { recursive: true });

  await createNetwork(spec);
  const networkMs = Date.now() - started;
  log(`network of lab ${spec.prefix} (3 controllers, ${spec.computes} computes) up in ${networkMs} ms`);

  const password = createPassword(spec);
  for (const node of [...controllerNames(), ...computeNames(spec)]) {
    for (const network of CONSUL_NETWORKS) writeAgentFiles(spec, node, network, owner, { acl });
  }
  const bmcFiles = new Map(computeNames(spec).map((compute) => [compute, writeBmcConfig(spec, compute, password)]));

  const agentsStarted = Date.now();
  const servers = controllerNames().flatMap((controller) => CONSUL_NETWORKS.map((network) => ({ controller, network })));
  await inParallel(servers, 4, async ({ controller, network }) => {
    await startAgentProcess(spec, controller, network);
  });
  await inParallel(servers, 9, ({ controller, network }) => waitForAgentApi(spec, controller, network, 30_000));
  const deadline = Date.now() + timeoutMs;
  if (acl) {
    // Until bootstrapped, a cluster with ACLs answers nobody's health reads: before anything waits on them.
    await bootstrapClusters(spec, deadline);
    await giveAgentTokens(spec, controllerNames(), deadline);
    log(`ACLs of lab ${spec.prefix} bootstrapped (default deny); the controllers' agents have their tokens`);
  }
  await waitForHealthyClusters(spec, timeoutMs, log, controllerNames());
  // Each sim powers its compute on at once (startnow), which boots the compute's three agents.
  // Booting them in waves, each joining before the next starts, keeps two cores from drowning
  // in dozens of starting agents (all at once, 20 computes took a minute of false failures).
  const booted: string[] = [...controllerNames()];
  for (let first = 0; first < spec.computes; first += BOOT_WAVE) {
    const wave = computeNames(spec).slice(first, first + BOOT_WAVE);
    const sims = wave.map((compute) => startBmc(spec, compute, bmcFiles.get(compute)!));
    await sleep(200);
    const deadSim = sims.find((sim) => !isRunning(sim));
    if (deadSim) throw new Error(`${deadSim.name} exited at startup: see ${join(runDir(spec), 'logs', `${deadSim.name}.log`)}`);
    booted.push(...wave);
    await waitForHealthyClusters(spec, Math.max(deadline - Date.now(), 1_000), log, booted);
    if (acl) await giveAgentTokens(spec, wave, deadline);
  }
  if (acl) {
    await createNovaHaTokens(spec);
    // Each agent re-syncs by itself once it has its token: wait for it here, so that nova-ha (which
    // finds the computes by their node meta) and the first test see every node's role.
    await waitForAgentSync(spec, booted, deadline);
    log(`nova-ha's least-privilege tokens of lab ${spec.prefix} created (docs/consul-acl/); every agent synced with its own token`);
  }
  const clustersMs = Date.now() - agentsStarted;
  const totalMs = Date.now() - started;
  log(`lab ${spec.prefix} up in ${(totalMs / 1000).toFixed(1)} s: 3 Consul clusters have a leader and all ${3 + spec.computes} members alive ${(clustersMs / 1000).toFixed(1)} s after the first agent started`);
  return { networkMs, clustersMs, totalMs };
}

export async function findLeftovers(prefix: string): Promise<Leftovers> {
  const dir = runDir({ prefix, computes: 0 });
  return {
    namespaces: await labNamespacesOnMachine(prefix),
    processes: processesMentioning(`${dir}/`),
    runDirExists: existsSync(dir),
  };
}

/**
 * Nova's logs (nova/last-logs once its down.sh ran, else nova/log) and each node's nova-ha log
 * join the lab's own: a failed CI run leaves nothing else to read.
 */
function keepServiceLogs(dir: string, logsDir: string): void {
  const nova = ['last-logs', 'log'].map((name) => join(dir, 'nova', name)).find((path) => existsSync(path));
  if (nova) renameSync(nova, join(logsDir, 'nova'));
  for (const node of readdirSync(dir)) {
    const novaHa = join(dir, node, 'nova-ha', 'log');
    if (existsSync(novaHa)) renameSync(novaHa, join(logsDir, `${node}-nova-ha`));
  }
}

export async function tearDown(prefix: string, log: LabLog): Promise<DownReport> {
  validateSpec({ prefix, computes: 1 });
  if (process.getuid?.() !== 0) throw new Error('the lab must run as root (it deletes network namespaces): run it with sudo');
  const started = Date.now();
  const dir = runDir({ prefix, computes: 0 });
  const state = readState(prefix);
  if (!state && existsSync(dir)) log(`lab ${prefix}: no state file in ${dir} (a crashed up?): cleaning up from the prefix alone`);

  // Sims first: a running sim could power a host on again behind our back.
  const records = readRecords(dir).sort((a, b) => Number(b.group) - Number(a.group));
  const stoppedRecorded = (await stopProcesses(records, 3_000)).map((record) => record.name);

  // Then whatever else runs in the lab's namespaces: hosts in their own sessions, agents started
  // by hand, Nova services, stragglers of a crashed up.
  const namespaces = await labNamespacesOnMachine(prefix);
  let stoppedInNamespaces = 0;
  for (let round = 0; round < 3; round++) {
    const inside = (await Promise.all(namespaces.map(namespaceProcesses))).flat();
    if (inside.length === 0) break;
    stoppedInNamespaces += (await stopProcesses(inside, 2_000)).length;
  }
  await deleteNamespaces(namespaces);
  // nova-ha's install.sh grants repair commands in /etc/sudoers.d: outside the run dir, so removed by name.
  const sudoers = removeLabSudoers(prefix);
  if (sudoers.length > 0) log(`removed ${sudoers.length} sudoers drop-ins of lab ${prefix}`);

  let logsDir: string | undefined;
  if (existsSync(join(dir, 'logs'))) {
    logsDir = lastLogsDir(prefix);
    rmSync(logsDir, { recursive: true, force: true });
    renameSync(join(dir, 'logs'), logsDir);
    keepServiceLogs(dir, logsDir);
  }
  rmSync(dir, { recursive: true, force: true });

  const left = await findLeftovers(prefix);
  const problems = [
    left.namespaces.length > 0 ? `namespaces ${left.namespaces.join(', ')}` : '',
    left.processes.length > 0 ? `processes ${left.processes.map((p) => `${p.pid} (${p.args.slice(0, 60)})`).join(', ')}` : '',
    left.runDirExists ? `run directory ${dir}` : '',
  ].filter(Boolean);
  if (problems.length > 0) throw new Error(`lab ${prefix} down left ${problems.join('; ')} behind: inspect them, then run ${downCommand(prefix)} again`);
  const report: DownReport = { prefix, stoppedRecorded, stoppedInNamespaces, deletedNamespaces: namespaces, logsDir, durationMs: Date.now() - started };
  log(
    `lab ${prefix} down in ${report.durationMs} ms: stopped ${stoppedRecorded.length} recorded processes and ${stoppedInNamespaces} others, deleted ${namespaces.length} namespaces${logsDir ? `, logs kept in ${logsDir}` : ''}`,
  );
  return report;
}
