/**
 * Handler runs counted across processes without a daemon: one byte appended to a file per run,
 * so a count is the file's size (read by lib/metrics.ts).
 */
import { appendFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const RUNS_DIR = 'handler-runs';

/**
 * One byte appended per handler run: a run count is the file's size. Appending a byte is atomic,
 * so concurrent handlers never lose a count and need no lock.
 */
export function countRun(stateDir: string, handler: string, ok: boolean): void {
  try {
    mkdirSync(join(stateDir, RUNS_DIR), { recursive: true, mode: 0o700 });
    appendFileSync(join(stateDir, RUNS_DIR, `${handler}.${ok ? 'ok' : 'error'}`), '.');
  } catch {
    // Metrics must never break a handler.
  }
}

export interface RunCounts {
  readonly runs: ReadonlyMap<string, { ok: number; error: number; lastOk: number }>;
}

export function readRuns(stateDir: string): RunCounts {
  const runs = new Map<string, { ok: number; error: number; lastOk: number }>();
  let files: string[];
  try {
    files = readdirSync(join(stateDir, RUNS_DIR));
  } catch {
    return { runs };
  }
  for (const file of files) {
    const match = /^(.+)\.(ok|error)$/.exec(file);
    if (!match) continue;
    const stat = statSync(join(stateDir, RUNS_DIR, file));
    const entry = runs.get(match[1]!) ?? { ok: 0, error: 0, lastOk: 0 };
    if (match[2] === 'ok') runs.set(match[1]!, { ...entry, ok: stat.size, lastOk: stat.mtimeMs });
    else runs.set(match[1]!, { ...entry, error: stat.size });
  }
  return { runs };
}
