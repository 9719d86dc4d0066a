import type { Command } from 'commander';
import { configPath, requireConfig } from '../../lib/config/load.js';
import { formatDuration } from '../../lib/shared/duration.js';
import { evacuateAgainCommand, type Incident } from '../../lib/state/incident.js';
import { IncidentStore } from '../../lib/state/incident-store.js';
import { createLogger, nodeNameOf } from '../../lib/shared/log.js';
import { NETWORKS } from '../../lib/decision/model.js';
import { pollTargets } from '../../lib/state/poll-targets.js';
import { KEYS } from '../../lib/state/records.js';
import { createRuntime, type Runtime } from '../../lib/recovery/runtime.js';
import { readStatus, type ClusterStatus, type HostStatus } from '../../lib/operator/status.js';
import { CliError } from '../errors.js';
import { table } from '../table.js';

export function cliRuntime(program: Command, component: string): Runtime {
  const config = requireConfig(configPath(program.opts<{ config?: string }>().config));
  // The terminal is for the command's output; its log lines go to the log file only.
  const logger = createLogger({ component, node: nodeNameOf(config), level: config.DEFAULT.log_level, stream: null, ...(config.DEFAULT.log_file ? { file: config.DEFAULT.log_file } : {}) });
  return createRuntime(config, component, logger);
}

const tty = process.stdout.isTTY === true;
const red = (text: string): string => (tty ? `\x1b[1;31m${text}\x1b[0m` : text);
const yellow = (text: string): string => (tty ? `\x1b[33m${text}\x1b[0m` : text);

/** A cell that stands out when it is not the healthy value. */
const cell = (value: string, healthy: readonly string[]): string => (healthy.includes(value) ? value : value === 'unknown' ? yellow(value) : red(value.toUpperCase()));

function hostRow(h: HostStatus): string[] {
  const maintenance = h.maintenance === 'unknown' ? yellow('unknown') : h.maintenance.on ? yellow(`on${h.maintenance.reason ? ` (${h.maintenance.reason})` : ''}`) : '-';
  const incident = h.incident === 'unknown' ? yellow('unknown') : h.incident ? (h.incident.needsOperator ? red : yellow)(`${h.incident.phase} ${h.incident.cause} ${h.incident.id}`) : '-';
  return [h.host, ...NETWORKS.map((n) => cell(h.networks[n], ['alive'])), cell(h.power, ['on']), `${cell(h.novaCompute.node, ['up'])}/${cell(h.novaCompute.api, ['up'])}`, maintenance, incident];
}

export function renderStatus(status: ClusterStatus): string {
  const lines: string[] = [];
  if (status.paused === 'unknown') lines.push(yellow('PAUSE SWITCH UNKNOWN: it could not be read'));
  else if (status.paused) lines.push(red(`PAUSED since ${status.paused.since}: ${status.paused.reason} (nova-ha alerts but starts no action; nova-ha resume)`));
  for (const n of NETWORKS) if (!status.clusters[n].ok) lines.push(red(`cannot reach the ${n} cluster's leader from ${status.observer}: ${status.clusters[n].error}`));
  if (status.storm) lines.push(red(status.storm));
  if (status.nova.api !== 'up' || status.nova.schedulers !== 'up') lines.push(yellow(`Nova: API ${status.nova.api}, schedulers ${status.nova.schedulers}`));
  lines.push(table(status.hosts.map(hostRow), ['HOST', 'MGMT', 'STORAGE', 'TENANT', 'POWER', 'NOVA node/api', 'MAINTENANCE', 'INCIDENT']));
  const troubled = status.hosts.filter((h) => h.decision.action !== 'none' || h.incident);
  for (const h of troubled) lines.push(`${h.host}: ${h.decision.action}: ${h.decision.reason}`);
  lines.push(`${status.hosts.length} compute hosts, read from ${status.observer} at ${status.generatedAt}`);
  return lines.join('\n');
}

