/**
 * The lab as tests, benchmarks and the demo see it: one object per running lab, found by prefix.
 * Everything that breaks something (links, agents, power) has its undo next to it, so a test can
 * restore what it broke.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { powerControl, powerStatus, type PowerState } from './bmc.js';
import { labHasAcl } from './consul-acl.js';
import { agentHttpAddr, agentName } from './consul-config.js';
import type { ConsulHttp } from './consul-http.js';
import {
  clusterHealth,
  clusterLeader,
  consulClient,
  killAgentProcess,
  memberHealth,
  runningAgent,
  signalAgent,
  startAgentProcess,
  stopAgentProcess,
  waitForAgentApi,
  type MemberHealth,
} from './consul-agents.js';
import { assertLabRoute, type CheckedRoute } from './guard.js';
import { bringUp, downCommand, findLeftovers, tearDown, waitForHealthyClusters, type DownReport, type LabLog, type Leftovers, type UpReport } from './lifecycle.js';
import { linkState, setLink, type LinkSide } from './network.js';
import { isRunning, namespaceProcesses, readRecord, readRecords, residentBytes, type ProcessRecord } from './processes.js';
import { runInNamespace, sleep, type RunOptions, type RunResult } from './shell.js';
import { labNamespacesOnMachine, readState, validateSpec } from './state.js';
import { bmcOf, CONSUL_NETWORKS, computeNames, controllerNames, namespaceOf, networksOf, runDir, type ConsulNetwork, type LabNetwork, type LabSpec } from './topology.js';

export type { DownReport, LabLog, Leftovers, LinkSide, MemberHealth, PowerState, UpReport };

export const DEFAULT_PREFIX = 'nh';

export interface UpOptions {
  readonly prefix?: string;
  readonly computes: number;
  readonly log?: LabLog;
  /** Leave a lab that failed to come up as it is, for inspection; by default it is taken down (logs are kept). */
  readonly keepOnFailure?: boolean;
  /** How long to wait for leaders and members, in ms (default 300 000). */
  readonly timeoutMs?: number;
  /**
   * Consul ACLs on every agent (default deny), bootstrapped by the lab, with agent tokens and
   * nova-ha's least-privilege tokens (docs/consul-acl/) that installNovaHa puts into nova-ha.conf.
   */
  readonly acl?: boolean;
}

export type MemberState = 'alive' | 'failed';

export interface AgentStatus {
  readonly node: string;
  readonly network: ConsulNetwork;
  readonly pid: number | undefined;
}

export interface LabStatus {
  readonly prefix: string;
  readonly computes: number;
  readonly namespaces: number;
  readonly expectedNamespaces: number;
  readonly recordedRunning: number;
  readonly recordedTotal: number;
  /** Consul ACLs on (Lab.up({ acl: true })). */
  readonly acl: boolean;
  readonly clusters: readonly { network: ConsulNetwork; leader: string | undefined; members: Record<string, MemberHealth> | undefined }[];
}

const quiet: LabLog = () => undefined;

export class Lab {
  readonly computes: readonly string[];
  readonly controllers: readonly string[] = controllerNames();

  private constructor(
    readonly spec: LabSpec,
    private readonly log: LabLog,
    /** Timings of `up`, when this object brought the lab up. */
    readonly upReport?: UpReport,
  ) {
    this.computes = computeNames(spec);
  }

