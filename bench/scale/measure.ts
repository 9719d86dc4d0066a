/**
 * One run of a bundled handler as Consul starts it (the same argv; a watch's payload on stdin),
 * measured: wall time, CPU seconds and peak RSS from /usr/bin/time, Consul requests and bytes read
 * from the counting proxies. Also finds and stops, by PID, the processes a run left behind.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CountingProxy } from './counting-proxy.js';

export interface Measured {
  readonly wallS: number;
  readonly cpuS: number;
  readonly rssMiB: number;
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly requests: number;
  readonly bytes: number;
}

function childOf(pid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return children ? Number(children.split(/\s+/)[0]) : undefined;
  } catch {
    return undefined;
  }
}

export async function measure(args: readonly string[], options: { stdin?: string; proxies: readonly CountingProxy[]; env?: Record<string, string>; timeFile: string }): Promise<Measured> {
  const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', options.timeFile, process.execPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
  // The handler is time's child: count the traffic of its sockets from its first connection on.
  let handler: number | undefined;
  for (let i = 0; i < 2000 && handler === undefined && child.exitCode === null; i++) {
    handler = childOf(child.pid!);
    if (handler === undefined) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  if (handler !== undefined) for (const proxy of options.proxies) proxy.track(handler);
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.stdin ?? '');
  const code = await exited;
  // Let the proxies see the last bytes and the sockets close.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const traffic = options.proxies.map((p) => p.traffic());
  const [wall, user, system, rssKb] = readFileSync(options.timeFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
  return { wallS: wall!, cpuS: user! + system!, rssMiB: rssKb! / 1024, code, stdout, stderr, requests: traffic.reduce((s, t) => s + t.requests, 0), bytes: traffic.reduce((s, t) => s + t.bytes, 0) };
}

/** Processes whose command line mentions marker (a run's own temp dir), but not this one. */
export function processesMentioning(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(join('/proc', entry, 'cmdline'), 'utf8').includes(marker)) pids.push(Number(entry));
    } catch {
      // Gone.
    }
  }
  return pids;
}

/** CPU seconds a process has used so far (utime + stime). */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** SIGKILLs the given processes (found by processesMentioning) and waits until they are gone. */
export async function killAll(pids: readonly number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  for (let i = 0; i < 100 && pids.some((pid) => existsPid(pid)); i++) await new Promise((resolve) => setTimeout(resolve, 50));
}

function existsPid(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== undefined && state !== 'Z';
  } catch {
    return false;
  }
}