function incidentRow(i: Incident): string[] {
  const end = i.closedAt ?? Date.now();
  return [i.id, i.host, i.phase, i.cause, new Date(i.openedAt).toISOString().replace('.000', ''), formatDuration(end - i.openedAt), `${(i.instances ?? []).length}${i.held?.length ? ` + ${i.held.length} held` : ''}`];
}

/** For an open incident whose fence went through and some instances failed or are held for room: the exact command that evacuates them again. */
export function retryLine(i: Incident): string | undefined {
  const failed = (i.instances ?? []).filter((o) => o.outcome === 'failed').length;
  const held = (i.held ?? []).length;
  const fenced = i.timeline.some((e) => e.step === 'power-off' && e.outcome === 'done');
  if (i.closedAt !== undefined || failed + held === 0 || !fenced) return undefined;
  const counts = [...(held ? [`${held} instance${held === 1 ? '' : 's'} held for room`] : []), ...(failed ? [`${failed} instance${failed === 1 ? '' : 's'} failed`] : [])].join(', ');
  const retried = i.retries ? ` (${i.retries.attempts} automatic ${i.retries.attempts === 1 ? 'retry' : 'retries'} so far)` : '';
  return `${counts}${retried}; ${held ? 'nova-ha evacuates them by itself when room appears; ' : ''}once the cause is fixed, evacuate again with: ${evacuateAgainCommand(i.host)}`;
}

