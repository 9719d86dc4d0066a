/**
 * nova-compute on this node, as the node itself sees it: systemd's word on the unit and the
 * process in /proc, so a unit that claims "active" with no process, or a process that outlived a
 * stopped unit, is seen for what it is. The nova-compute check prints it; the remediation handler
 * watches it after a restart. Not the Nova API client (the rest of this folder): nothing here
 * talks to Nova.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Config } from '../../config/load.js';
import { commandName, findProcesses, isRunning } from '../../shared/proc.js';

export interface NovaComputeOnNode {
  /** unknown: could not tell (a unit in transition, systemd silent, a PID file we may not read), or nothing to look at. */
  readonly state: 'up' | 'down' | 'unknown';
  /** What was found, for the status line: "process 123 running", "nova-compute.service active". */
  readonly facts: readonly string[];
  /** What is wrong or could not be told. */
  readonly problems: readonly string[];
  /** The nova-compute processes seen (a restart that took gives new ones). */
  readonly pids: readonly number[];
  /** [nova_compute] names nothing to look at. */
  readonly unconfigured?: true;
}

export async function novaComputeOnNode(options: Config['nova_compute']): Promise<NovaComputeOnNode> {
  const { systemd_unit: unit, process_name: name, pid_file: pidFile } = options;
  const problems: string[] = [];
  const facts: string[] = [];
  const pids: number[] = [];
  let unknown = false;

  if (!unit && !name && !pidFile) return { state: 'unknown', facts, problems: ['[nova_compute] sets neither systemd_unit, process_name nor pid_file: nothing to check'], pids, unconfigured: true };

  if (unit) {
    if (!existsSync('/run/systemd/system')) {
      unknown = true;
      problems.push(`systemd is not running here, so ${unit} cannot be asked (set [nova_compute] systemd_unit empty)`);
    } else {
      // Loaded only here: most nodes' checks never ask systemd, and execa costs every run that loads it.
      const { execa } = await import('execa');
      const result = await execa('systemctl', ['is-active', unit], { reject: false, timeout: 5000 });
      const state = result.stdout.trim() || 'unknown';
      if (result.timedOut || result.exitCode === undefined || state === 'unknown') {
        unknown = true;
        problems.push(`systemctl did not say whether ${unit} runs (${result.timedOut ? 'timed out' : state})`);
      } else if (state === 'active') facts.push(`${unit} active`);
      else if (state === 'activating' || state === 'reloading') {
        unknown = true;
        problems.push(`${unit} is ${state}`);
      } else problems.push(`${unit} is ${state}`);
    }
  }

  if (pidFile) {
    const text = readPidFile(pidFile);
    // The first field: PID files may carry more (the lab's hold "PID STARTTIME").
    const pid = Number(text.content?.trim().split(/\s+/)[0]);
    if (text.error && text.error !== 'ENOENT') {
      // Not being allowed to look is not evidence that nova-compute is down.
      unknown = true;
      problems.push(`cannot read ${pidFile} (${text.error}); make it readable by the Consul agent's user`);
    } else if (!Number.isInteger(pid) || pid <= 0) problems.push(`no PID in ${pidFile}`);
    else if (!isRunning(pid)) problems.push(`process ${pid} from ${pidFile} is not running`);
    else if (name && commandName(pid) !== name.slice(0, 15)) problems.push(`process ${pid} from ${pidFile} is ${commandName(pid)}, not ${name}`);
    else {
      facts.push(`process ${pid} running`);
      pids.push(pid);
    }
  } else if (name) {
    const found = findProcesses(name);
    if (found.length === 0) problems.push(`no ${name} process`);
    else {
      facts.push(`${name} running (pid ${found.join(', ')})`);
      pids.push(...found);
    }
  }

  // A unit in transition, an unanswerable systemd or an unreadable PID file is not "down".
  return { state: problems.length === 0 ? 'up' : unknown ? 'unknown' : 'down', facts, problems, pids };
}

function readPidFile(file: string): { content?: string; error?: string } {
  try {
    return { content: readFileSync(file, 'utf8') };
  } catch (error) {
    return { error: (error as NodeJS.ErrnoException).code ?? 'error' };
  }
}
