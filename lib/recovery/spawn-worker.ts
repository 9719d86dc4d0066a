/** Hands a host to a worker process that outlives the handler (Consul waits for handlers to exit). */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import type { Observer } from '../decision/observation.js';
import { processStartedAt } from '../shared/proc.js';

export function workerSpawner(configFile: string | undefined, observer: Observer): (host: string) => void {
  return (host) => {
    const args = [siblingHandler('worker'), '--host', host, '--observer-started-at', String(observer.startedAt), ...(configFile ? ['--config', configFile] : [])];
    spawn(process.execPath, args, { detached: true, stdio: 'ignore' }).unref();
  };
}

/**
 * This controller as an observer. Consul starts handlers and checks itself, so the parent
 * process is the agent and its start time opens the quiet period.
 */
export function observerFromAgent(node: string, startedAtArg?: string): Observer {
  const given = startedAtArg === undefined ? Number.NaN : Number(startedAtArg);
  return { node, startedAt: Number.isFinite(given) ? given : (processStartedAt(process.ppid) ?? Date.now()) };
}

/** A compiled handler next to the running one (dist/handlers/NAME.js). */
export function siblingHandler(name: string): string {
  return join(dirname(process.argv[1]!), `${name}.js`);
}
