/**
 * Three real Consul clusters on loopback (mgmt, storage, tenant: one datacenter each, one or three
 * servers each, named ctl1..ctl3 with nova-ha's controller meta), holding N compute hosts
 * registered as external catalog nodes with the checks and node meta their agents would have: a
 * simulation of the agents only (Consul's servers, catalog, health queries, KV and Raft are real).
 *
 * Consul's leader reaps every catalog node that carries a serfHealth check but is no serf member,
 * once per reconcile interval (60 s, not configurable in 1.8), one Raft write per node: at 10,000
 * hosts a pass outlasts the pause between passes on a busy machine, so a catalog of simulated
 * hosts stays whole only until the next pass. Start a fleet, register (serfHealth last, right
 * after a pass), measure before `reapDueIn` runs out, and check `whole` afterwards.
 * Processes are stopped by PID; data dirs are removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NETWORKS, type Network } from '../../lib/config/schema.js';
import { NOVA_COMPUTE_CHECK, ROLE_META } from '../../lib/systems/consul/names.js';
import { CONSUL_BINARY } from './consul-dev.js';

export interface ServerHandle {
  readonly node: string;
  readonly httpAddr: string;
  readonly child: ChildProcess;
  /** The end of its log, for errors. */
  output: string;
}

export interface FleetCluster {
  readonly network: Network;
  readonly servers: readonly ServerHandle[];
  /** ctl1's HTTP address: the agent nova-ha on ctl1 talks to. */
  readonly httpAddr: string;
}

export interface FleetOptions {
  readonly serversPerNetwork?: 1 | 3;
  readonly log?: (message: string) => void;
  /** Extra agent config for every server (e.g. limits). */
  readonly extraConfig?: Record<string, unknown>;
  /** Operations per transaction of the fleet's own writes (at most 64; fewer under a small txn_max_req_len). */
  readonly txnOps?: number;
}

export const hostName = (i: number, width = 5): string => `cmp${String(i).padStart(width, '0')}`;
const SERF_OUTPUT = 'Agent alive and reachable';

