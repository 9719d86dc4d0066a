/**
 * Where each lab Consul agent keeps its files, and its base configuration. One agent per node and
 * network: <run>/<node>/consul-<net>/{base.json,data/,http.sock} and an (initially empty)
 * <run>/<node>/consul-<net>.d/ that nova-ha's install.sh fills later.
 */
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONSUL_PORTS, addressOf, controllerNames, nodeDir, REPO_ROOT, type ConsulNetwork, type LabSpec } from './topology.js';

export const CONSUL_BINARY = process.env['NOVA_HA_CONSUL'] ?? join(REPO_ROOT, '.cache', 'consul', 'usr', 'bin', 'consul');
export const CONSUL_USER = 'consul';

export const agentName = (node: string, network: ConsulNetwork): string => `${node}-consul-${network}`;
export const agentDir = (spec: LabSpec, node: string, network: ConsulNetwork): string => join(nodeDir(spec, node), `consul-${network}`);
export const agentConfigFile = (spec: LabSpec, node: string, network: ConsulNetwork): string => join(agentDir(spec, node, network), 'base.json');
export const agentConfigDir = (spec: LabSpec, node: string, network: ConsulNetwork): string => join(nodeDir(spec, node), `consul-${network}.d`);
export const agentSocket = (spec: LabSpec, node: string, network: ConsulNetwork): string => join(agentDir(spec, node, network), 'http.sock');
/** For the consul CLI: `consul members -http-addr=<this>`. */
export const agentHttpAddr = (spec: LabSpec, node: string, network: ConsulNetwork): string => `unix://${agentSocket(spec, node, network)}`;

// sun_path holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH = 107;

/**
 * Failure detection tuned for a LAN (lab-notes: 1.65-3.9 s for a cut link instead of 5.2-8.1 s
 * with the defaults). Production would tune this the same way, so the lab measures what ships.
 */
const GOSSIP_LAN = { probe_interval: '500ms', probe_timeout: '250ms', suspicion_mult: 2 };

export interface AgentOptions {
  /** ACLs on, denying by default (lab/consul-acl.ts bootstraps them and hands out the tokens). */
  readonly acl?: boolean;
}

/**
 * What Lab.up({ acl: true }) adds to every agent. Each cluster is its own primary datacenter. Tokens
 * set through the API (the agents' own, by the lab) are persisted in the data dir, so they survive
 * a power cut and install.sh's restart of an agent.
 */
const ACL_CONFIG = (network: ConsulNetwork): Record<string, unknown> => ({
  primary_datacenter: network,
  acl: { enabled: true, default_policy: 'deny', enable_token_persistence: true },
});

export function agentConfig(spec: LabSpec, node: string, network: ConsulNetwork, options: AgentOptions = {}): Record<string, unknown> {
  const isServer = node.startsWith('ctl');
  const ports = CONSUL_PORTS[network];
  const socket = agentSocket(spec, node, network);
  if (socket.length > MAX_SOCKET_PATH) {
    throw new Error(`Consul socket path ${socket} is ${socket.length} characters (max ${MAX_SOCKET_PATH}): set NOVA_HA_LAB_RUN to a shorter directory`);
  }
  return {
    datacenter: network,
    node_name: node,
    node_meta: { 'nova-ha-role': isServer ? 'controller' : 'compute' },
    data_dir: join(agentDir(spec, node, network), 'data'),
    bind_addr: addressOf(node, network),
    client_addr: '127.0.0.1',
    // The unix socket lets tests in the root namespace reach every agent with no network route at all.
    addresses: { http: `127.0.0.1 unix://${socket}` },
    unix_sockets: { mode: '700' },
    ports: { http: ports.http, serf_lan: ports.serfLan, server: ports.server, dns: -1, serf_wan: -1, grpc: -1, https: -1 },
    retry_join: controllerNames().map((controller) => `${addressOf(controller, network)}:${ports.serfLan}`),
    retry_interval: '1s',
    ...(isServer ? { server: true, bootstrap_expect: controllerNames().length, performance: { raft_multiplier: 1 } } : { server: false }),
    // A power cut must look like a failure, never like a graceful leave.
    leave_on_terminate: false,
    skip_leave_on_interrupt: true,
    gossip_lan: GOSSIP_LAN,
    // Both would try to reach hashicorp.com; nothing in the lab may leave the machine.
    disable_update_check: true,
    disable_anonymous_signature: true,
    log_level: 'INFO',
    ...(options.acl ? ACL_CONFIG(network) : {}),
  };
}

/** Write base.json and create the agent's directories, owned so that the unprivileged consul user can run it. */
export function writeAgentFiles(spec: LabSpec, node: string, network: ConsulNetwork, owner: { uid: number; gid: number }, options: AgentOptions = {}): void {
  const dir = agentDir(spec, node, network);
  mkdirSync(join(dir, 'data'), { recursive: true });
  mkdirSync(agentConfigDir(spec, node, network), { recursive: true });
  chownSync(dir, owner.uid, owner.gid);
  chownSync(join(dir, 'data'), owner.uid, owner.gid);
  writeFileSync(agentConfigFile(spec, node, network), `${JSON.stringify(agentConfig(spec, node, network, options), null, 2)}\n`, { mode: 0o644 });
}
