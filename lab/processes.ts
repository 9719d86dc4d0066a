/**
 * Process bookkeeping. Every process the lab starts is recorded as <run>/pids/<name>.pid holding
 * "PID STARTTIME [group]" (STARTTIME = field 22 of /proc/PID/stat). A signal goes to a recorded
 * PID only while that PID still has the recorded start time, so a PID the kernel has handed to
 * a stranger is never hit. The shell scripts in lab/bin write the same format.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, sleep } from './shell.js';

export interface ProcessRecord {
  /** What it is: "ctl1-consul-mgmt", "bmc3-ipmi_sim", "cmp2-host". */
  readonly name: string;
  readonly pid: number;
  readonly startTime: number;
  /** Signal the whole process group (the PID leads it), as for ipmi_sim. */
  readonly group: boolean;
}

interface ProcStat {
  readonly state: string;
  readonly startTime: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const afterName = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = afterName[0];
  const startTime = Number(afterName[19]);
  if (state === undefined || !Number.isFinite(startTime)) return undefined;
  return { state, startTime };
}

/** Start time in clock ticks since boot, or undefined when the PID is gone or a zombie (kill -0 succeeds on zombies). */
export function startTimeOf(pid: number): number | undefined {
  const stat = readStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return undefined;
  return stat.startTime;
}

export const isRunning = (record: ProcessRecord): boolean => startTimeOf(record.pid) === record.startTime;

export const pidDir = (runDirectory: string): string => join(runDirectory, 'pids');

export function recordProcess(runDirectory: string, name: string, pid: number, group = false): ProcessRecord {
  const startTime = startTimeOf(pid);
  if (startTime === undefined) throw new Error(`${name} (pid ${pid}) exited at once: see its log in ${join(runDirectory, 'logs')}`);
  mkdirSync(pidDir(runDirectory), { recursive: true });
  writeFileSync(join(pidDir(runDirectory), `${name}.pid`), `${pid} ${startTime}${group ? ' group' : ''}\n`);
  return { name, pid, startTime, group };
}

export function readRecord(runDirectory: string, name: string): ProcessRecord | undefined {
  let text: string;
  try {
    text = readFileSync(join(pidDir(runDirectory), `${name}.pid`), 'utf8');
  } catch {
    return undefined;
  }
  const [pid, startTime, group] = text.trim().split(/\s+/);
  if (!pid || !startTime || !/^\d+$/.test(pid) || !/^\d+$/.test(startTime)) return undefined;
  return { name, pid: Number(pid), startTime: Number(startTime), group: group === 'group' };
}

export function readRecords(runDirectory: string): ProcessRecord[] {
  let files: string[];
  try {
    files = readdirSync(pidDir(runDirectory));
  } catch {
    return [];
  }
  return files
    .filter((file) => file.endsWith('.pid'))
    .map((file) => readRecord(runDirectory, file.slice(0, -'.pid'.length)))
    .filter((record): record is ProcessRecord => record !== undefined);
}

/** Send a signal only if the PID still is the recorded process. Returns whether it was sent. */
export function signalVerified(record: ProcessRecord, signal: NodeJS.Signals): boolean {
  if (!isRunning(record)) return false;
  try {
    process.kill(record.group ? -record.pid : record.pid, signal);
    return true;
  } catch {
    return false;
  }
}

export async function waitUntilGone(records: readonly ProcessRecord[], timeoutMs: number): Promise<ProcessRecord[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = records.filter(isRunning);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(50);
    alive = alive.filter(isRunning);
  }
  return alive;
}

/**
 * SIGCONT first (a SIGSTOPped process would sit on its SIGTERM), then SIGTERM, then SIGKILL for
 * whatever outlives the grace time. Returns the records that were running.
 */
export async function stopProcesses(records: readonly ProcessRecord[], graceMs: number): Promise<ProcessRecord[]> {
  const running = records.filter(isRunning);
  for (const record of running) signalVerified(record, 'SIGCONT');
  for (const record of running) signalVerified(record, 'SIGTERM');
  const stubborn = await waitUntilGone(running, graceMs);
  for (const record of stubborn) signalVerified(record, 'SIGKILL');
  const undead = await waitUntilGone(stubborn, 5_000);
  if (undead.length > 0) {
    throw new Error(`cannot stop ${undead.map((r) => `${r.name} (pid ${r.pid})`).join(', ')} even with SIGKILL: look at their state with ps -o pid,stat,args -p ${undead.map((r) => r.pid).join(',')}`);
  }
  return running;
}

/** Every process inside a network namespace, each with its start time taken now. */
export async function namespaceProcesses(namespace: string): Promise<ProcessRecord[]> {
  const { stdout, code } = await run('ip', ['netns', 'pids', namespace], { allowFailure: true });
  if (code !== 0) return [];
  return stdout
    .split('\n')
    .filter((line) => /^\d+$/.test(line.trim()))
    .map((line) => Number(line.trim()))
    .filter((pid) => pid !== process.pid)
    .map((pid) => ({ name: `${namespace}:${pid}`, pid, startTime: startTimeOf(pid) ?? -1, group: false }))
    .filter((record) => record.startTime >= 0);
}

/** Resident memory of a PID in bytes (0 when it is gone). */
export function residentBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** PIDs (not zombies) whose command line mentions `needle`: used to prove a lab left nothing behind. */
export function processesMentioning(needle: string): { pid: number; args: string }[] {
  const found: { pid: number; args: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let args: string;
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    } catch {
      continue;
    }
    if (args.includes(needle) && startTimeOf(pid) !== undefined) found.push({ pid, args });
  }
  return found;
}
