/**
 * The network guard: the lab sends nothing to an address unless the namespace that will send it
 * routes that address through a lab device. A lab address asked from the root namespace would
 * leave this machine through its default route (it happened once during a trial), so that is
 * refused outright, as is anything outside 127.0.0.0/8 and the lab subnets.
 */
import { LAB_DEVICES, LAB_NETWORKS, SUBNET } from './topology.js';
import { run } from './shell.js';

export interface CheckedRoute {
  readonly namespace: string;
  readonly address: string;
  /** The device the namespace sends through: a lab device (for its own address: the device holding it), or lo for 127.0.0.0/8. */
  readonly device: string;
}

/** <prefix>-sw, -ctlN, -cmpN or -bmcN: the only namespaces the lab creates. */
export const LAB_NAMESPACE = /^[a-z][a-z0-9]{0,9}-(sw|ctl\d+|cmp\d+|bmc\d+)$/;

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

const isLoopback = (address: string): boolean => address.startsWith('127.');
const isLabAddress = (address: string): boolean => LAB_NETWORKS.some((network) => address.startsWith(`${SUBNET[network]}.`));

interface RouteGetEntry {
  readonly dev?: string;
  readonly type?: string;
}

/**
 * Throws one line naming the namespace, the address and the fix unless `namespace` is a lab
 * namespace whose route to `address` goes out a lab device (or lo, for 127.0.0.0/8).
 * Pass null for the root namespace, which is always refused.
 */
export async function assertLabRoute(namespace: string | null | undefined, address: string): Promise<CheckedRoute> {
  const refuse = (why: string): Error => new Error(`network guard: refusing to send to ${address} from ${namespace ? `namespace ${namespace}` : 'the root namespace'}: ${why}`);
  const octets = IPV4.exec(address)?.slice(1).map(Number);
  if (!octets || octets.some((octet) => octet > 255)) throw refuse('not an IPv4 address');
  if (!isLoopback(address) && !isLabAddress(address)) {
    throw refuse(`outside 127.0.0.0/8 and the lab subnets (${LAB_NETWORKS.map((n) => `${SUBNET[n]}.0/24`).join(', ')})`);
  }
  if (!namespace) throw refuse('lab traffic must start inside a lab namespace (ip netns exec <prefix>-ctlN ...)');
  if (!LAB_NAMESPACE.test(namespace)) throw refuse('not a lab namespace (expected <prefix>-sw, -ctlN, -cmpN or -bmcN)');

  const { stdout, stderr, code } = await run('ip', ['-j', '-n', namespace, 'route', 'get', address], { allowFailure: true, timeoutMs: 5_000 });
  if (code !== 0) throw refuse(`no route (${stderr.trim().split('\n')[0] || `ip route get exit ${code}`}); is the link up and the lab running?`);
  let entries: RouteGetEntry[];
  try {
    entries = JSON.parse(stdout) as RouteGetEntry[];
  } catch {
    throw refuse(`cannot read the output of ip -j route get: ${stdout.slice(0, 80)}`);
  }
  const route = entries[0];
  const device = route?.dev;
  if (!route || !device) throw refuse('ip route get named no device');
  if (route.type && !['unicast', 'local'].includes(route.type)) throw refuse(`route type is ${route.type}`);
  if (isLoopback(address)) {
    if (device !== 'lo') throw refuse(`it routes via ${device}, not lo`);
    return { namespace, address, device };
  }
  if (route.type === 'local') {
    // The namespace's own lab address goes via lo and never leaves the namespace; accept it only
    // when that address really sits on one of the namespace's lab devices.
    const owner = await labDeviceHolding(namespace, address);
    if (!owner) throw refuse('it is local to the namespace but not on a lab device');
    return { namespace, address, device: owner };
  }
  if (!LAB_DEVICES.includes(device)) throw refuse(`it routes via ${device}, not a lab device (${LAB_DEVICES.join(', ')})`);
  return { namespace, address, device };
}

async function labDeviceHolding(namespace: string, address: string): Promise<string | undefined> {
  const { stdout, code } = await run('ip', ['-j', '-4', '-n', namespace, 'addr', 'show'], { allowFailure: true, timeoutMs: 5_000 });
  if (code !== 0) return undefined;
  const links = JSON.parse(stdout) as { ifname?: string; addr_info?: { local?: string }[] }[];
  return links.find((link) => LAB_DEVICES.includes(link.ifname ?? '') && link.addr_info?.some((info) => info.local === address))?.ifname;
}