export function renderIncident(i: Incident): string {
  const lines = [`incident ${i.id}: ${i.host}, ${i.cause}, phase ${i.phase}${i.hold ? ` (${i.hold.needsOperator ? 'held for an operator' : 'watching'}: ${i.hold.reason})` : ''}`, `reason: ${i.reason}`, ''];
  const start = i.timeline[0]?.at ?? i.openedAt;
  let previous = start;
  lines.push(table(i.timeline.map((e) => {
    const took = e.at - previous;
    previous = e.at;
    return [new Date(e.at).toISOString().slice(11, 23), `+${formatDuration(e.at - start)}`, formatDuration(took), e.step, e.outcome, e.by, e.detail ?? ''];
  }), ['TIME (UTC)', 'ELAPSED', 'TOOK', 'STEP', 'OUTCOME', 'BY', 'DETAIL']));
  const instances = i.instances ?? [];
  const held = i.held ?? [];
  if (instances.length + held.length > 0) {
    // Where each priority came from (image, flavor, aggregate) only when some source set one: the last column.
    const withPriority = instances.some((o) => o.priority !== undefined);
    const rows = [
      ...instances.map((o) => [o.name || '-', o.id, o.outcome, o.from, o.to ?? '-', o.detail ?? '', ...(withPriority ? [o.priority ?? '-'] : [])]),
      ...held.map((h) => [h.name || '-', h.id, 'held', i.host, '-', h.reason, ...(withPriority ? ['-'] : [])]),
    ];
    lines.push('', table(rows, ['INSTANCE', 'ID', 'OUTCOME', 'FROM', 'TO', 'DETAIL', ...(withPriority ? ['PRIORITY'] : [])]));
  }
  const retry = retryLine(i);
  if (retry) lines.push('', retry);
  if (i.closedAt) lines.push('', `closed after ${formatDuration(i.closedAt - i.openedAt)}`);
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('status')
    .description('every compute host: its state on each network, power, nova-compute, maintenance and incident')
    .option('--json', 'machine-readable (shape: docs/status-json.md)')
    .option('--watch [seconds]', 'refresh every few seconds (default 2)')
    .action(async (options: { json?: boolean; watch?: string | boolean }) => {
      const runtime = cliRuntime(program, 'cli-status');
      const once = async (): Promise<ClusterStatus> => readStatus(runtime);
      if (!options.watch) {
        const status = await once();
        console.log(options.json ? JSON.stringify(status, null, 2) : renderStatus(status));
        if (NETWORKS.some((n) => !status.clusters[n].ok)) process.exitCode = 1;
        return;
      }
      const every = (typeof options.watch === 'string' ? Number(options.watch) : 2) * 1000;
      for (;;) {
        const status = await once();
        process.stdout.write(`${tty ? '\x1b[H\x1b[2J' : ''}${options.json ? JSON.stringify(status) : renderStatus(status)}\n`);
        await new Promise((resolve) => setTimeout(resolve, every));
      }
    });

  program
    .command('incidents')
    .description('open incidents and recent ones')
    .option('--limit <n>', 'how many closed ones to show', '20')
    .option('--json', 'machine-readable')
    .action(async (options: { limit: string; json?: boolean }) => {
      const store = new IncidentStore(cliRuntime(program, 'cli-incidents').kv);
      const open = await store.open();
      const closed = (await store.history()).slice(0, Number(options.limit));
      if (options.json) {
        console.log(JSON.stringify({ open, closed }, null, 2));
        return;
      }
      const header = ['ID', 'HOST', 'PHASE', 'CAUSE', 'OPENED', 'DURATION', 'INSTANCES'];
      console.log(open.length ? `open:\n${table(open.map(incidentRow), header)}` : 'no open incident');
      if (closed.length) console.log(`\nrecent:\n${table(closed.map(incidentRow), header)}`);
    });

  program
    .command('incident <id>')
    .description("one incident's timeline (every step, its duration and outcome) and every instance's outcome")
    .option('--json', 'machine-readable')
    .action(async (id: string, options: { json?: boolean }) => {
      const incident = await new IncidentStore(cliRuntime(program, 'cli-incident').kv).find(id);
      if (!incident) throw new CliError(`no incident ${id} (list them with: nova-ha incidents)`, 1);
      console.log(options.json ? JSON.stringify(incident, null, 2) : renderIncident(incident));
    });

  program
    .command('maintenance <on|off> <host>')
    .description('a host in maintenance is shown as such and never acted on, whatever fails')
    .option('--reason <text>', 'why (shown in status and emails)', 'maintenance')
    .option('--force', 'accept a host nova-ha does not know (yet)')
    .action(async (state: string, host: string, options: { reason: string; force?: boolean }) => {
      if (state !== 'on' && state !== 'off') throw new CliError(`maintenance takes on or off, found "${state}"`);
      const runtime = cliRuntime(program, 'cli-maintenance');
      // A typo would protect nothing while the operator believes the host is safe.
      if (state === 'on' && !options.force && !(await pollTargets(runtime.kv)).includes(host)) throw new CliError(`nova-ha knows no compute host ${host} (see nova-ha status); pass --force to flag it anyway`, 1);
      const key = runtime.kv.key(KEYS.maintenance(host));
      if (state === 'on') await runtime.kv.write(key, { reason: options.reason, since: Date.now(), by: `${runtime.node} (${process.env['SUDO_USER'] ?? process.env['USER'] ?? 'operator'})` });
      else await runtime.kv.delete(key);
      runtime.logger.info('maintenance', { host, state, reason: options.reason });
      console.log(`${host}: maintenance ${state}${state === 'on' ? ` (${options.reason}): nova-ha will not act on it` : ''}`);
    });

  program
    .command('pause')
    .description('stop every automatic action cluster-wide (detection and alerts go on)')
    .option('--reason <text>', 'why (shown in status and in every email while paused)', 'paused by an operator')
    .action(async (options: { reason: string }) => {
      const runtime = cliRuntime(program, 'cli-pause');
      await runtime.kv.write(runtime.kv.key(KEYS.pause), { reason: options.reason, since: Date.now(), by: `${runtime.node} (${process.env['SUDO_USER'] ?? process.env['USER'] ?? 'operator'})` });
      runtime.logger.info('pause', { reason: options.reason });
      console.log(`nova-ha is paused (${options.reason}): it alerts, but starts no repair, fence or evacuation until nova-ha resume (a fence already under way is finished after resume)`);
    });

  program
    .command('resume')
    .description('let nova-ha act again after a pause')
    .action(async () => {
      const runtime = cliRuntime(program, 'cli-resume');
      await runtime.kv.delete(runtime.kv.key(KEYS.pause));
      runtime.logger.info('resume', {});
      console.log('nova-ha resumed: it acts again');
    });
}
