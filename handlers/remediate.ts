/**
 * Compute nodes' event watch handler: repair requests from the controllers, as Consul user
 * events. Acts only on an allow-listed action addressed to this node, signed with the shared key,
 * fresh and never seen before; everything else is logged and ignored. Runs the configured
 * command through sudo (the Consul agent is not root; install.sh grants exactly these commands).
 */
import { join } from 'node:path';
import { EXIT, readStdin, runHandler } from '../lib/shared/handler.js';
import { createLoggerFor, nodeNameOf } from '../lib/shared/log.js';
import { ReplayGuard, verifyRequest, type RemediationAction } from '../lib/recovery/repair-request.js';
import { REMEDIATION_EVENT } from '../lib/systems/consul/names.js';
import { parseWatchEvents } from '../lib/systems/consul/watch-input.js';

void runHandler('remediate', 'handler', [], async ({ config }) => {
  const log = createLoggerFor(config, 'remediate');
  const parsed = parseWatchEvents(await readStdin());
  if (!parsed.ok) {
    log.error('bad-watch-input', { error: parsed.error, fix: 'nothing done' });
    return EXIT.badInput;
  }
  const self = nodeNameOf(config);
  const commands: Record<RemediationAction, readonly string[]> = {
    'restart-storage-network': config.remediation.restart_storage_network,
    'restart-nova-compute': config.remediation.restart_nova_compute,
  };
  const allowed = new Set((Object.keys(commands) as RemediationAction[]).filter((a) => commands[a].length > 0));
  const maxAge = config.remediation.max_age;
  const guard = new ReplayGuard(join(config.DEFAULT.state_dir, 'remediation-nonces.json'), maxAge);
  // Consul hands over its recent events on every call; those already handled are skipped quietly.
  // (By event ID, not Lamport time: a cluster rebuilt from scratch restarts its clock.)
  const handled = new ReplayGuard(join(config.DEFAULT.state_dir, 'remediation-events.json'), 12 * 3600_000);
  const fresh = parsed.events.filter((e) => e.Name === REMEDIATION_EVENT && !handled.seen(e.ID)).sort((a, b) => a.LTime - b.LTime);

  for (const event of fresh) {
    handled.remember(event.ID, Date.now(), Date.now());
    const payload = event.Payload ? Buffer.from(event.Payload, 'base64').toString('utf8') : '';
    const verdict = verifyRequest(payload, config.remediation.hmac_key, { self, now: Date.now(), maxAge, allowed });
    const fields = { consul_event: event.ID, ...(verdict.request?.incident ? { incident: verdict.request.incident } : {}), ...(verdict.request?.action ? { step: verdict.request.action } : {}) };
    if (!verdict.ok) {
      log.warn('remediation-refused', { ...fields, reason: verdict.reason });
      continue;
    }
    if (guard.seen(verdict.request.nonce)) {
      log.warn('remediation-refused', { ...fields, reason: 'replayed: this request was already acted on' });
      continue;
    }
    guard.remember(verdict.request.nonce, verdict.request.ts, Date.now());
    const argv = commands[verdict.request.action];
    const command = process.getuid?.() === 0 ? argv : ['sudo', '-n', '--', ...argv];
    log.info('remediation-run', { ...fields, command: command.join(' ') });
    const { execa } = await import('execa');
    const result = await execa(command[0]!, command.slice(1), { reject: false, timeout: 120_000, all: true });
    const outcome = { ...fields, exit_code: result.exitCode, output: (result.all ?? '').slice(-500) };
    if (result.exitCode === 0) log.info('remediation-done', outcome);
    else log.error('remediation-failed', { ...outcome, fix: result.all?.includes('sudo') ? 'install.sh --role compute grants the agent user these commands through sudo; run it again' : 'see the output' });
  }
  return EXIT.ok;
});