/** Distinct free ports: every one held open until all are chosen, so none is handed out twice. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<Server>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  })));
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** A plain HTTP call to a Consul agent (the fleet's own traffic, not nova-ha's client). */
export async function consulCall<T = unknown>(httpAddr: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${httpAddr}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await response.text();
  if (!response.ok) throw new Error(`Consul ${method} ${path}: HTTP ${response.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

export class ConsulFleet {
  readonly hosts: string[] = [];
  /** When each cluster's leader was first seen: its reconcile passes start every 60 s from then. */
  private readonly leaderAt = new Map<Network, number>();

  private constructor(
    readonly clusters: Readonly<Record<Network, FleetCluster>>,
    private readonly dir: string,
    private readonly log: (message: string) => void,
    private readonly txnOps: number,
  ) {}

  static async start(options: FleetOptions = {}): Promise<ConsulFleet> {
    if (!existsSync(CONSUL_BINARY)) throw new Error(`no Consul binary at ${CONSUL_BINARY}: run scripts/deps.sh lab`);
    const count = options.serversPerNetwork ?? 1;
    const log = options.log ?? (() => undefined);
    // Raft's data on tmpfs where there is one: fsync costs nothing there, so registering and
    // reaping thousands of simulated nodes takes seconds, not minutes; Consul's code path is the same.
    const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'nova-ha-fleet-'));
    const clusters = {} as Record<Network, FleetCluster>;
    const all: ServerHandle[] = [];
    const free = await freePorts(NETWORKS.length * count * 4);
    try {
      for (const network of NETWORKS) {
        const ports = [];
        for (let i = 0; i < count; i++) ports.push({ http: free.pop()!, serf: free.pop()!, wan: free.pop()!, server: free.pop()! });
        const servers: ServerHandle[] = [];
        for (let i = 0; i < count; i++) {
          const node = `ctl${i + 1}`;
          const data = join(dir, network, node);
          mkdirSync(data, { recursive: true });
          const p = ports[i]!;
          const config = {
            datacenter: network,
            node_name: node,
            server: true,
            bootstrap_expect: count,
            bind_addr: '127.0.0.1',
            client_addr: '127.0.0.1',
            data_dir: data,
            ports: { http: p.http, serf_lan: p.serf, serf_wan: p.wan, server: p.server, dns: -1, grpc: -1 },
            retry_join: ports.filter((_, j) => j !== i).map((q) => `127.0.0.1:${q.serf}`),
            node_meta: { [ROLE_META]: 'controller' },
            performance: { raft_multiplier: 1 },
            disable_update_check: true,
            log_level: 'warn',
            ...options.extraConfig,
          };
          const child = spawn(CONSUL_BINARY, ['agent', '-hcl', JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
          const handle = { node, httpAddr: `http://127.0.0.1:${p.http}`, child, output: '' };
          const keep = (chunk: Buffer): void => void (handle.output = (handle.output + chunk.toString()).slice(-2000));
          child.stdout?.on('data', keep);
          child.stderr?.on('data', keep);
          servers.push(handle);
          all.push(handle);
        }
        clusters[network] = { network, servers, httpAddr: servers[0]!.httpAddr };
      }
      const fleet = new ConsulFleet(clusters, dir, log, options.txnOps ?? 64);
      await fleet.waitForLeaders(60_000);
      return fleet;
    } catch (error) {
      await stopServers(all);
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  private async waitForLeaders(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const network of NETWORKS) {
      for (const server of this.clusters[network].servers) {
        for (;;) {
          try {
            // A consistent read answers only once the cluster has a leader and this server knows it.
            await consulCall(server.httpAddr, 'GET', `/v1/catalog/node/${server.node}?consistent`);
            const health = await consulCall<{ CheckID: string; Status: string }[]>(server.httpAddr, 'GET', `/v1/health/node/${server.node}?consistent`);
            if (health.some((c) => c.CheckID === 'serfHealth' && c.Status === 'passing')) break;
          } catch (error) {
            if (server.child.exitCode !== null || Date.now() > deadline) throw new Error(`Consul ${network} ${server.node} has no leader after ${timeoutMs} ms (${(error as Error).message}): ${server.output.trim().split('\n').slice(-3).join(' | ')}`, { cause: error });
          }
          if (Date.now() > deadline) throw new Error(`Consul ${network} ${server.node} is not passing serfHealth after ${timeoutMs} ms`);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
      this.leaderAt.set(network, Date.now());
    }
    this.log(`consul: ${NETWORKS.map((n) => `${n} ${this.clusters[n].servers.length} server(s)`).join(', ')}: leaders elected`);
  }

  /** Runs Consul transactions of at most 64 operations, a few at once; a group's operations share one transaction. */
  async txn(network: Network, groups: readonly (readonly unknown[])[]): Promise<void> {
    const batches: unknown[][] = [];
    let current: unknown[] = [];
    for (const group of groups) {
      if (current.length + group.length > this.txnOps) {
        batches.push(current);
        current = [];
      }
      current.push(...group);
    }
    if (current.length > 0) batches.push(current);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        await consulCall(this.clusters[network].httpAddr, 'PUT', '/v1/txn', batch);
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
  }

  /**
   * Registers the hosts: nodes and their nova-compute checks first (the reaper leaves nodes
   * without serfHealth alone), then every serfHealth check, started right after a reconcile pass
   * when the next one would come too soon for it: the hosts then stay whole for the rest of that
   * minute (reapDueIn).
   */
  async register(count: number): Promise<void> {
    this.hosts.length = 0;
    for (let i = 1; i <= count; i++) this.hosts.push(hostName(i));
    const started = Date.now();
    await Promise.all(NETWORKS.map((network) => this.registerIn(network)));
    // serfHealth is about a third to a half of the operations just made.
    const needed = (Date.now() - started) * 0.75 + 20_000;
    const due = this.reapDueIn();
    if (due < needed) {
      this.log(`consul: waiting ${(due / 1000).toFixed(0)} s for the leaders' reconcile pass before adding serfHealth to ${count} simulated hosts`);
      await new Promise((resolve) => setTimeout(resolve, due + 1500));
    }
    await Promise.all(NETWORKS.map((network) => this.setSerfHealth(network, this.hosts, 'passing')));
  }

  private async registerIn(network: Network, from = 0, to = this.hosts.length): Promise<void> {
    // A node and its checks in one transaction: a check of a node not yet registered is refused.
    const groups = this.hosts.slice(from, to).map((host, j) => {
      const i = from + j;
      const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      return [
        { Node: { Verb: 'set', Node: { Node: host, Address: address, Meta: { [ROLE_META]: 'compute' } } } },
        ...(network === 'mgmt' ? [{ Check: { Verb: 'set', Check: { Node: host, CheckID: NOVA_COMPUTE_CHECK, Name: 'nova-ha: nova-compute running on this node', Status: 'passing', Output: `OK: nova-compute: nova-compute running (pid ${1000 + i})` } } }] : []),
      ];
    });
    await this.txn(network, groups);
  }

  /** How many of the hosts each cluster's catalog holds now. */
  async registeredCount(network: Network): Promise<number> {
    const nodes = await consulCall<{ Node: string }[]>(this.clusters[network].httpAddr, 'GET', `/v1/catalog/nodes?consistent&filter=${encodeURIComponent(`Meta["${ROLE_META}"] == "compute"`)}`);
    return nodes.length;
  }

  /** How long until the next reconcile pass of any leader (every 60 s from its election), which reaps the hosts. */
  reapDueIn(now = Date.now()): number {
    return Math.min(...NETWORKS.map((n) => {
      const since = now - (this.leaderAt.get(n) ?? now);
      return Math.ceil((since + 1) / RECONCILE_MS) * RECONCILE_MS - since;
    }));
  }

  /** Whether every cluster still holds its first simulated host (the reaper starts with it). */
  async whole(): Promise<boolean> {
    const first = this.hosts[0];
    if (!first) return true;
    for (const network of NETWORKS) if ((await consulCall<unknown>(this.clusters[network].httpAddr, 'GET', `/v1/catalog/node/${first}?consistent`)) === null) return false;
    return true;
  }

  async setSerfHealth(network: Network, hosts: readonly string[], status: 'passing' | 'critical'): Promise<void> {
    const output = status === 'passing' ? SERF_OUTPUT : 'Agent not live or unreachable';
    await this.txn(network, hosts.map((host) => [{ Check: { Verb: 'set', Check: { Node: host, CheckID: 'serfHealth', Name: 'Serf Health Status', Status: status, Output: output } } }]));
  }

  /** What a `checks` watch of this cluster hands its handler (state any, or one state). */
  async watchPayload(network: Network, state: 'any' | 'critical' = 'any'): Promise<string> {
    const response = await fetch(`${this.clusters[network].httpAddr}/v1/health/state/${state}`);
    return response.text();
  }

  /** Deletes every key under prefix in the mgmt cluster. */
  async clearKv(prefix: string): Promise<void> {
    await consulCall(this.clusters.mgmt.httpAddr, 'DELETE', `/v1/kv/${prefix}?recurse`);
  }

  async stop(): Promise<void> {
    await stopServers(NETWORKS.flatMap((n) => this.clusters[n].servers));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Consul's leader reconciles at its election and then every 60 s (ReconcileInterval, fixed in 1.8). */
const RECONCILE_MS = 60_000;

async function stopServers(servers: readonly ServerHandle[]): Promise<void> {
  await Promise.all(servers.map(async ({ child }) => {
    if (child.exitCode !== null || !child.pid) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid, 'SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  }));
}
