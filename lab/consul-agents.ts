/**
 * Starting and signalling single lab Consul agents, and reading cluster state the way nova-ha
 * must: from the leader's health data (consistent reads), never from one agent's member list.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { managementToken } from './consul-acl.js';
import { agentName, agentSocket, CONSUL_USER } from './consul-config.js';
import { ConsulHttp, type HealthCheck } from './consul-http.js';
import { isRunning, readRecord, signalVerified, waitUntilGone, type ProcessRecord } from './processes.js';
import { run, sleep } from './shell.js';
import { controllerNames, namespaceOf, REPO_ROOT, runDir, type ConsulNetwork, type LabSpec } from './topology.js';

export const CONSUL_AGENT_SCRIPT = join(REPO_ROOT, 'lab', 'bin', 'consul-agent.sh');

/** serfHealth as the leader sees it; "absent" = not in the catalog, "unknown" = no controller could give a consistent answer. */
export type MemberHealth = 'passing' | 'critical' | 'warning' | 'maintenance' | 'absent' | 'unknown';

/** With ACLs on, the lab asks with the cluster's bootstrap token (read per call: a lab may be rebuilt under the same prefix). */
export function consulClient(spec: LabSpec, node: string, network: ConsulNetwork): ConsulHttp {
  return new ConsulHttp(agentSocket(spec, node, network), `${spec.prefix} ${node}/${network}`, managementToken(spec, network));
}

/** The agent's process record while that process runs, else undefined. */
export function runningAgent(spec: LabSpec, node: string, network: ConsulNetwork): ProcessRecord | undefined {
  const record = readRecord(runDir(spec), agentName(node, network));
  return record && isRunning(record) ? record : undefined;
}

export function consulAccount(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${CONSUL_USER}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error(`no system user ${CONSUL_USER}: create it with useradd --system --no-create-home --shell /usr/sbin/nologin ${CONSUL_USER} (lab up does this)`);
  return { uid: Number(uid), gid: Number(gid) };
}

/** The agents run unprivileged, as nova-ha's installer expects: it grants this user its repair commands through sudo. */
export async function ensureConsulUser(log: (message: string) => void): Promise<{ uid: number; gid: number }> {
  try {
    return consulAccount();
  } catch {
    log(`creating system user ${CONSUL_USER}`);
    await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', CONSUL_USER]);
    return consulAccount();
  }
}

/**
 * Start one agent inside its node's namespace, detached (it outlives the lab's own process).
 * consul-agent.sh records the PID itself, so this waits for that record.
 */
