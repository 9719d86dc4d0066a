/**
 * The fence_kdump protocol (fence-agents, agents/kdump/message.h): a crashed host's kdump kernel
 * runs fence_kdump_send, which sends one UDP datagram at once and then one every interval to each
 * listed node, port 7410 by default. The payload is 8 bytes, a packed struct sent raw in the
 * sender's byte order: uint32 magic 0x1B302A40, uint32 version 1 (from x86: 40 2a 30 1b 01 00 00
 * 00). It names no node and carries no authentication: the sender is known only by the source
 * address of the datagram.
 */
import { createSocket, type Socket } from 'node:dgram';

export const KDUMP_MAGIC = 0x1b302a40;
export const KDUMP_VERSION = 1;
export const KDUMP_PORT = 7410;
export const KDUMP_MESSAGE_BYTES = 8;

export type KdumpMessage = { readonly ok: true; readonly byteOrder: 'little' | 'big' } | { readonly ok: false; readonly why: string };

/** A valid message: exactly 8 bytes, the magic and version 1, both little-endian or both big-endian. */
export function parseKdumpMessage(payload: Uint8Array): KdumpMessage {
  if (payload.length !== KDUMP_MESSAGE_BYTES) return { ok: false, why: `${payload.length} bytes, not ${KDUMP_MESSAGE_BYTES}` };
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  for (const byteOrder of ['little', 'big'] as const) {
    const read = (offset: number): number => (byteOrder === 'little' ? bytes.readUInt32LE(offset) : bytes.readUInt32BE(offset));
    if (read(0) !== KDUMP_MAGIC) continue;
    const version = read(4);
    return version === KDUMP_VERSION ? { ok: true, byteOrder } : { ok: false, why: `version ${version}, not ${KDUMP_VERSION}` };
  }
  return { ok: false, why: `magic 0x${bytes.readUInt32LE(0).toString(16).padStart(8, '0')}, not 0x${KDUMP_MAGIC.toString(16)}` };
}

export interface KdumpDatagram {
  readonly payload: Buffer;
  /** The datagram's source address: the only name a sender has. */
  readonly from: string;
  readonly at: number;
}

/** A bound UDP socket that hands every datagram to onDatagram. */
export async function listenKdump(address: string, port: number, onDatagram: (datagram: KdumpDatagram) => void): Promise<Socket> {
  const socket = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4' });
  socket.on('message', (payload, remote) => onDatagram({ payload, from: remote.address, at: Date.now() }));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}
