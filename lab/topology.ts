/**
 * The lab's fixed layout: namespace names, links and addresses. Every lab part (network
 * namespaces, Consul agents, BMCs, the mini OpenStack) and every lab test derives names from
 * here, so they agree without passing state around.
 *
 * One lab = one prefix (default "nh"): namespaces <prefix>-sw, <prefix>-ctl1..3,
 * <prefix>-cmp1..N, <prefix>-bmc1..N, and a run directory lab/run/<prefix>/. Two labs with
 * different prefixes can run side by side: each has its own switch, so equal addresses never meet.
 *
 * Addresses come from 198.18.0.0/15 (RFC 2544 benchmarking range), so nothing real is ever hit.
 */
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';

export const LAB_NETWORKS = ['mgmt', 'storage', 'tenant', 'oob'] as const;
export type LabNetwork = (typeof LAB_NETWORKS)[number];
/** The three networks that carry a Consul cluster each (oob is the BMCs' out-of-band network). */
export const CONSUL_NETWORKS = ['mgmt', 'storage', 'tenant'] as const;
export type ConsulNetwork = (typeof CONSUL_NETWORKS)[number];

export const SUBNET: Record<LabNetwork, string> = { mgmt: '198.18.1', storage: '198.18.2', tenant: '198.18.3', oob: '198.18.4' };
/** Interface name inside a node's namespace, per network. */
export const DEVICE: Record<LabNetwork, string> = { mgmt: 'mgmt0', storage: 'stor0', tenant: 'ten0', oob: 'oob0' };
/** Bridge name inside the switch namespace, per network. */
export const BRIDGE: Record<LabNetwork, string> = { mgmt: 'br-mgmt', storage: 'br-stor', tenant: 'br-ten', oob: 'br-oob' };
export const LAB_DEVICES: readonly string[] = Object.values(DEVICE);

export const CONTROLLERS = 3;
export const MAX_COMPUTES = 100;

/** Consul ports of the agent for each network on one node (HTTP on 127.0.0.1 and a unix socket). */
export const CONSUL_PORTS: Record<ConsulNetwork, { http: number; serfLan: number; server: number }> = {
  mgmt: { http: 8500, serfLan: 8301, server: 8300 },
  storage: { http: 8510, serfLan: 8311, server: 8310 },
  tenant: { http: 8520, serfLan: 8321, server: 8320 },
};

export type NodeKind = 'ctl' | 'cmp' | 'bmc';

export interface LabSpec {
  readonly prefix: string;
  readonly computes: number;
}

export const REPO_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const LAB_RUN_ROOT = process.env['NOVA_HA_LAB_RUN'] ?? join(REPO_ROOT, 'lab', 'run');

export const controllerNames = (): string[] => Array.from({ length: CONTROLLERS }, (_, i) => `ctl${i + 1}`);
export const computeNames = (spec: LabSpec): string[] => Array.from({ length: spec.computes }, (_, i) => `cmp${i + 1}`);

/** Namespace of a lab node: ctl1, cmp3, bmc3 or sw. */
export const namespaceOf = (spec: LabSpec, node: string): string => `${spec.prefix}-${node}`;
export const runDir = (spec: LabSpec): string => join(LAB_RUN_ROOT, spec.prefix);
export const nodeDir = (spec: LabSpec, node: string): string => join(runDir(spec), node);

function indexOf(node: string): { kind: NodeKind; index: number } {
  const match = /^(ctl|cmp|bmc)(\d+)$/.exec(node);
  if (!match) throw new Error(`not a lab node name: ${node} (expected ctlN, cmpN or bmcN)`);
  return { kind: match[1] as NodeKind, index: Number(match[2]) };
}

/** ctlN is .1N (11..13), cmpN and bmcN are .(100+N). */
export function addressOf(node: string, network: LabNetwork): string {
  const { kind, index } = indexOf(node);
  if (kind === 'ctl') return `${SUBNET[network]}.${10 + index}`;
  if (kind === 'bmc' && network !== 'oob') throw new Error(`${node} is only on the oob network`);
  if (kind === 'cmp' && network === 'oob') throw new Error(`${node} has no oob link (its BMC ${node.replace('cmp', 'bmc')} has)`);
  if (index < 1 || index > MAX_COMPUTES) throw new Error(`${node}: compute index must be 1..${MAX_COMPUTES}`);
  return `${SUBNET[network]}.${100 + index}`;
}

/** Networks each node kind is linked to. */
export function networksOf(node: string): readonly LabNetwork[] {
  const { kind } = indexOf(node);
  if (kind === 'ctl') return LAB_NETWORKS;
  if (kind === 'cmp') return CONSUL_NETWORKS;
  return ['oob'];
}

/** The veth end in the switch namespace that links node to network (at most 15 characters). */
export const switchPortOf = (node: string, network: LabNetwork): string => `${network[0]}-${node}`;

/** The BMC that powers a compute: bmcN for cmpN. */
export const bmcOf = (compute: string): string => compute.replace(/^cmp/, 'bmc');

/** Fixed MAC per address, so a re-created namespace keeps its MAC and peers' ARP caches stay valid. */
export function macOf(address: string): string {
  const [, , c, d] = address.split('.').map(Number);
  return `02:00:c6:12:${c!.toString(16).padStart(2, '0')}:${d!.toString(16).padStart(2, '0')}`;
}

/** The Nova control plane (MariaDB, RabbitMQ, Keystone, Placement, Glance, Neutron API, Nova) runs in ctl1 on its mgmt address. */
export const OPENSTACK_NODE = 'ctl1';
export const openstackAddress = (): string => addressOf(OPENSTACK_NODE, 'mgmt');
