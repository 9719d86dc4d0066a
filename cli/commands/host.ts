import type { Command } from 'commander';
import { tryAcquire } from '../../lib/systems/consul/lock.js';
import { withPhase } from '../../lib/state/incident.js';
import { IncidentStore } from '../../lib/state/incident-store.js';
import { controllerEffects } from '../../lib/recovery/controller-effects.js';
import { NETWORKS } from '../../lib/decision/model.js';
import { KEYS } from '../../lib/state/records.js';
import { channelsFor, composeMessage } from '../../lib/systems/notify/index.js';
import { CliError } from '../errors.js';
import { cliRuntime } from './status.js';

const operator = (): string => process.env['SUDO_USER'] ?? process.env['USER'] ?? 'operator';

export function register(program: Command): void {
  program
    .command('resolve <host>')
    .description("close HOST's open incident by hand (held ones included): an operator took over")
    .requiredOption('--reason <text>', 'what was done (kept in the incident)')
    .action(async (host: string, options: { reason: string }) => {
      const runtime = cliRuntime(program, 'cli-resolve');
      const store = new IncidentStore(runtime.kv);
      const lock = await tryAcquire(runtime.clusters.mgmt, { key: runtime.kv.key(KEYS.lock(host)), holder: { node: runtime.node, pid: process.pid, host, purpose: 'resolve' } });
      if (!lock) throw new CliError(`a nova-ha worker is working on ${host} right now; wait for it (nova-ha status) and try again`, 1);
      try {
        const open = (await store.current(host))?.value;
        if (!open) throw new CliError(`${host} has no open incident`, 1);
        // Closing a started fence would let nova-ha treat the powered-off host as a power loss and power it on.
        if (open.fenceStarted) throw new CliError(`incident ${open.id} has started fencing ${host}: finish it with nova-ha fence ${host}, or return the host with nova-ha unfence ${host}`, 1);
        const closed = (await store.change(host, (i) => (i ? { ...withPhase(i, 'failed', Date.now(), `${runtime.node} (${operator()})`, `resolved by an operator: ${options.reason}`), closedAt: Date.now() } : i)))!;
        await store.archive(closed);
        if (closed.attempts.drain !== undefined) await controllerEffects(runtime).undrain?.(host);
        runtime.logger.info('incident-resolved', { host, incident: closed.id, reason: options.reason, by: operator() });
        console.log(`incident ${closed.id} of ${host} closed by hand: ${options.reason}`);
      } finally {
        await lock.release();
      }
    });

  program
    .command('forget <host>')
    .description('drop what nova-ha remembers of a decommissioned HOST (its record, history, maintenance flag)')
    .action(async (host: string) => {
      const runtime = cliRuntime(program, 'cli-forget');
      for (const network of NETWORKS) {
        if ((await runtime.clusters[network].catalogNodes()).some((n) => n.Node === host)) {
          throw new CliError(`${host} is still a member of the ${network} cluster: stop and remove its Consul agents first (consul force-leave), or nova-ha would only learn it again`, 1);
        }
      }
      if (await runtime.kv.read(runtime.kv.key(KEYS.incident(host)))) throw new CliError(`${host} has an open incident: close it first (nova-ha resolve ${host} --reason ...)`, 1);
      for (const key of [KEYS.host(host), KEYS.maintenance(host), KEYS.repairReport(host)]) await runtime.kv.delete(runtime.kv.key(key));
      await runtime.clusters.mgmt.client.kv.del({ key: runtime.kv.key(KEYS.historyOf(host)), recurse: true });
      runtime.logger.info('host-forgotten', { host, by: operator() });
      console.log(`nova-ha forgot ${host}`);
    });

  program
    .command('notify-test')
    .description('send a test notification through every configured channel (email, webhook) and report how it went')
    .action(async () => {
      const runtime = cliRuntime(program, 'cli-notify-test');
      // Each channel directly, once, without dedupe or retries: the operator sees each one's answer.
      const channels = channelsFor({ settings: runtime.config.notifications });
      if (channels.length === 0) throw new CliError('no notification channel is configured: set [notifications] smtp_host (and to) or webhook_url', 1);
      const notification = { host: runtime.node, event: 'test', summary: 'test message', action: 'nothing (a test)', reason: `Sent by nova-ha notify-test on ${runtime.node} by ${operator()}. If you read this, notifications work.`, timeline: [], at: Date.now() };
      const message = composeMessage(notification, { subjectPrefix: runtime.config.notifications.subject_prefix, node: runtime.node });
      let failed = 0;
      for (const channel of channels) {
        try {
          await channel.send(notification, message, AbortSignal.timeout(60_000));
          console.log(`${channel.name}: sent`);
        } catch (error) {
          failed++;
          console.log(`${channel.name}: NOT sent: ${(error as Error).message}`);
        }
      }
      runtime.logger.info('notify-test', { channels: channels.map((c) => c.name), failed });
      if (failed > 0) process.exitCode = 1;
    });
}
