/**
 * The lab parts for fencing beyond ipmitool: nova-ha's two opt-in services started the way their
 * systemd units say (the lab runs no systemd), the SIMULATED watchdog of a compute
 * (watchdog-sim.ts), the Redfish stand-in of a compute's BMC (redfish-bmc.ts), and secret files
 * for fence devices. Every process is recorded and stopped by PID.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { passwordFile } from './bmc.js';
import { consulAccount } from './consul-agents.js';
import type { Lab } from './lab.js';
import { novaHaDir } from './nova-ha.js';
import { readRecord, recordProcess, stopProcesses, type ProcessRecord } from './processes.js';
import { run, runInNamespace, sleep } from './shell.js';
import { addressOf, bmcOf, namespaceOf, nodeDir, REPO_ROOT } from './topology.js';

const logsOf = (lab: Lab): string => join(lab.runDir, 'logs');

async function waitForLine(file: string, pattern: RegExp, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(existsSync(file) && pattern.test(readFileSync(file, 'utf8')))) {
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${timeoutMs} ms: see ${file}`);
    await sleep(50);
  }
}

function spawnRecorded(lab: Lab, name: string, argv: readonly string[]): ProcessRecord {
  const child = spawn(argv[0]!, argv.slice(1), { cwd: REPO_ROOT, detached: true, stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: '' } });
  child.unref();
  return recordProcess(lab.runDir, name, child.pid!);
}

async function stopRecorded(lab: Lab, name: string): Promise<void> {
  const record = readRecord(lab.runDir, name);
  if (record) await stopProcesses([record], 10_000);
}

// ---- nova-ha's services, as their units say ----------------------------------------------------

export const unitFile = (lab: Lab, node: string, unit: string): string => join(novaHaDir(lab.spec, node), 'systemd', `${unit}.service`);
const serviceRecord = (node: string, unit: string): string => `${node}-${unit}`;

/**
 * Starts a service install.sh wrote for this node, in the node's namespace: its privileged
 * ExecStartPre commands as root, then its ExecStart as its User. What systemd would do, minus the
 * restarts.
 */
export async function startService(lab: Lab, node: string, unit: string): Promise<ProcessRecord> {
  const file = unitFile(lab, node, unit);
  if (!existsSync(file)) throw new Error(`${file} does not exist: run install.sh on ${node} with the option that enables ${unit}`);
  const lines = readFileSync(file, 'utf8').split('\n');
  const value = (key: string): string[] => lines.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  const words = (text: string): string[] => text.trim().split(/\s+/).map((w) => w.replace(/^"(.*)"$/, '$1'));
  const user = value('User')[0] ?? 'root';
  for (const pre of value('ExecStartPre')) await runInNamespace(lab.namespace(node), words(pre.replace(/^\+/, '')));
  const start = value('ExecStart')[0];
  if (!start) throw new Error(`${file} has no ExecStart`);
  const record = spawnRecorded(lab, serviceRecord(node, unit), ['ip', 'netns', 'exec', lab.namespace(node), 'setpriv', `--reuid=${user}`, `--regid=${user}`, '--init-groups', '--', ...words(start)]);
  return record;
}

export const stopService = (lab: Lab, node: string, unit: string): Promise<void> => stopRecorded(lab, serviceRecord(node, unit));

// ---- the simulated watchdog ---------------------------------------------------------------------

export const watchdogFifo = (lab: Lab, compute: string): string => join(nodeDir(lab.spec, compute), 'watchdog.fifo');
export const watchdogSimLog = (lab: Lab, compute: string): string => join(logsOf(lab), `${compute}-watchdog-sim.log`);
const simRecord = (compute: string): string => `${compute}-watchdog-sim`;

/** The SIMULATED watchdog of a compute: a FIFO its feeder writes, read by a root-namespace process that powers the host off when not fed. */
export async function startWatchdogSim(lab: Lab, compute: string, timeoutMs: number): Promise<ProcessRecord> {
  const fifo = watchdogFifo(lab, compute);
  if (!existsSync(fifo)) await run('mkfifo', ['-m', '0600', fifo]);
  const { uid, gid } = consulAccount();
  chownSync(fifo, uid, gid);
  mkdirSync(logsOf(lab), { recursive: true });
  writeFileSync(watchdogSimLog(lab, compute), '');
  const record = spawnRecorded(lab, simRecord(compute), [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'lab', 'watchdog-sim.ts'), '--fifo', fifo, '--timeout-ms', String(timeoutMs), '--keeper-record', join(lab.runDir, 'pids', `${compute}-host.pid`), '--log', watchdogSimLog(lab, compute)]);
  await waitForLine(watchdogSimLog(lab, compute), / start /, 20_000, `the simulated watchdog of ${compute}`);
  return record;
}

