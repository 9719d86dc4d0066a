/**
 * The lab network: a switch namespace with one bridge per network and one veth per node and
 * network, created straight into the namespaces (nothing ever exists in the root namespace).
 * Each namespace is configured by one `ip -batch` process, so a 100-compute lab needs about
 * 200 processes, not 2000.
 */
import { BRIDGE, DEVICE, LAB_NETWORKS, addressOf, computeNames, controllerNames, macOf, namespaceOf, networksOf, switchPortOf, bmcOf, type LabNetwork, type LabSpec } from './topology.js';
import { inParallel, ipBatch, run } from './shell.js';

export type LinkSide = 'host' | 'switch';

const allNodes = (spec: LabSpec): string[] => [...controllerNames(), ...computeNames(spec), ...computeNames(spec).map(bmcOf)];

/** Every node linked to a network: controllers and computes on the Consul networks, controllers and BMCs on oob. */
function nodesOn(spec: LabSpec, network: LabNetwork): string[] {
  return network === 'oob' ? [...controllerNames(), ...computeNames(spec).map(bmcOf)] : [...controllerNames(), ...computeNames(spec)];
}

/**
 * Permanent ARP entries for every peer on the device's network. The kernel's ARP table is
 * shared by all namespaces, with a default limit (gc_thresh3) of 1024 learned entries: a
 * 20-compute lab learning its peers overflowed it, and every lab on the machine lost traffic.
 * Permanent entries are exempt from that limit, and the fixed MACs make them possible.
 */
function neighbourCommands(spec: LabSpec, node: string, network: LabNetwork): string[] {
  return nodesOn(spec, network)
    .filter((peer) => peer !== node)
    .map((peer) => addressOf(peer, network))
    .map((address) => `neigh replace ${address} lladdr ${macOf(address)} dev ${DEVICE[network]} nud permanent`);
}

/** The commands, run inside the node's namespace, that link it to each of its networks. */
function nodeCommands(spec: LabSpec, node: string): string[] {
  const switchNamespace = namespaceOf(spec, 'sw');
  const commands = ['link set lo up'];
  for (const network of networksOf(node)) {
    const device = DEVICE[network];
    const address = addressOf(node, network);
    commands.push(
      `link add ${device} address ${macOf(address)} type veth peer name ${switchPortOf(node, network)} netns ${switchNamespace}`,
      `addr add ${address}/24 dev ${device}`,
      `link set ${device} up`,
      ...neighbourCommands(spec, node, network),
    );
  }
  return commands;
}

/**
 * The lab speaks IPv4 only. Left on, IPv6 gives every lab interface link-local addresses and
 * multicast neighbour entries in the kernel's ndisc table, which (like the ARP table) is shared
 * by all namespaces and capped at 1024 learned entries: a 100-compute lab would overflow it.
 * Set before any device exists, so that `default` covers them all.
 */
async function disableIpv6(namespace: string): Promise<void> {
  await run('nsenter', [`--net=/run/netns/${namespace}`, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
}

export async function createNetwork(spec: LabSpec): Promise<void> {
  const nodes = allNodes(spec);
  const switchNamespace = namespaceOf(spec, 'sw');
  const namespaces = [switchNamespace, ...nodes.map((node) => namespaceOf(spec, node))];
  await ipBatch(null, namespaces.map((ns) => `netns add ${ns}`));
  await inParallel(namespaces, 4, disableIpv6);
  // No STP: a port forwards the moment it is up, and a lab bridge never has a loop.
  await ipBatch(switchNamespace, [
    'link set lo up',
    ...LAB_NETWORKS.flatMap((network) => [`link add ${BRIDGE[network]} type bridge stp_state 0`, `link set ${BRIDGE[network]} up`]),
  ]);
  await inParallel(nodes, 4, (node) => ipBatch(namespaceOf(spec, node), nodeCommands(spec, node)));
  await ipBatch(
    switchNamespace,
    nodes.flatMap((node) => networksOf(node).map((network) => `link set ${switchPortOf(node, network)} master ${BRIDGE[network]} up`)),
  );
}

/** Delete namespaces (their veths and bridges go with them). Processes inside must be gone first. */
export async function deleteNamespaces(namespaces: readonly string[]): Promise<void> {
  // -force: keep going past a namespace that is already gone.
  if (namespaces.length > 0) await run('ip', ['-force', '-batch', '-'], { input: namespaces.map((ns) => `netns del ${ns}\n`).join(''), allowFailure: true });
}

function linkOf(spec: LabSpec, node: string, network: LabNetwork, side: LinkSide): { namespace: string; device: string } {
  if (!networksOf(node).includes(network)) throw new Error(`${node} has no ${network} link (it is on ${networksOf(node).join(', ')})`);
  return side === 'host'
    ? { namespace: namespaceOf(spec, node), device: DEVICE[network] }
    : { namespace: namespaceOf(spec, 'sw'), device: switchPortOf(node, network) };
}

export async function setLink(spec: LabSpec, node: string, network: LabNetwork, side: LinkSide, state: 'up' | 'down'): Promise<void> {
  const { namespace, device } = linkOf(spec, node, network, side);
  // Taking a device down flushes even its permanent ARP entries: put them back with the link.
  const neighbours = side === 'host' && state === 'up' ? neighbourCommands(spec, node, network) : [];
  await ipBatch(namespace, [`link set ${device} ${state}`, ...neighbours]);
}

/** Administrative state of one end of a link: "up" or "down". */
export async function linkState(spec: LabSpec, node: string, network: LabNetwork, side: LinkSide): Promise<'up' | 'down'> {
  const { namespace, device } = linkOf(spec, node, network, side);
  const { stdout } = await run('ip', ['-j', '-n', namespace, 'link', 'show', device]);
  const [link] = JSON.parse(stdout) as { flags?: string[] }[];
  return link?.flags?.includes('UP') ? 'up' : 'down';
}
