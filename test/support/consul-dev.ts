/**
 * A real Consul agent in dev mode (server, in-memory, its own leader) on 127.0.0.1 with free
 * ports, for integration tests of nova-ha's Consul code without a lab or root. Stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConsulApi } from '../../lib/systems/consul/api.js';
import { connect } from '../../lib/systems/consul/connect.js';
import { Secret } from '../../lib/shared/secret.js';

/** Node meta key whose value tells this agent from another test file's. */
const IDENTITY_META = 'nova-ha-test-agent';
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

/**
 * Test files start their agents side by side, each on ports it found free a moment before: two
 * can pick the same port, and then one agent exits while its probe reaches the other's. Each
 * agent carries a node meta value of its own, checked before it is handed out; an agent that
 * lost a port is started again on new ones.
 */
export async function startDevConsul(extraConfig: Record<string, unknown> = {}): Promise<DevConsul> {
  if (!existsSync(CONSUL_BINARY)) throw new Error(`no Consul binary at ${CONSUL_BINARY}: run scripts/deps.sh lab`);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnFreePorts(extraConfig);
    } catch (error) {
      if (attempt >= 3 || !(error instanceof PortTaken)) throw error;
    }
  }
}

class PortTaken extends Error {}

async function startOnFreePorts(extraConfig: Record<string, unknown>): Promise<DevConsul> {
  const [http, serfLan, serfWan, server] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'nova-ha-consul-'));
  const identity = randomUUID();
  const nodeMeta = { ...((extraConfig['node_meta'] as Record<string, string> | undefined) ?? {}), [IDENTITY_META]: identity };
  const config = JSON.stringify({ ports: { http, serf_lan: serfLan, serf_wan: serfWan, server, dns: -1, grpc: -1 }, ...extraConfig, node_meta: nodeMeta });
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
      const self = (await (await fetch(`${httpAddr}/v1/agent/self`)).json()) as { Meta?: Record<string, string> };
      if (self.Meta?.[IDENTITY_META] !== identity) throw new PortTaken(`another agent answers on ${httpAddr}`);
      await api.kvPut('nova-ha-probe', 'x');
      await api.kvDelete('nova-ha-probe');
      return { api, httpAddr, stop };
    } catch (error) {
      if (error instanceof PortTaken || child.exitCode !== null) {
        await stop();
        const what = error instanceof PortTaken ? (error as Error).message : `it exited (${(error as Error).message}), perhaps for a port another took`;
        throw new PortTaken(`dev Consul not its own on ${httpAddr}: ${what}: ${stderr}`, { cause: error });
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`dev Consul did not come up (${(error as Error).message}): ${stderr}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
