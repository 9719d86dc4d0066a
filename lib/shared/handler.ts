/**
 * The common shell of every handler Consul runs: parse arguments, load the config, run, and exit
 * with the right code. A script check prints one status line (then details) and exits 0 passing,
 * 1 warning, 2 critical, as Consul and the monitoring-plugins conventions expect; a watch handler
 * exits non-zero when it could not do its job, so Consul logs it.
 */
import { readFileSync, writeSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, requireConfig, type Config } from '../config/load.js';
import { countRun } from './run-counter.js';
import { scrub } from './secret.js';

export const EXIT = { ok: 0, warning: 1, critical: 2, badInput: 2, error: 3 } as const;

export interface HandlerContext {
  readonly config: Config;
  readonly configFile: string | undefined;
  /** The handler's own string options (besides --config). */
  readonly args: Readonly<Record<string, string | undefined>>;
}

/**
 * Runs main and exits with its code; any error becomes one line (never a secret). For a check,
 * exit codes 1 and 2 are results (warning, critical); for other handlers any non-zero is an error.
 */
export async function runHandler(name: string, kind: 'check' | 'handler', options: readonly string[], main: (context: HandlerContext) => Promise<number>): Promise<never> {
  let code: number;
  let stateDir: string | undefined;
  let threw = false;
  try {
    const spec: NonNullable<ParseArgsConfig['options']> = Object.fromEntries([...options, 'config'].map((o) => [o, { type: 'string' as const }]));
    const { values } = parseArgs({ options: spec, strict: true, allowPositionals: false });
    const args = values as Record<string, string | undefined>;
    const configFile = args['config'];
    const config = requireConfig(configFile);
    stateDir = config.DEFAULT.state_dir;
    code = await main({ config, configFile, args });
  } catch (error) {
    threw = true;
    const message = error instanceof ConfigError ? error.message : error instanceof Error ? error.message : String(error);
    printStatus(`UNKNOWN: nova-ha ${name}: ${scrub(message)}`);
    writeLine(2, `nova-ha ${name}: ${scrub(message)}`);
    code = error instanceof ConfigError || (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? EXIT.badInput : EXIT.error;
    // A check that could not run knows nothing: warning reads as unknown. Exit 2 or 3 would be
    // critical to Consul, and a critical nova-compute check reads as "nova-compute dead".
    if (kind === 'check') code = EXIT.warning;
  }
  if (stateDir) countRun(stateDir, name, !threw && (kind === 'check' || code === EXIT.ok));
  process.exit(code);
}

/**
 * A check's status line (and details), on standard output. Written straight to the descriptor:
 * console.log would first build a stream on it (a socket on the pipe Consul reads), which costs a
 * check more CPU than its own work.
 */
export function printStatus(text: string): void {
  writeLine(1, text);
}

function writeLine(fd: number, text: string): void {
  const data = Buffer.from(`${text}\n`);
  try {
    for (let done = 0; done < data.length; ) done += writeSync(fd, data, done);
  } catch {
    // As console.log: a reader that went away does not change the handler's outcome.
  }
}

/** Everything on standard input (a watch's JSON), read without building a stream where it can be. */
export async function readStdin(): Promise<string> {
  try {
    return readFileSync(0, 'utf8');
  } catch (error) {
    // A non-blocking descriptor has no data yet: only a stream can wait for it.
    if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
