/**
 * Compute nodes' event watch handler: repair requests from the controllers, as Consul user
 * events. Acts only on an allow-listed action addressed to this node, signed with the shared key,
 * fresh and never seen before; everything else is logged and ignored. Runs the configured
 * command, with exactly its configured arguments and no shell, through sudo -n (the Consul agent
 * is not root; install.sh grants exactly these commands with exactly these arguments), checks for
 * [remediation] settle_time whether it helped, and reports back through Consul
 * (lib/recovery/node-repair.ts): refused and why, failed with its exit code, or what its check found.
 */
import { join } from 'node:path';
import { EXIT, readStdin, runHandler } from '../lib/shared/handler.js';
import { createLoggerFor, nodeNameOf } from '../lib/shared/log.js';
import { repairInvocation, ReplayGuard, verifyRequest, type RemediationAction } from '../lib/recovery/repair-request.js';
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
  // Loaded only when a request arrived: the watch also runs this handler at every agent start.
  const nodeRepair = () => import('../lib/recovery/node-repair.js');

  for (const event of fresh) {
    handled.remember(event.ID, Date.now(), Date.now());
    const payload = event.Payload ? Buffer.from(event.Payload, 'base64').toString('utf8') : '';
    const verdict = verifyRequest(payload, config.remediation.hmac_key, { self, now: Date.now(), maxAge, allowed, previousKey: config.remediation.hmac_previous_key });
    const fields = { consul_event: event.ID, ...(verdict.request?.incident ? { incident: verdict.request.incident } : {}), ...(verdict.request?.action ? { step: verdict.request.action } : {}) };
    if (!verdict.ok) {
      log.warn('remediation-refused', { ...fields, reason: verdict.reason });
      // The controller that asked would otherwise wait out its repair timeout. Only a signed request's
      // node is a controller's word; an unsigned one is answered from this node's own name.
      const { node, incident, action, nonce } = verdict.request ?? {};
      if (incident && action && nonce) await (await nodeRepair()).sendReport(config, { node: verdict.signed && node ? node : self, incident, action, request: nonce, result: 'refused', detail: verdict.reason }, log);
      continue;
    }
    const { request } = verdict;
    if (guard.seen(request.nonce)) {
      // Not reported: the request was answered when it was acted on, and this copy is not the controller's.
      log.warn('remediation-refused', { ...fields, reason: 'replayed: this request was already acted on' });
      continue;
    }
    guard.remember(request.nonce, request.ts, Date.now());
    const argv = commands[request.action];
    const { file, args } = repairInvocation(argv, process.getuid?.());
    log.info('remediation-run', { ...fields, command: [file, ...args].join(' '), ...(verdict.withPreviousKey ? { signed_with: 'hmac_previous_key' } : {}) });
    const { execa } = await import('execa');
    const result = await execa(file, args, { shell: false, stdin: 'ignore', reject: false, timeout: 120_000, all: true });
    const output = (result.all ?? '').slice(-500);
    const report = { node: request.node, incident: request.incident, action: request.action, request: request.nonce };
    const { checkAfterRepair, sendReport } = await nodeRepair();
    if (result.exitCode !== 0) {
      log.error('remediation-failed', { ...fields, exit_code: result.exitCode, output, fix: output.includes('sudo') ? 'install.sh --role compute grants the agent user these commands through sudo; run it again' : 'see the output' });
      const lastLine = output.trim().split('\n').at(-1) ?? '';
      await sendReport(config, { ...report, result: 'failed', detail: `${argv.join(' ')} ${result.timedOut ? 'timed out after 120 s' : `exited ${result.exitCode ?? 'without an exit code'}`}${lastLine ? `: ${lastLine}` : ''}` }, log);
      continue;
    }
    log.info('remediation-done', { ...fields, exit_code: result.exitCode, output });
    const finding = await checkAfterRepair(config, request.node, request.action);
    log[finding.result === 'still-broken' ? 'warn' : 'info']('remediation-checked', { ...fields, result: finding.result, detail: finding.detail });
    await sendReport(config, { ...report, ...finding }, log);
  }
  return EXIT.ok;
});