export async function startAgentProcess(spec: LabSpec, node: string, network: ConsulNetwork): Promise<ProcessRecord> {
  if (runningAgent(spec, node, network)) throw new Error(`Consul agent ${node}/${network} of lab ${spec.prefix} is already running`);
  const child = spawn('ip', ['netns', 'exec', namespaceOf(spec, node), CONSUL_AGENT_SCRIPT, runDir(spec), node, network], {
    detached: true,
    stdio: 'ignore',
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
  });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start Consul agent ${node}/${network}: ip netns exec did not start`);
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const record = readRecord(runDir(spec), agentName(node, network));
    if (record?.pid === pid && isRunning(record)) return record;
    if (child.exitCode !== null) break;
    await sleep(20);
  }
  throw new Error(`Consul agent ${node}/${network} did not start: see ${join(runDir(spec), 'logs', `${agentName(node, network)}.log`)}`);
}

/** Wait until the agent answers on its socket (the HTTP server starts before it joins anyone). */
export async function waitForAgentApi(spec: LabSpec, node: string, network: ConsulNetwork, timeoutMs: number): Promise<void> {
  const client = consulClient(spec, node, network);
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      // 403: ACLs on and no bootstrap token yet. Either way the API answers, which is all this waits for.
      const { status } = await client.get('/v1/agent/self', { timeoutMs: 1_000 });
      if (status === 200 || status === 403) return;
    } catch (error) {
      lastError = (error as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`Consul agent ${node}/${network} of lab ${spec.prefix} did not answer within ${timeoutMs} ms: ${lastError}`);
}

export async function signalAgent(spec: LabSpec, node: string, network: ConsulNetwork, signal: NodeJS.Signals): Promise<ProcessRecord> {
  const record = runningAgent(spec, node, network);
  if (!record || !signalVerified(record, signal)) throw new Error(`Consul agent ${node}/${network} of lab ${spec.prefix} is not running (start it with lab.startAgent)`);
  return record;
}

/** SIGTERM (after SIGCONT, so a hung agent can act on it) and wait for the exit. */
export async function stopAgentProcess(spec: LabSpec, node: string, network: ConsulNetwork, timeoutMs = 10_000): Promise<void> {
  const record = await signalAgent(spec, node, network, 'SIGCONT');
  signalVerified(record, 'SIGTERM');
  if ((await waitUntilGone([record], timeoutMs)).length > 0) throw new Error(`Consul agent ${node}/${network} (pid ${record.pid}) ignored SIGTERM for ${timeoutMs} ms: use lab.killAgent`);
}

export async function killAgentProcess(spec: LabSpec, node: string, network: ConsulNetwork): Promise<void> {
  const record = await signalAgent(spec, node, network, 'SIGKILL');
  if ((await waitUntilGone([record], 5_000)).length > 0) throw new Error(`Consul agent ${node}/${network} (pid ${record.pid}) survived SIGKILL: ps -o pid,stat,args -p ${record.pid}`);
}

/** The leader address as every server of the network agrees on it, or undefined. */
export async function clusterLeader(spec: LabSpec, network: ConsulNetwork): Promise<string | undefined> {
  const answers = await Promise.all(
    controllerNames().map(async (controller) => {
      try {
        const response = await consulClient(spec, controller, network).get<string>('/v1/status/leader', { timeoutMs: 2_000 });
        return response.status === 200 ? response.body : '';
      } catch {
        return '';
      }
    }),
  );
  const [first] = answers;
  return first && answers.every((answer) => answer === first) ? first : undefined;
}

/**
 * A consistent read (answered by the leader), asked of each controller's agent in turn, since
 * a controller may itself be cut off. Undefined when none could answer with a known leader.
 */
export async function consistentRead<T>(spec: LabSpec, network: ConsulNetwork, path: string): Promise<T | undefined> {
  for (const controller of controllerNames()) {
    try {
      const response = await consulClient(spec, controller, network).get<T>(`${path}${path.includes('?') ? '&' : '?'}consistent`, { timeoutMs: 3_000 });
      if (response.status === 200 && response.knownLeader !== false) return response.body;
    } catch {
      // this controller's agent is down, hung or isolated: ask the next one
    }
  }
  return undefined;
}

export async function memberHealth(spec: LabSpec, node: string, network: ConsulNetwork): Promise<MemberHealth> {
  const checks = await consistentRead<HealthCheck[]>(spec, network, `/v1/health/node/${encodeURIComponent(node)}`);
  if (checks === undefined) return 'unknown';
  return checks.find((check) => check.CheckID === 'serfHealth')?.Status ?? 'absent';
}

/**
 * The servers that vote in the network's Raft, by node name; undefined when no leader answered.
 * Autopilot drops a server that failed and re-adds it as a non-voter until it has been stable for
 * a while: a cluster can look healthy yet lose quorum if another server fails in that time.
 */
export async function raftVoters(spec: LabSpec, network: ConsulNetwork): Promise<Set<string> | undefined> {
  const raft = await consistentRead<{ Servers: { Node: string; Voter: boolean }[] }>(spec, network, '/v1/operator/raft/configuration');
  return raft && new Set(raft.Servers.filter((server) => server.Voter).map((server) => server.Node));
}

/** serfHealth of every node of a network's catalog, by node name; undefined when no consistent answer. */
export async function clusterHealth(spec: LabSpec, network: ConsulNetwork): Promise<Map<string, MemberHealth> | undefined> {
  const checks = await consistentRead<HealthCheck[]>(spec, network, '/v1/health/state/any');
  if (checks === undefined) return undefined;
  return new Map(checks.filter((check) => check.CheckID === 'serfHealth').map((check) => [check.Node, check.Status]));
}
