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
    );
  }
  return commands;
}

export async function createNetwork(spec: LabSpec): Promise<void> {
  const nodes = allNodes(spec);
  const switchNamespace = namespaceOf(spec, 'sw');
  await ipBatch(null, [switchNamespace, ...nodes.map((node) => namespaceOf(spec, node))].map((ns) => `netns add ${ns}`));
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
  await run('ip', ['-n', namespace, 'link', 'set', device, state]);
}

/** Administrative state of one end of a link: "up" or "down". */
export async function linkState(spec: LabSpec, node: string, network: LabNetwork, side: LinkSide): Promise<'up' | 'down'> {
  const { namespace, device } = linkOf(spec, node, network, side);
  const { stdout } = await run('ip', ['-j', '-n', namespace, 'link', 'show', device]);
  const [link] = JSON.parse(stdout) as { flags?: string[] }[];
  return link?.flags?.includes('UP') ? 'up' : 'down';
}
