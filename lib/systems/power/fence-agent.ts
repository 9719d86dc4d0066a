/**
 * Power through a fence agent of the fence-agents family (fence_redfish, fence_ipmilan, fence_apc,
 * ...), with the family's standard stdin protocol: no arguments, one key=value per line on
 * standard input, the password among them, so it is never in the agent's argv. Exit codes
 * (fencing.py): 0 success, and for status 0 = on, 2 = off; anything else is a failure, which for
 * status means "unknown", never "off". Every call is bounded; a call past its time is killed with
 * its whole process group (an agent's own ipmitool or snmpget children included).
 */
import { accessSync, constants, readFileSync, realpathSync } from 'node:fs';
import { agentOptionWords, type Config, type ConfigProblem } from '../../config/load.js';
import { FENCE_AGENT_PREFIX } from '../../config/schema.js';
import { Secret, scrub } from '../../shared/secret.js';
import type { PowerResult, VerifiedOff } from './ipmi.js';

export interface AgentTarget {
  readonly host: string;
  /** The [fence_agent:NAME] it comes from. */
  readonly device: string;
  /** The agent as configured (a name or a path). */
  readonly agent: string;
  /** Its options for this host: the device's, with the host's own over them, {host} replaced. */
  readonly options: readonly (readonly [string, string])[];
  readonly passwordFile: string;
  readonly timeoutMs: number;
}

export class FenceAgentConfigError extends Error {
  override name = 'FenceAgentConfigError';
}

/** Where fence-agents installs its agents (Debian, RHEL); a bare name is looked up there, never on PATH. */
export const AGENT_DIRS = ['/usr/sbin', '/sbin', '/usr/bin'];

/** The agent's executable: an absolute path as it is, a name from AGENT_DIRS. */
export function resolveAgent(agent: string): string | undefined {
  const candidates = agent.startsWith('/') ? [agent] : AGENT_DIRS.map((dir) => `${dir}/${agent}`);
  return candidates.find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The device's agent and options for one host. */
export function agentFor(config: Config, device: string, host: string): AgentTarget {
  const section = config.fenceAgents.get(device);
  if (!section) throw new FenceAgentConfigError(`no [${FENCE_AGENT_PREFIX}${device}] section for the fence level "${device}" of ${host}: add it, or change [fencing] levels`);
  if (!section.agent) throw new FenceAgentConfigError(`[${FENCE_AGENT_PREFIX}${device}] agent is not set: name the fence agent (e.g. fence_redfish)`);
  const merged = new Map<string, string>();
  for (const text of [section.options, config.fenceAgentHosts.get(device)?.get(host)?.options ?? '']) {
    const words = agentOptionWords(text);
    if (!words.ok) throw new FenceAgentConfigError(`[${FENCE_AGENT_PREFIX}${device}] options: expected ${words.expected}`);
    for (const [key, value] of words.options) merged.set(key, value.replaceAll('{host}', host));
  }
  return { host, device, agent: section.agent, options: [...merged], passwordFile: section.password_file, timeoutMs: section.timeout };
}

export type AgentAction = 'status' | 'on' | 'off';

/** What the agent reads on standard input: the stdin protocol, one key=value per line. */
export function agentInput(target: Pick<AgentTarget, 'host' | 'options'>, action: AgentAction, password?: string): string {
  const lines = [`action=${action}`, `nodename=${target.host}`, ...target.options.map(([k, v]) => `${k}=${v}`)];
  if (password !== undefined) lines.push(`password=${password}`);
  return `${lines.join('\n')}\n`;
}

/** The line of an agent's output that says what went wrong (fencing.py's messages, not Python's warnings). */
export function agentMessage(stdout: string, stderr: string): string {
  const lines = `${stderr}\n${stdout}`.split('\n').map((l) => l.trim()).filter((l) => l && !/DeprecationWarning|^import |^\s*from /.test(l));
  return lines.find((l) => /error|fail|unable|timed out|refused/i.test(l)) ?? lines.at(-1) ?? '';
}

/** The agent's exit code and output, read as a power state (status) or as an accepted command (on, off). */
export function agentResult(action: AgentAction, exitCode: number | undefined, stdout: string, stderr: string): PowerResult {
  const message = agentMessage(stdout, stderr);
  if (action === 'status') {
    if (exitCode === 0) return { state: 'on' };
    if (exitCode === 2) return { state: 'off' };
    return { state: 'unknown', error: message || `exit ${exitCode ?? 'unknown'}` };
  }
  if (exitCode === 0) return { state: action };
  return { state: 'unknown', error: message || `exit ${exitCode ?? 'unknown'}` };
}

function passwordOf(target: AgentTarget): Secret | undefined {
  if (!target.passwordFile) return undefined;
  try {
    return new Secret(readFileSync(target.passwordFile, 'utf8').split('\n')[0]!.trim());
  } catch (error) {
    throw new FenceAgentConfigError(`cannot read ${target.passwordFile}, the password of fence device ${target.device} (${(error as NodeJS.ErrnoException).code}); it must be readable by the Consul agents' user`);
  }
}

/**
 * One agent call; never throws for device trouble (that is an unknown state), only for bad config.
 * A deadline (epoch ms) cuts the call short, whatever the device's own timeout.
 */
export async function agentPower(target: AgentTarget, action: AgentAction, deadline = Number.POSITIVE_INFINITY): Promise<PowerResult> {
  const command = resolveAgent(target.agent);
  const name = `${target.agent} (fence device ${target.device})`;
  if (!command) return { state: 'unknown', error: `${target.agent} not found in ${target.agent.startsWith('/') ? 'that path' : AGENT_DIRS.join(', ')}: apt-get install fence-agents, or set [${FENCE_AGENT_PREFIX}${target.device}] agent` };
  const password = passwordOf(target);
  const budget = Math.round(Math.max(1000, Math.min(target.timeoutMs, deadline - Date.now())));
  const { execa } = await import('execa');
  // Its own process group: on timeout the agent and whatever it started are killed together.
  const child = execa(command, [], { input: agentInput(target, action, password?.reveal()), detached: true, reject: false, stripFinalNewline: true, env: { PATH: `${AGENT_DIRS.join(':')}:/usr/local/bin:/bin` }, extendEnv: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }, budget);
  const result = await child;
  clearTimeout(timer);
  const clean = (text: unknown): string => scrub(typeof text === 'string' ? text : '').replaceAll(password?.reveal() || '\u0000', '***');
  if (timedOut) return { state: 'unknown', error: `${name} did not finish ${action} within ${budget} ms` };
  const outcome = agentResult(action, result.exitCode, clean(result.stdout), clean(result.stderr));
  return outcome.error ? { ...outcome, error: `${name}: ${outcome.error}` } : outcome;
}

/**
 * Power off through the agent and poll its status until it reports off, within timeoutMs. Already
 * off: verified at once. quick: give up at once when the first status gets no answer (the host's
 * watchdog stands behind this level, and waiting on a silent device only delays evacuation).
 */
export async function agentPowerOffVerified(target: AgentTarget, timeoutMs: number, options: { quick?: boolean; pollMs?: number } = {}): Promise<VerifiedOff> {
  const start = Date.now();
  const deadline = start + timeoutMs;
  const first = await agentPower(target, 'status', deadline);
  if (first.state === 'off') return { verified: true, after: Date.now() - start, detail: `${target.agent} status already reported off` };
  if (options.quick && first.state === 'unknown') return { verified: false, after: Date.now() - start, detail: `no answer: ${first.error}` };
  let lastError = (await agentPower(target, 'off', deadline)).error;
  let sentAt = Date.now();
  while (Date.now() < deadline) {
    const status = await agentPower(target, 'status', deadline);
    if (status.state === 'off') return { verified: true, after: Date.now() - start, detail: `${target.agent} off sent; its status reported off after ${Date.now() - start} ms` };
    if (status.error) lastError = status.error;
    if (Date.now() - sentAt > 5000) {
      lastError = (await agentPower(target, 'off', deadline)).error ?? lastError;
      sentAt = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 500));
  }
  return { verified: false, after: Date.now() - start, detail: `${target.agent} status did not report off within ${timeoutMs} ms${lastError ? ` (${lastError})` : ''}` };
}

