/** Facts about processes from /proc, without spawning ps. */
import { readFileSync, readdirSync } from 'node:fs';

/** Linux reports process start times in clock ticks since boot; USER_HZ is 100 on every Linux ABI nova-ha runs on. */
const TICKS_PER_SECOND = 100;

function bootTime(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('btime '));
  return Number(line?.split(/\s+/)[1]) * 1000;
}

/** Fields of /proc/PID/stat after the command name (which may contain spaces and parentheses). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** When a process started (ms since the epoch), or undefined if it does not exist. */
export function processStartedAt(pid: number): number | undefined {
  const fields = statFields(pid);
  // starttime is field 22 of stat; the slice above starts at field 3.
  const ticks = fields ? Number(fields[19]) : Number.NaN;
  return Number.isFinite(ticks) ? bootTime() + (ticks * 1000) / TICKS_PER_SECOND : undefined;
}

export function commandName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** A process that exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  const state = statFields(pid)?.[0];
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** PIDs of live processes whose command name (as in ps -o comm, 15 characters at most) is name. */
export function findProcesses(name: string): number[] {
  const wanted = name.slice(0, 15);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (commandName(pid) === wanted && isRunning(pid)) pids.push(pid);
  }
  return pids;
}