  /** Bring a new lab up; refuses when one with this prefix exists (take it down first). */
  static async up(options: UpOptions): Promise<Lab> {
    const spec: LabSpec = { prefix: options.prefix ?? DEFAULT_PREFIX, computes: options.computes };
    const log = options.log ?? quiet;
    validateSpec(spec);
    let report: UpReport;
    try {
      report = await bringUp(spec, log, { ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }), acl: options.acl === true });
    } catch (error) {
      const refused = (error as Error).message.includes(downCommand(spec.prefix));
      if (!refused && !options.keepOnFailure) {
        log(`lab ${spec.prefix} failed to come up, taking it down (logs go to lab/run/${spec.prefix}-last-logs)`);
        await tearDown(spec.prefix, log).catch((downError: Error) => log(`cleanup after the failed up failed too: ${downError.message}`));
      }
      throw error;
    }
    return new Lab(spec, log, report);
  }

  /** The running lab with this prefix. */
  static async attach(prefix: string, log: LabLog = quiet): Promise<Lab> {
    const state = readState(prefix);
    if (!state) throw new Error(`no lab ${prefix} here (no ${join(runDir({ prefix, computes: 0 }), 'lab.json')}): start one with npx tsx lab/cli.ts up --prefix ${prefix}`);
    const spec: LabSpec = { prefix, computes: state.computes };
    validateSpec(spec);
    const present = await labNamespacesOnMachine(prefix);
    if (present.length < state.namespaces.length) {
      throw new Error(`lab ${prefix} is incomplete (${present.length} of ${state.namespaces.length} namespaces): clean it with ${downCommand(prefix)}`);
    }
    return new Lab(spec, log);
  }

  /** Whether anything of a lab with this prefix is on the machine (namespaces or run directory). */
  static async exists(prefix: string): Promise<boolean> {
    return (await labNamespacesOnMachine(prefix)).length > 0 || existsSync(runDir({ prefix, computes: 0 }));
  }

  /** Take a lab down by prefix, also after a crashed up; throws if anything is left. */
  static down(prefix: string, log: LabLog = quiet): Promise<DownReport> {
    return tearDown(prefix, log);
  }

  static leftovers(prefix: string): Promise<Leftovers> {
    return findLeftovers(prefix);
  }

  get prefix(): string {
    return this.spec.prefix;
  }

  get runDir(): string {
    return runDir(this.spec);
  }

  down(): Promise<DownReport> {
    return tearDown(this.prefix, this.log);
  }

  /** A line in the lab's log, for what a scenario helper did to the lab (e.g. how long a reset took). */
  note(message: string): void {
    this.log(message);
  }

  namespace(node: string): string {
    this.requireNode(node);
    return namespaceOf(this.spec, node);
  }

  // ---- links -------------------------------------------------------------------------------

  /** Cut one network link: on the node's side (its device goes down) or the switch's (its port goes down, the node sees no carrier). */
  async cutLink(node: string, network: LabNetwork, side: LinkSide = 'host'): Promise<void> {
    this.requireNode(node);
    await setLink(this.spec, node, network, side, 'down');
    this.log(`cut ${node} ${network} (${side} side)`);
  }

  async restoreLink(node: string, network: LabNetwork, side: LinkSide = 'host'): Promise<void> {
    this.requireNode(node);
    await setLink(this.spec, node, network, side, 'up');
    this.log(`restored ${node} ${network} (${side} side)`);
  }

  /** Bring every end of every link of a node up again (for tests cleaning up after themselves). */
  async restoreAllLinks(node: string): Promise<void> {
    for (const network of networksOf(node)) {
      for (const side of ['host', 'switch'] as const) {
        if ((await linkState(this.spec, node, network, side)) === 'down') await this.restoreLink(node, network, side);
      }
    }
  }

  linkState(node: string, network: LabNetwork, side: LinkSide = 'host'): Promise<'up' | 'down'> {
    this.requireNode(node);
    return linkState(this.spec, node, network, side);
  }

  // ---- Consul agents -----------------------------------------------------------------------

  /** The agent's process while it runs. */
  agentProcess(node: string, network: ConsulNetwork): ProcessRecord | undefined {
    this.requireConsulNode(node);
    return runningAgent(this.spec, node, network);
  }

  /** SIGTERM: a clean stop, but without leaving (leave_on_terminate is false), so the others see it fail. */
  async stopAgent(node: string, network: ConsulNetwork): Promise<void> {
    this.requireConsulNode(node);
    await stopAgentProcess(this.spec, node, network);
    this.log(`stopped Consul agent ${node}/${network}`);
  }

  /** SIGSTOP: the agent hangs, as on a frozen host. Undo with resumeAgent. */
  async hangAgent(node: string, network: ConsulNetwork): Promise<void> {
    this.requireConsulNode(node);
    await signalAgent(this.spec, node, network, 'SIGSTOP');
    this.log(`hung Consul agent ${node}/${network}`);
  }

  async resumeAgent(node: string, network: ConsulNetwork): Promise<void> {
    this.requireConsulNode(node);
    await signalAgent(this.spec, node, network, 'SIGCONT');
    this.log(`resumed Consul agent ${node}/${network}`);
  }

  async killAgent(node: string, network: ConsulNetwork): Promise<void> {
    this.requireConsulNode(node);
    await killAgentProcess(this.spec, node, network);
    this.log(`killed Consul agent ${node}/${network}`);
  }

  /** Start a stopped agent and wait until its API answers. A compute must be powered on. */
  async startAgent(node: string, network: ConsulNetwork): Promise<ProcessRecord> {
    this.requireConsulNode(node);
    if (node.startsWith('cmp') && !this.hostIsOn(node)) throw new Error(`${node} is powered off: power it on (lab.powerOn) instead of starting its agents by hand`);
    const record = await startAgentProcess(this.spec, node, network);
    await waitForAgentApi(this.spec, node, network, 30_000);
    this.log(`started Consul agent ${node}/${network} (pid ${record.pid})`);
    return record;
  }

  /** For the consul CLI: `consul members -http-addr=${lab.httpAddr('ctl1', 'mgmt')}`. */
  httpAddr(node: string, network: ConsulNetwork): string {
    this.requireConsulNode(node);
    return agentHttpAddr(this.spec, node, network);
  }

  /** HTTP client for one agent, over its unix socket. */
  consul(node: string, network: ConsulNetwork): ConsulHttp {
    this.requireConsulNode(node);
    return consulClient(this.spec, node, network);
  }

  // ---- power -------------------------------------------------------------------------------

  /** Whether the compute's host process (the one its BMC watches) runs: the lab's own view, no IPMI. */
  hostIsOn(compute: string): boolean {
    this.requireCompute(compute);
    const record = readRecord(this.runDir, `${compute}-host`);
    return record !== undefined && isRunning(record);
  }

  /** Chassis power status through the BMC, with real ipmitool from a controller namespace. */
  powerStatus(compute: string, from = 'ctl1'): Promise<PowerState> {
    this.requireCompute(compute);
    return powerStatus(this.spec, compute, from);
  }

  /** Power off through the BMC (a hard power cut: every process of the compute is SIGKILLed) and wait until the host is off. */
  async powerOff(compute: string, from = 'ctl1'): Promise<void> {
    this.requireCompute(compute);
    await powerControl(this.spec, compute, 'off', from);
    await this.waitForHost(compute, false, 15_000);
    // The host process drops its record before it exits itself: off is when nothing runs there.
    const deadline = Date.now() + 5_000;
    while ((await namespaceProcesses(this.namespace(compute))).length > 0) {
      if (Date.now() > deadline) throw new Error(`${compute}: processes still run in ${this.namespace(compute)} 5 s after its power cut: see ${join(this.runDir, 'logs', `${compute}-power.log`)}`);
      await sleep(20);
    }
    this.log(`powered ${compute} off`);
  }

  /** Power on through the BMC and wait until the host process runs (its agents then start and join). */
  async powerOn(compute: string, from = 'ctl1'): Promise<void> {
    this.requireCompute(compute);
    await powerControl(this.spec, compute, 'on', from);
    await this.waitForHost(compute, true, 15_000);
    this.log(`powered ${compute} on`);
  }

  private async waitForHost(compute: string, on: boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.hostIsOn(compute) !== on) {
      if (Date.now() > deadline) throw new Error(`${compute} is still ${on ? 'off' : 'on'} ${timeoutMs} ms after power ${on ? 'on' : 'off'}: see ${join(this.runDir, 'logs', `${compute}-power.log`)}`);
      await sleep(20);
    }
  }

  // ---- commands ------------------------------------------------------------------------------

  /** Run a command inside a node's namespace. It is the caller's traffic: check its targets with lab.checkRoute first. */
  exec(node: string, argv: readonly string[], options?: RunOptions): Promise<RunResult> {
    return runInNamespace(this.namespace(node), argv, options);
  }

  /** The network guard for traffic from `node` to `address`; throws unless it goes out a lab device. */
  checkRoute(node: string, address: string): Promise<CheckedRoute> {
    return assertLabRoute(this.namespace(node), address);
  }

  // ---- Consul state, as the leader sees it ---------------------------------------------------

  leader(network: ConsulNetwork): Promise<string | undefined> {
    return clusterLeader(this.spec, network);
  }

  /** serfHealth of `node` in `network` from a consistent read (the leader's data). */
  memberHealth(node: string, network: ConsulNetwork): Promise<MemberHealth> {
    this.requireConsulNode(node);
    return memberHealth(this.spec, node, network);
  }

  clusterHealth(network: ConsulNetwork): Promise<Map<string, MemberHealth> | undefined> {
    return clusterHealth(this.spec, network);
  }

  /** Wait until every network has an agreed leader. Returns the time it took, in ms. */
  async waitForLeaders(timeoutMs = 60_000): Promise<number> {
    const started = Date.now();
    for (;;) {
      const leaders = await Promise.all(CONSUL_NETWORKS.map((network) => this.leader(network)));
      if (leaders.every(Boolean)) return Date.now() - started;
      if (Date.now() - started > timeoutMs) {
        const missing = CONSUL_NETWORKS.filter((_, i) => !leaders[i]);
        throw new Error(`lab ${this.prefix}: no agreed leader in ${missing.join(', ')} after ${timeoutMs} ms: see ${join(this.runDir, 'logs')}`);
      }
      await sleep(100);
    }
  }

  /**
   * Wait until the leader's health data shows `node` alive (serfHealth passing) or failed
   * (critical) in `network`. Returns the time it took, in ms. Polls every 50 ms.
   */
  async waitForMember(node: string, network: ConsulNetwork, state: MemberState, timeoutMs = 60_000): Promise<number> {
    this.requireConsulNode(node);
    const wanted: MemberHealth = state === 'alive' ? 'passing' : 'critical';
    const started = Date.now();
    for (;;) {
      const seen = await memberHealth(this.spec, node, network);
      if (seen === wanted) return Date.now() - started;
      if (Date.now() - started > timeoutMs) throw new Error(`${node} is not ${state} in ${network} after ${timeoutMs} ms (serfHealth: ${seen})`);
      await sleep(50);
    }
  }

  /** Wait until `node` is in `state` on every one of its Consul networks; returns the time until the last one, in ms. */
  async waitForMemberEverywhere(node: string, state: MemberState, timeoutMs = 60_000): Promise<Record<ConsulNetwork, number>> {
    const times = await Promise.all(CONSUL_NETWORKS.map((network) => this.waitForMember(node, network, state, timeoutMs)));
    return { mgmt: times[0]!, storage: times[1]!, tenant: times[2]! };
  }

  /** Every cluster has a leader and every lab node is alive in it (what `up` waits for). */
  waitForHealthy(timeoutMs = 120_000): Promise<void> {
    return waitForHealthyClusters(this.spec, timeoutMs, this.log);
  }

  // ---- overview ------------------------------------------------------------------------------

  async status(): Promise<LabStatus> {
    const records = readRecords(this.runDir);
    const clusters = await Promise.all(
      CONSUL_NETWORKS.map(async (network) => {
        const members = await this.clusterHealth(network);
        return { network, leader: await this.leader(network), members: members ? Object.fromEntries(members) : undefined };
      }),
    );
    return {
      prefix: this.prefix,
      computes: this.spec.computes,
      namespaces: (await labNamespacesOnMachine(this.prefix)).length,
      expectedNamespaces: 1 + this.controllers.length + 2 * this.spec.computes,
      recordedRunning: records.filter(isRunning).length,
      recordedTotal: records.length,
      acl: labHasAcl(this.spec),
      clusters,
    };
  }

  /** Resident memory of everything running in the lab's namespaces. */
  async memory(): Promise<{ processes: number; rssBytes: number; consulAgents: number; consulRssBytes: number }> {
    const inside = (await Promise.all((await labNamespacesOnMachine(this.prefix)).map(namespaceProcesses))).flat();
    const agentPids = new Set(
      [...this.controllers, ...this.computes].flatMap((node) => CONSUL_NETWORKS.map((network) => readRecord(this.runDir, agentName(node, network))?.pid)),
    );
    const agents = inside.filter((record) => agentPids.has(record.pid));
    const sum = (records: ProcessRecord[]): number => records.reduce((total, record) => total + residentBytes(record.pid), 0);
    return { processes: inside.length, rssBytes: sum(inside), consulAgents: agents.length, consulRssBytes: sum(agents) };
  }

  // ---- checks --------------------------------------------------------------------------------

  private requireNode(node: string): void {
    const nodes = ['sw', ...this.controllers, ...this.computes, ...this.computes.map(bmcOf)];
    if (!nodes.includes(node)) {
      throw new Error(`lab ${this.prefix} has no node ${node} (it has sw, ctl1-${this.controllers.length}, cmp1-${this.spec.computes}, bmc1-${this.spec.computes})`);
    }
  }

  private requireConsulNode(node: string): void {
    this.requireNode(node);
    if (!node.startsWith('ctl') && !node.startsWith('cmp')) throw new Error(`${node} runs no Consul agent (controllers and computes do)`);
  }

  private requireCompute(compute: string): void {
    this.requireNode(compute);
    if (!compute.startsWith('cmp')) throw new Error(`${compute} is not a compute (cmp1-${this.spec.computes} have BMCs)`);
  }
}
