/**
 * The compute node's half of a repair, after its remediation handler accepted a request and ran
 * the command: its own check of whether the repair helped, for [remediation] settle_time, and the
 * signed report back to the controllers through its one KV key (repair-reports/NODE, which its
 * mgmt token may write and nothing else of nova-ha's). The node is the one place that knows at
 * once whether its storage path came back; the controller still counts only the health state
 * recovering as success, and uses a report only to stop waiting for a repair that cannot help.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';
import type { Config } from '../config/load.js';
import type { RepairResult } from '../decision/model.js';
import type { Logger } from '../shared/log.js';
import { ConsulApi, type AgentMember } from '../systems/consul/api.js';
import { addressOf, connect, describeConsulError } from '../systems/consul/connect.js';
import { describeInterface, interfaceState, tcpReachable } from '../systems/network/reach.js';
import { novaComputeOnNode } from '../systems/nova/compute-on-node.js';
import { KEYS } from '../state/records.js';
import { signReport, type RemediationAction, type RepairReportMessage } from './repair-request.js';

export interface Finding {
  readonly result: RepairResult;
  readonly detail: string;
}

/** How often the node looks again while it settles. */
const SAMPLE_MS = 500;
/** The longest one connection attempt to a storage server may take. */
const CONNECT_MS = 1000;

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** One look at the storage path: the interface (when one is configured) and the servers reached. */
export interface StorageSample {
  readonly iface?: { readonly line: string; readonly ok: boolean };
  readonly reached: number;
  readonly servers: number;
  readonly afterMs: number;
}

/**
 * What a look at the storage path says. A majority of the storage cluster's servers reached from
 * the node's storage address (and its interface up with that address): works, at once. Once the
 * settle time is over, a majority not reached: still broken. Servers reached while the interface
 * does not look right: no verdict (ran), since the two facts disagree. Before the settle time is
 * over and without a majority: undefined (look again).
 */
export function storageVerdict(sample: StorageSample, settled: boolean): Finding | undefined {
  const majority = Math.floor(sample.servers / 2) + 1;
  const detail = `${sample.iface ? `${sample.iface.line}, ` : ''}${sample.reached} of ${sample.servers} storage servers reachable after ${seconds(sample.afterMs)}`;
  const reached = sample.reached >= majority;
  if (reached && (sample.iface?.ok ?? true)) return { result: 'works', detail };
  if (!settled) return undefined;
  if (reached) return { result: 'ran', detail: `${detail}; the servers answer but the interface does not look right, so no verdict` };
  return { result: 'still-broken', detail };
}

/** The storage cluster's servers, and this node's own address in it, as its storage agent knows them. */
function storageServers(members: readonly AgentMember[], node: string): { servers: { name: string; addr: string; port: number }[]; self?: string } {
  const servers = members
    // Left servers are gone from the cluster; failed ones still count against the majority.
    .filter((m) => m.Tags?.['role'] === 'consul' && m.Status !== 3 && Number(m.Tags['port']) > 0)
    .map((m) => ({ name: m.Name, addr: m.Addr, port: Number(m.Tags!['port']) }));
  const self = members.find((m) => m.Name === node)?.Addr;
  return { servers, ...(self ? { self } : {}) };
}

/**
 * After a storage repair: for up to settleMs, is the storage path back? The server list comes from
 * the node's own storage agent (its gossip view, which stays complete while the link is cut); the
 * reachability is a TCP connection from the node's storage address to each server's RPC port,
 * because that agent keeps showing every server alive for a while after a cut.
 */
