/**
 * Handler runs counted across processes without a daemon (read by lib/operator/metrics.ts).
 *
 * A run appends one byte to `<handler>.<result>`: appending is atomic, so concurrent handlers
 * need no lock and a count is the file's size. So that the file does not grow forever, the run
 * that takes it to FOLD_AT bytes folds it: it renames the file away (only one process can), adds
 * its size to `<handler>.<result>.base` (a decimal number, replaced whole) and deletes it. A count
 * is base + the file's size + any file a fold has not finished with. The files stay below a few
 * KiB; a handler killed in the middle of a fold miscounts by at most that fold.
 */
import { appendFileSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const RUNS_DIR = 'handler-runs';
export const FOLD_AT = 4096;
const COUNT = /^(.+)\.(ok|error)$/;
const FOLDING = /^(.+)\.(ok|error)\.folding-\d+$/;
const BASE = /^(.+)\.(ok|error)\.base$/;

/** Size and modification time; zeros for a file a fold just moved away. */
function statOf(path: string): { size: number; mtimeMs: number } {
  try {
    return statSync(path);
  } catch {
    return { size: 0, mtimeMs: 0 };
  }
}
const sizeOf = (path: string): number => statOf(path).size;

function baseOf(path: string): number {
  try {
    const value = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(value) && value >= 0 ? value : 0;
  } catch {
    return 0;
  }
}

function fold(dir: string, name: string): void {
  const moving = join(dir, `${name}.folding-${process.pid}`);
  try {
    renameSync(join(dir, name), moving);
  } catch {
    return; // Another run folded it first.
  }
  const base = join(dir, `${name}.base`);
  const temp = `${base}.${process.pid}.tmp`;
  writeFileSync(temp, `${baseOf(base) + sizeOf(moving)}\n`);
  renameSync(temp, base);
  unlinkSync(moving);
}

export function countRun(stateDir: string, handler: string, ok: boolean): void {
  try {
    const dir = join(stateDir, RUNS_DIR);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const name = `${handler}.${ok ? 'ok' : 'error'}`;
    appendFileSync(join(dir, name), '.');
    if (sizeOf(join(dir, name)) >= FOLD_AT) fold(dir, name);
  } catch {
    // Metrics must never break a handler.
  }
}

export interface RunCounts {
  readonly runs: ReadonlyMap<string, { ok: number; error: number; lastOk: number }>;
}

export function readRuns(stateDir: string): RunCounts {
  const runs = new Map<string, { ok: number; error: number; lastOk: number }>();
  const dir = join(stateDir, RUNS_DIR);
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return { runs };
  }
  for (const file of files) {
    const match = COUNT.exec(file) ?? FOLDING.exec(file) ?? BASE.exec(file);
    if (!match || file.endsWith('.tmp')) continue;
    const path = join(dir, file);
    const count = BASE.test(file) ? baseOf(path) : sizeOf(path);
    const entry = runs.get(match[1]!) ?? { ok: 0, error: 0, lastOk: 0 };
    if (match[2] === 'ok') runs.set(match[1]!, { ...entry, ok: entry.ok + count, lastOk: Math.max(entry.lastOk, statOf(path).mtimeMs) });
    else runs.set(match[1]!, { ...entry, error: entry.error + count });
  }
  return { runs };
}
