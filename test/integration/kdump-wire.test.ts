/**
 * The fence_kdump wire format against the real sender: fence-agents' fence_kdump_send (what a
 * crashed host's kdump kernel runs) to nova-ha's listener socket, on loopback.
 */
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { listenKdump, parseKdumpMessage, type KdumpDatagram } from '../../lib/systems/power/kdump.js';

const SENDER = '/usr/libexec/fence-agents/fence_kdump_send';

describe('fence_kdump_send to nova-ha\'s listener', () => {
  it.skipIf(!existsSync(SENDER))('sends 8 bytes, magic and version 1, from the sender\'s address, once per count', async () => {
    const got: KdumpDatagram[] = [];
    const socket = await listenKdump('127.0.0.1', 0, (d) => got.push(d));
    const port = socket.address().port;
    try {
      const sent = await execa(SENDER, ['-p', String(port), '-c', '2', '-i', '1', '127.0.0.1'], { reject: false, timeout: 10_000 });
      expect(sent.exitCode, sent.stderr).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(got).toHaveLength(2);
      expect([...got[0]!.payload]).toEqual([0x40, 0x2a, 0x30, 0x1b, 0x01, 0x00, 0x00, 0x00]);
      expect(got.map((d) => parseKdumpMessage(d.payload))).toEqual([{ ok: true, byteOrder: 'little' }, { ok: true, byteOrder: 'little' }]);
      expect(got.map((d) => d.from)).toEqual(['127.0.0.1', '127.0.0.1']);
    } finally {
      socket.close();
    }
  });
});