export const stopWatchdogSim = (lab: Lab, compute: string): Promise<void> => stopRecorded(lab, simRecord(compute));

export interface SimEvent {
  readonly at: number;
  readonly event: string;
  readonly detail: string;
}

export function watchdogSimEvents(lab: Lab, compute: string): SimEvent[] {
  const file = watchdogSimLog(lab, compute);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => {
    const [at, event, ...rest] = line.split(' ');
    return { at: Date.parse(at!), event: event!, detail: rest.join(' ') };
  });
}

// ---- the Redfish stand-in -----------------------------------------------------------------------

export const REDFISH_USER = 'nova-ha';
export const redfishPasswordFile = (lab: Lab): string => join(lab.runDir, 'redfish.password');
export const redfishLog = (lab: Lab, compute: string): string => join(logsOf(lab), `${bmcOf(compute)}-redfish.log`);
const redfishRecord = (compute: string): string => `${bmcOf(compute)}-redfish`;

/** The lab's Redfish password (random, root-only), made on first use. */
export function redfishPassword(lab: Lab): string {
  if (!existsSync(redfishPasswordFile(lab))) writeFileSync(redfishPasswordFile(lab), `${randomBytes(12).toString('base64url')}\n`, { mode: 0o600 });
  return readFileSync(redfishPasswordFile(lab), 'utf8').trim();
}

/** The Redfish stand-in of a compute's BMC, on the BMC's out-of-band address, port 443, with a fresh self-signed certificate. */
export async function startRedfish(lab: Lab, compute: string): Promise<ProcessRecord> {
  redfishPassword(lab);
  const dir = join(lab.runDir, 'redfish');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  if (!existsSync(cert)) await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=nova-ha lab redfish']);
  mkdirSync(logsOf(lab), { recursive: true });
  writeFileSync(redfishLog(lab, compute), '');
  const address = addressOf(bmcOf(compute), 'oob');
  await lab.checkRoute(bmcOf(compute), address);
  const record = spawnRecorded(lab, redfishRecord(compute), ['ip', 'netns', 'exec', namespaceOf(lab.spec, bmcOf(compute)), process.execPath, '--import', 'tsx', join(REPO_ROOT, 'lab', 'redfish-bmc.ts'), '--address', address, '--port', '443', '--cert', cert, '--key', key, '--password-file', redfishPasswordFile(lab), '--ipmi-password-file', passwordFile(lab.spec), '--log', redfishLog(lab, compute)]);
  await waitForLine(redfishLog(lab, compute), /listening on/, 20_000, `the Redfish stand-in of ${compute}`);
  return record;
}

export const stopRedfish = (lab: Lab, compute: string): Promise<void> => stopRecorded(lab, redfishRecord(compute));

// ---- fence_kdump_send, as a crashed host's kdump kernel runs it ----------------------------------

/** fence-agents installs the sender off PATH (scripts/deps.sh lab installs fence-agents). */
export const KDUMP_SEND = '/usr/libexec/fence-agents/fence_kdump_send';
const senderRecord = (from: string): string => `${from}-fence_kdump_send`;

/**
 * fence_kdump_send from a node's namespace to the given addresses, one message at once and then
 * one every interval, until stopped: the protocol a kdump kernel speaks, from the node's own
 * addresses (these machines cannot run kdump itself: no kexec).
 */
export async function startKdumpSender(lab: Lab, from: string, to: readonly string[], intervalSeconds = 1): Promise<ProcessRecord> {
  if (!existsSync(KDUMP_SEND)) throw new Error(`${KDUMP_SEND} is missing: scripts/deps.sh lab installs fence-agents`);
  for (const address of to) await lab.checkRoute(from, address);
  return spawnRecorded(lab, senderRecord(from), ['ip', 'netns', 'exec', lab.namespace(from), KDUMP_SEND, '-p', '7410', '-i', String(intervalSeconds), '-c', '0', ...to]);
}

export const stopKdumpSender = (lab: Lab, from: string): Promise<void> => stopRecorded(lab, senderRecord(from));
