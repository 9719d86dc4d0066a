/**
 * The controllers' fence_kdump listener: a long-running process, unlike every other handler, run
 * by the nova-ha-kdump systemd service that install.sh installs when [kdump] enabled = true (a
 * UDP port must stay bound for the whole of a dump; Consul runs nothing that long). Runs as the
 * Consul agents' user; port 7410 needs no privilege. Each message: lib/recovery/kdump-listener.ts.
 */
import { EXIT, runHandler } from '../lib/shared/handler.js';
import { createRuntime } from '../lib/recovery/runtime.js';
import { kdumpHandler } from '../lib/recovery/kdump-listener.js';
import { listenKdump } from '../lib/systems/power/kdump.js';

void runHandler('kdump-listener', 'handler', [], async ({ config }) => {
  if (config.DEFAULT.role !== 'controller' || !config.kdump.enabled) throw new Error('the fence_kdump listener runs only on a controller with [kdump] enabled = true');
  const runtime = createRuntime(config, 'kdump-listener');
  const handle = kdumpHandler(runtime);
  const { listen_address: address, port } = config.kdump;
  let socket;
  try {
    socket = await listenKdump(address, port, (datagram) => void handle(datagram));
  } catch (error) {
    throw new Error(`cannot listen on ${address} UDP port ${port} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): another fence_kdump listener runs, or set [kdump] port`, { cause: error });
  }
  runtime.logger.info('kdump-listening', { detail: `fence_kdump messages on ${address}:${port} (udp)` });
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
  });
  socket.close();
  runtime.logger.info('kdump-stopped', {});
  return EXIT.ok;
});