export async function checkStoragePath(config: Config, node: string, settleMs: number): Promise<Finding> {
  const started = Date.now();
  let members: AgentMember[];
  try {
    members = await new ConsulApi(connect(addressOf(config, 'storage'), Math.min(config.consul.timeout, 5000), config.consul.ca_file || undefined)).agentMembers();
  } catch (error) {
    return { result: 'ran', detail: `the storage path could not be checked: this node's storage agent did not list its members (${describeConsulError(error)})` };
  }
  const { servers, self } = storageServers(members, node);
  if (servers.length === 0) return { result: 'ran', detail: 'the storage path could not be checked: this node\'s storage agent lists no server (its [consul] storage_token may not read nodes: docs/consul-acl/compute-storage.hcl)' };
  const interfaceName = config.remediation.storage_interface;
  for (;;) {
    const sampleStarted = Date.now();
    const iface = interfaceName ? interfaceState(interfaceName) : undefined;
    const reached = (await Promise.all(servers.map((s) => tcpReachable(s.addr, s.port, CONNECT_MS, self)))).filter(Boolean).length;
    const afterMs = Date.now() - started;
    const sample: StorageSample = { reached, servers: servers.length, afterMs, ...(iface ? { iface: { line: describeInterface(iface, self), ok: iface.up && (self === undefined || iface.addresses.includes(self)) } } : {}) };
    const finding = storageVerdict(sample, afterMs >= settleMs);
    if (finding) return finding;
    await sleep(Math.max(0, Math.min(SAMPLE_MS - (Date.now() - sampleStarted), settleMs - (Date.now() - started))));
  }
}

/** After a nova-compute restart: is it still running when settleMs is over? */
export async function checkNovaComputeStays(config: Config, settleMs: number): Promise<Finding> {
  const started = Date.now();
  let downAt: number | undefined;
  for (;;) {
    const look = await novaComputeOnNode(config.nova_compute);
    const afterMs = Date.now() - started;
    if (look.state === 'down') downAt ??= afterMs;
    if (afterMs >= settleMs) {
      if (look.state === 'down') return { result: 'still-broken', detail: `nova-compute not running ${seconds(afterMs)} after the restart (down since ${seconds(downAt!)}): ${look.problems.join('; ')}` };
      if (look.state === 'unknown') return { result: 'ran', detail: `whether nova-compute runs ${seconds(afterMs)} after the restart could not be told: ${look.problems.join('; ')}` };
      return { result: 'works', detail: `nova-compute running ${seconds(afterMs)} after the restart (${look.facts.join(', ')})${downAt === undefined ? '' : `, though it was down ${seconds(downAt)} after it`}` };
    }
    await sleep(Math.min(SAMPLE_MS, settleMs - afterMs));
  }
}

/** The node's check after a repair command that exited 0, for [remediation] settle_time. */
export function checkAfterRepair(config: Config, node: string, action: RemediationAction): Promise<Finding> {
  const settle = config.remediation.settle_time;
  if (settle <= 0) return Promise.resolve({ result: 'ran', detail: 'the command exited 0; nothing checked after it ([remediation] settle_time = 0)' });
  return action === 'restart-storage-network' ? checkStoragePath(config, node, settle) : checkNovaComputeStays(config, settle);
}

/**
 * Signs the report and writes it into the node's KV key, retried briefly (a storage repair that
 * restarts more than the storage interface can blip the management network too). A report that
 * cannot be written is logged with its fix: the controller then waits out repair_timeout.
 */
export async function sendReport(config: Config, fields: Omit<RepairReportMessage, 'ts' | 'nonce'>, log: Logger): Promise<boolean> {
  const key = `${config.consul.kv_prefix}/${KEYS.repairReport(fields.node)}`;
  const api = new ConsulApi(connect(addressOf(config, 'mgmt'), Math.min(config.consul.timeout, 5000), config.consul.ca_file || undefined));
  try {
    await pRetry(async () => {
      if (!(await api.kvPut(key, signReport(fields, config.remediation.hmac_key)))) throw new Error('Consul did not store it');
    }, { retries: 3, minTimeout: 300, factor: 2 });
    log.info('repair-report-sent', { incident: fields.incident, step: fields.action, result: fields.result, detail: fields.detail, key });
    return true;
  } catch (error) {
    log.error('repair-report-failed', { incident: fields.incident, step: fields.action, result: fields.result, key, error: describeConsulError(error), fix: `the controller waits out its repair_timeout instead; check [consul] mgmt_address and that [consul] mgmt_token may write ${key} (docs/consul-acl/compute-node-mgmt.hcl)` });
    return false;
  }
}
