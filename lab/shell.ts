/**
 * Running commands for the lab: every failure becomes one line naming the command and the first
 * line of what it printed, because the lab runs hundreds of `ip` calls and a stack trace of
 * child_process internals helps nobody.
 */
import { spawn } from 'node:child_process';

export interface RunOptions {
  /** Written to the command's standard input (ip -batch reads its commands there). */
  readonly input?: string;
  /** The whole environment of the command; the lab's own environment when absent. */
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  /** Resolve with the exit code instead of throwing when the command fails. */
  readonly allowFailure?: boolean;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit code, or -1 when the command was killed (timeout) or could not be started. */
  readonly code: number;
}

const firstLine = (text: string): string => text.trim().split('\n')[0] ?? '';

export function describeCommand(command: string, args: readonly string[]): string {
  const shown = [command, ...args].join(' ');
  return shown.length > 160 ? `${shown.slice(0, 157)}...` : shown;
}

export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = options.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, options.timeoutMs)
      : undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdin.on('error', () => undefined); // a command that exits before reading its input is reported by its exit code
    child.stdin.end(options.input ?? '');
    child.on('error', (error) => {
      clearTimeout(timer);
      if (options.allowFailure) resolvePromise({ stdout, stderr: error.message, code: -1 });
      else reject(new Error(`${describeCommand(command, args)}: cannot start: ${error.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const result = { stdout, stderr: timedOut ? `timed out after ${options.timeoutMs} ms` : stderr, code: code ?? -1 };
      if (result.code === 0 || options.allowFailure) resolvePromise(result);
      else reject(new Error(`${describeCommand(command, args)} failed (exit ${result.code}): ${firstLine(result.stderr) || firstLine(stdout)}`));
    });
  });
}

/** `ip -n NS -batch -`: many iproute2 commands in one process, which keeps a 100-compute lab fast. */
export async function ipBatch(namespace: string | null, commands: readonly string[]): Promise<void> {
  if (commands.length === 0) return;
  const args = namespace ? ['-n', namespace, '-batch', '-'] : ['-batch', '-'];
  await run('ip', args, { input: `${commands.join('\n')}\n` });
}

/** Run a command inside a network namespace (`ip netns exec` execs, so the command keeps ip's place). */
export function runInNamespace(namespace: string, argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  if (argv.length === 0) throw new Error(`runInNamespace ${namespace}: empty command`);
  return run('ip', ['netns', 'exec', namespace, ...argv], options);
}

/** Run `count` jobs with at most `limit` at a time; used to spread per-node setup over both cores without a fork storm. */
export async function inParallel<T>(items: readonly T[], limit: number, job: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await job(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
