/**
 * Compute nodes' script check on the mgmt agent: is nova-compute running here? Asks systemd for
 * the unit's state and /proc for the process, so a unit that claims "active" with no process, or
 * a process that outlived a stopped unit, is seen for what it is.
 */
import { existsSync, readFileSync } from 'node:fs';
import { EXIT, printStatus, runHandler } from '../lib/shared/handler.js';
import { commandName, findProcesses, isRunning } from '../lib/shared/proc.js';

void runHandler('nova-compute-check', 'check', [], async ({ config }) => {
  const { systemd_unit: unit, process_name: name, pid_file: pidFile } = config.nova_compute;
  const problems: string[] = [];
  const facts: string[] = [];
  let unknown = false;

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
    else facts.push(`process ${pid} running`);
  } else if (name) {
    const pids = findProcesses(name);
    if (pids.length === 0) problems.push(`no ${name} process`);
    else facts.push(`${name} running (pid ${pids.join(', ')})`);
  }

  if (!unit && !name && !pidFile) {
    printStatus('UNKNOWN: [nova_compute] sets neither systemd_unit, process_name nor pid_file: nothing to check');
    return EXIT.warning;
  }
  if (problems.length === 0) {
    printStatus(`OK: nova-compute: ${facts.join(', ')}`);
    return EXIT.ok;
  }
  // A unit in transition, an unanswerable systemd or an unreadable PID file is not "down": warning makes it unknown to the policy.
  const dead = !unknown;
  printStatus(`${dead ? 'CRITICAL' : 'WARNING'}: nova-compute: ${problems.join('; ')}${facts.length ? ` (${facts.join(', ')})` : ''}`);
  return dead ? EXIT.critical : EXIT.warning;
});

function readPidFile(file: string): { content?: string; error?: string } {
  try {
    return { content: readFileSync(file, 'utf8') };
  } catch (error) {
    return { error: (error as NodeJS.ErrnoException).code ?? 'error' };
  }
}
