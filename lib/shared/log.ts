/**
 * Structured logs: one JSON object per line, with the component, the node it ran on and, where
 * there is one, the host, incident and step. Secrets never get through: Secret values print as
 * ***, and every known secret string is scrubbed from the finished line.
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import type { Config } from '../config/load.js';
import { Secret, scrub } from './secret.js';

export type Level = 'debug' | 'info' | 'warning' | 'error';
const RANK: Record<Level, number> = { debug: 10, info: 20, warning: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: Fields): void;
  info(event: string, fields?: Fields): void;
  warn(event: string, fields?: Fields): void;
  error(event: string, fields?: Fields): void;
  /** A logger that adds these fields (host, incident, step ...) to every line. */
  child(fields: Fields): Logger;
}

export interface LoggerOptions {
  readonly component: string;
  readonly node?: string;
  readonly level?: Level;
  /** Appended to as well as standard error; created if missing. */
  readonly file?: string;
  /** Where lines go besides the file; standard error by default. */
  readonly stream?: { write(line: string): unknown } | null;
}

/**
 * Appends to the log file, refusing anything but a plain file of its own: the log directory
 * belongs to the agents' user, and root's CLI logs there too, so a link (or a hard link, or a
 * FIFO that would block) put in the log's place must not make root write elsewhere.
 */
function appendLine(file: string, line: string): void {
  const fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o640);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.nlink !== 1) throw new Error(`${file} is not a plain file of its own (a link to another file?)`);
    writeSync(fd, line);
  } finally {
    closeSync(fd);
  }
}

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Secret) return '***';
  if (value instanceof Error) return { name: value.name, message: value.message, ...(value.cause ? { cause: String(value.cause) } : {}) };
  if (value instanceof URL) return value.href;
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export function createLogger(options: LoggerOptions): Logger {
  const threshold = RANK[options.level ?? 'info'];
  const stream = options.stream === undefined ? process.stderr : options.stream;
  let fileBroken = false;
  if (options.file) {
    try {
      mkdirSync(dirname(options.file), { recursive: true });
    } catch {
      fileBroken = true;
    }
  }

  const write = (level: Level, event: string, fields: Fields): void => {
    if (RANK[level] < threshold) return;
    const record = { ts: new Date().toISOString(), level, component: options.component, ...(options.node ? { node: options.node } : {}), event, ...fields };
    const line = `${scrub(JSON.stringify(record, replacer))}\n`;
    stream?.write(line);
    if (options.file && !fileBroken) {
      try {
        appendLine(options.file, line);
      } catch (error) {
        fileBroken = true;
        stream?.write(`${JSON.stringify({ ts: new Date().toISOString(), level: 'warning', component: options.component, event: 'log-file-unwritable', file: options.file, error: (error as Error).message, fix: 'check the owner and mode of the log directory' })}\n`);
      }
    }
  };

  const make = (bound: Fields): Logger => ({
    debug: (event, fields = {}) => write('debug', event, { ...bound, ...fields }),
    info: (event, fields = {}) => write('info', event, { ...bound, ...fields }),
    warn: (event, fields = {}) => write('warning', event, { ...bound, ...fields }),
    error: (event, fields = {}) => write('error', event, { ...bound, ...fields }),
    child: (fields) => make({ ...bound, ...fields }),
  });
  return make({});
}

/** The node's name in logs and in Consul: [DEFAULT] node_name, else the host name. */
export const nodeNameOf = (config: Config): string => config.DEFAULT.node_name || hostname();

/**
 * Logs go to the log file; standard error only when there is none. Consul puts a check's standard
 * error into its output (which must be the status line) and a watch handler's into its own log.
 */
export function createLoggerFor(config: Config, component: string): Logger {
  const file = config.DEFAULT.log_file;
  return createLogger({ component, node: nodeNameOf(config), level: config.DEFAULT.log_level, ...(file ? { file, stream: null } : {}) });
}

/** For tests and tools that must not print. */
export const silentLogger: Logger = createLogger({ component: 'silent', stream: null, level: 'error' });