/**
 * Agents known to pass the password to another program in its argv, where any local user can read
 * it (/proc/PID/cmdline): fence_ipmilan and its aliases run ipmitool -P (measured: shared
 * docs/fencing-lab.md section 1), the SNMP agents run snmpget/snmpset with -c, -A or -X, and
 * fence_vmware runs vmware-cmd --password. Known by name, and by what the script itself imports
 * or runs (an alias under another name).
 */
const LEAKS_BY_NAME: Readonly<Record<string, string>> = {
  fence_ipmilan: 'runs ipmitool -P PASSWORD',
  fence_ipmilanplus: 'runs ipmitool -P PASSWORD',
  fence_idrac: 'runs ipmitool -P PASSWORD',
  fence_ilo3: 'runs ipmitool -P PASSWORD',
  fence_ilo4: 'runs ipmitool -P PASSWORD',
  fence_ilo5: 'runs ipmitool -P PASSWORD',
  fence_imm: 'runs ipmitool -P PASSWORD',
  fence_vmware: 'runs vmware-cmd --password PASSWORD',
};

export function passwordLeak(agent: string): string | undefined {
  const base = agent.split('/').at(-1)!;
  if (LEAKS_BY_NAME[base]) return LEAKS_BY_NAME[base];
  const path = resolveAgent(agent);
  if (!path) return undefined;
  let text: string;
  try {
    text = readFileSync(realpathSync(path), 'latin1').slice(0, 200_000);
  } catch {
    return undefined;
  }
  if (/fencing_snmp/.test(text)) return 'runs snmpget/snmpset with the password or community in -A, -X or -c';
  if (/ipmitool/.test(text) && /"-P"|'-P'/.test(text)) return 'runs ipmitool -P PASSWORD';
  return undefined;
}

/** What check-config adds for fence agents on this machine: each agent installed, and a warning for those that leak. */
export function agentProblems(config: Config): ConfigProblem[] {
  if (config.DEFAULT.role !== 'controller' || config.fencing.method !== 'agent') return [];
  const used = new Set([...config.fencing.levels, ...[...config.fencingHosts.values()].flatMap((h) => h.levels ?? [])]);
  const problems: ConfigProblem[] = [];
  for (const [device, section] of config.fenceAgents) {
    if (!section.agent) continue;
    const where = `${FENCE_AGENT_PREFIX}${device}`;
    if (!resolveAgent(section.agent)) {
      problems.push({ section: where, key: 'agent', message: `expected an installed fence agent, found no executable ${section.agent}${section.agent.startsWith('/') ? '' : ` in ${AGENT_DIRS.join(', ')}`} (apt-get install fence-agents)` });
      continue;
    }
    const leak = passwordLeak(section.agent);
    if (leak && used.has(device)) {
      problems.push({ section: where, key: 'agent', warning: true, message: `${section.agent} ${leak}: nova-ha gives it the password on standard input, but the agent puts it in the argv of a program it runs, which any local user can read; for IPMI prefer the built-in level ipmi (ipmitool -E, the password in the environment)` });
    }
  }
  return problems;
}
