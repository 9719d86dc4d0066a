/**
 * The node's own network, as the kernel tells it: one interface's state and addresses (from
 * /sys/class/net and getifaddrs), and whether a TCP connection to a peer opens, from a given
 * local address, within a time limit. Knows nothing of what nova-ha makes of it.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';

export interface InterfaceState {
  readonly name: string;
  readonly exists: boolean;
  /** Operationally up: administratively up with a carrier (or a driver that cannot tell, "unknown", with a carrier). */
  readonly up: boolean;
  /** The kernel's operstate: up, down, lowerlayerdown (no carrier underneath), dormant, unknown. */
  readonly operstate: string;
  readonly addresses: readonly string[];
}

function readSys(name: string, file: string): string | undefined {
  try {
    return readFileSync(`/sys/class/net/${name}/${file}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function interfaceState(name: string): InterfaceState {
  const operstate = readSys(name, 'operstate');
  if (operstate === undefined) return { name, exists: false, up: false, operstate: 'missing', addresses: [] };
  // carrier cannot even be read while the interface is administratively down.
  const carrier = readSys(name, 'carrier') === '1';
  const up = carrier && (operstate === 'up' || operstate === 'unknown');
  const addresses = (networkInterfaces()[name] ?? []).map((a) => a.address);
  return { name, exists: true, up, operstate, addresses };
}

/** One line: "stor0 up with 10.0.2.21", "stor0 lowerlayerdown (no carrier)", "stor0 up without 10.0.2.21", "stor0 missing". */
export function describeInterface(state: InterfaceState, address?: string): string {
  if (!state.exists) return `${state.name} missing`;
  if (!state.up) return `${state.name} ${state.operstate === 'up' || state.operstate === 'unknown' ? 'without carrier' : state.operstate}`;
  if (address === undefined) return `${state.name} up`;
  return state.addresses.includes(address) ? `${state.name} up with ${address}` : `${state.name} up without ${address}`;
}

/**
 * Whether a TCP connection to host:port opens within timeoutMs, from localAddress if given (so
 * the path tested is the one that address takes). Closed at once; no byte is sent.
 */
export function tcpReachable(host: string, port: number, timeoutMs: number, localAddress?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    const done = (reachable: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reachable);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
