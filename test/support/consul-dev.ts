/**
 * A real Consul agent in dev mode (server, in-memory, its own leader) on 127.0.0.1 with free
 * ports, for integration tests of nova-ha's Consul code without a lab or root. Stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConsulApi } from '../../lib/systems/consul/api.js';
import { connect } from '../../lib/systems/consul/connect.js';
import { Secret } from '../../lib/shared/secret.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const CONSUL_BINARY = process.env['NOVA_HA_CONSUL'] ?? join(REPO, '.cache', 'consul', 'usr', 'bin', 'consul');

export interface DevConsul {
  readonly api: ConsulApi;
  readonly httpAddr: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startDevConsul(extraConfig: Record<string, unknown> = {}): Promise<DevConsul> {
  if (!existsSync(CONSUL_BINARY)) throw new Error(`no Consul binary at ${CONSUL_BINARY}: run scripts/deps.sh lab`);
  const [http, serfLan, serfWan, server] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'nova-ha-consul-'));
  const config = JSON.stringify({ ports: { http, serf_lan: serfLan, serf_wan: serfWan, server, dns: -1, grpc: -1 }, ...extraConfig });
  const child: ChildProcess = spawn(CONSUL_BINARY, ['agent', '-dev', '-bind', '127.0.0.1', '-client', '127.0.0.1', '-node', 'dev', '-data-dir', dir, '-hcl', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => void (stderr = (stderr + chunk.toString()).slice(-2000)));
  const httpAddr = `http://127.0.0.1:${http}`;
  const api = new ConsulApi(connect({ url: new URL(httpAddr), token: new Secret('') }, 10_000));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.pid) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      process.kill(child.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await api.kvPut('nova-ha-probe', 'x');
      await api.kvDelete('nova-ha-probe');
      return { api, httpAddr, stop };
    } catch (error) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`dev Consul did not come up (${(error as Error).message}): ${stderr}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
