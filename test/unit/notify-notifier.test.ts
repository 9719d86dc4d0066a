import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createNotifier, type Notification, type NotificationSettings, type Notifier } from '../../lib/systems/notify/index.js';
import { Secret } from '../../lib/shared/secret.js';
import { captureLog, closedPort, notificationSettings, Resources, startSilentServer, startSmtpServer, startWebhookServer, tempDir, type CapturedLog } from './notify-helpers.js';

const resources = new Resources();
afterEach(() => resources.cleanup());

const PASSWORD = 'smtp-Pa55-in-no-log-line';
const FAST_BACKOFF = { minMs: 20, maxMs: 100 };
/** For a server that never greets: fails fast. */
const FAST_SMTP = { connectMs: 1000, greetingMs: 200, socketMs: 1000 };
/** For a server that answers: a loaded machine (both unit runs side by side) can take longer than 200 ms to greet, and a retry would change what the test sees. */
const PATIENT_SMTP = { connectMs: 5000, greetingMs: 5000, socketMs: 5000 };
/** A sanity bound, not a benchmark: notify() must not wait for any network. */
const PROMPTLY_MS = 50;

const notification: Notification = {
  host: 'compute-5',
  event: 'needs-operator',
  summary: 'nova-compute down in Nova\'s API only',
  action: 'held for an operator, not fenced',
  reason: 'only Nova\'s API reports nova-compute down, and restart-nova-compute did not bring it back within 60s',
  incidentId: 'inc-5',
  timeline: [{ at: 1_777_000_000_000, step: 'repairing', outcome: 'restart-nova-compute sent' }],
};

function notifierFor(settings: NotificationSettings, log: CapturedLog, smtpTimeouts = PATIENT_SMTP): Notifier {
  return createNotifier({ settings, logger: log.logger, node: 'ctl1', backoff: FAST_BACKOFF, smtpTimeouts, webhookTimeoutMs: 1000 });
}

function timedNotify(notifier: Notifier, n: Notification = notification): number {
  const started = performance.now();
  notifier.notify(n);
  return performance.now() - started;
}

describe('notifier', () => {
  it('returns at once and logs one line naming channel, host, event and error after retrying a refused connection', async () => {
    const log = captureLog();
    const port = await closedPort();
    const notifier = notifierFor(notificationSettings({ smtp_host: '127.0.0.1', smtp_port: port, smtp_tls: 'starttls', smtp_username: 'nova-ha', smtp_password: new Secret(PASSWORD), retry_for: 2000 }), log);

    expect(timedNotify(notifier)).toBeLessThan(PROMPTLY_MS);
    expect(notifier.pending).toBe(1);
    expect(await notifier.flush(10_000)).toEqual({ settled: true, abandoned: 0 });

    const failed = log.records('notify-failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: 'error', channel: 'email', host: 'compute-5', notify_event: 'needs-operator', incident: 'inc-5' });
    expect(failed[0]!['attempts']).toBeGreaterThan(1);
    expect(failed[0]!['error']).toMatch(new RegExp(`^email: SMTP server 127\\.0\\.0\\.1:${port} \\(smtp_tls = starttls\\): connect ECONNREFUSED .*; check smtp_host and smtp_port`));
    expect(log.records('notify-retrying').filter((r) => r['level'] === 'warning')).toHaveLength(1);
    expect(log.lines.join('')).not.toContain(PASSWORD);
  });

  it('returns at once when the server accepts but never greets, and logs the failure after retries', async () => {
    const log = captureLog();
    const silent = await startSilentServer(resources);
    const notifier = notifierFor(notificationSettings({ smtp_host: '127.0.0.1', smtp_port: silent.port, retry_for: 500 }), log, FAST_SMTP);

    expect(timedNotify(notifier)).toBeLessThan(PROMPTLY_MS);
    expect(await notifier.flush(10_000)).toEqual({ settled: true, abandoned: 0 });

    expect(silent.accepted).toBeGreaterThan(1);
    const failed = log.records('notify-failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ channel: 'email', host: 'compute-5', notify_event: 'needs-operator' });
    expect(failed[0]!['error']).toContain('never greeted');
  });

  it('flush waits for a send in progress', async () => {
    const log = captureLog();
    const server = await startSmtpServer(resources, { dataDelayMs: 300 });
    const notifier = notifierFor(notificationSettings({ smtp_host: '127.0.0.1', smtp_port: server.port }), log);

    notifier.notify(notification);
    expect(log.records('notify-sent')).toHaveLength(0);
    expect(await notifier.flush(10_000)).toEqual({ settled: true, abandoned: 0 });
    expect(notifier.pending).toBe(0);
    expect(server.received).toHaveLength(1);
    expect(log.records('notify-sent')).toEqual([expect.objectContaining({ level: 'info', channel: 'email', host: 'compute-5', notify_event: 'needs-operator', attempts: 1 })]);
  });

  it('flush gives up at its deadline, logs what was abandoned and lets go of the connection', async () => {
    const log = captureLog();
    const silent = await startSilentServer(resources);
    const notifier = createNotifier({
      settings: notificationSettings({ smtp_host: '127.0.0.1', smtp_port: silent.port, retry_for: 60_000 }),
      logger: log.logger,
      smtpTimeouts: { connectMs: 30_000, greetingMs: 30_000, socketMs: 30_000 },
    });

    notifier.notify(notification);
    expect(await notifier.flush(300)).toEqual({ settled: false, abandoned: 1 });
    expect(notifier.pending).toBe(0);
    expect(log.records('notify-abandoned')).toEqual([expect.objectContaining({ level: 'error', channel: 'email', host: 'compute-5', notify_event: 'needs-operator' })]);
    expect(log.records('notify-failed')).toHaveLength(0);
    for (let i = 0; i < 50 && silent.connections.size > 0; i++) await sleep(20);
    expect(silent.connections.size).toBe(0);
  });

  it('leaves nothing behind that keeps a handler process alive after flush', { timeout: 60_000 }, async () => {
    const silent = await startSilentServer(resources);
    const script = join(tempDir(resources), 'handler.mts');
    const lib = (file: string): string => JSON.stringify(new URL(`../../lib/${file}`, import.meta.url).href);
    writeFileSync(
      script,
      [
        `import { createNotifier } from ${lib('systems/notify/index.ts')};`,
        `import { silentLogger } from ${lib('shared/log.ts')};`,
        `import { Secret } from ${lib('shared/secret.ts')};`,
        `const settings = { smtp_host: '127.0.0.1', smtp_port: ${silent.port}, smtp_tls: 'none', smtp_username: '', smtp_password: new Secret(''), smtp_cafile: '', from: 'a@example.com', to: ['b@example.com'], subject_prefix: '[t]', webhook_url: new URL('http://127.0.0.1:${silent.port}/hook'), webhook_token: new Secret(''), dedupe_window: 0, retry_for: 600000 };`,
        `const notifier = createNotifier({ settings, logger: silentLogger });`,
        `notifier.notify({ host: 'h', event: 'fenced', summary: 's', action: 'a', reason: 'r', timeline: [] });`,
        `process.stdout.write(JSON.stringify(await notifier.flush(300)));`,
      ].join('\n'),
    );
    // No process.exit() in the script: it must end by itself, with a retry_for of ten minutes pending.
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], { cwd: process.cwd(), timeout: 30_000 });
    expect(JSON.parse(stdout)).toEqual({ settled: false, abandoned: 1 });
  });

  it('sends to every channel, and one failing channel does not stop the other', async () => {
    const log = captureLog();
    const smtp = await startSmtpServer(resources);
    const hook = await startWebhookServer(resources, () => 404);
    const notifier = notifierFor(notificationSettings({ smtp_host: '127.0.0.1', smtp_port: smtp.port, webhook_url: hook.url }), log);

    notifier.notify(notification);
    await notifier.flush(10_000);
    expect(smtp.received).toHaveLength(1);
    expect(hook.requests).toHaveLength(1);
    expect(log.records('notify-sent')).toEqual([expect.objectContaining({ channel: 'email' })]);
    // 404 is permanent: logged at once, not retried for retry_for.
    expect(log.records('notify-failed')).toEqual([expect.objectContaining({ channel: 'webhook', attempts: 1, error: `webhook ${hook.url.origin}: answered HTTP 404 Not Found; check webhook_url` })]);
  });

  it('retries a webhook until the receiver takes it', async () => {
    const log = captureLog();
    const answers = [503, 503, 204];
    const hook = await startWebhookServer(resources, () => answers.shift() ?? 204);
    const notifier = notifierFor(notificationSettings({ webhook_url: hook.url, webhook_token: new Secret('tok-never-logged-123') }), log);

    notifier.notify(notification);
    await notifier.flush(10_000);
    expect(hook.requests).toHaveLength(3);
    expect(log.records('notify-sent')).toEqual([expect.objectContaining({ channel: 'webhook', attempts: 3 })]);
    expect(log.lines.join('')).not.toContain('tok-never-logged-123');
  });

  it('sends what it was given at notify() time, even if the caller changes it afterwards', async () => {
    const smtp = await startSmtpServer(resources);
    const notifier = notifierFor(notificationSettings({ smtp_host: '127.0.0.1', smtp_port: smtp.port }), captureLog());
    const timeline = [{ at: 1_777_000_000_000, step: 'repairing', outcome: 'sent' }];
    notifier.notify({ ...notification, timeline });
    timeline.push({ at: 1_777_000_060_000, step: 'later-step', outcome: 'not in this mail' });
    await notifier.flush(10_000);
    expect(smtp.received[0]!.text).not.toContain('later-step');
  });

  it('never throws into the caller, whatever it is given', async () => {
    const log = captureLog();
    const notifier = notifierFor(notificationSettings({ smtp_host: '127.0.0.1', smtp_port: await closedPort(), retry_for: 100 }), log);
    const unclonable = { ...notification, timeline: [{ at: 1, step: 's', outcome: 'o', detail: (() => 'x') as unknown as string }] };
    expect(() => notifier.notify(unclonable)).not.toThrow();
    expect(() => notifier.notify(null as unknown as Notification)).not.toThrow();
    await notifier.flush(5000);
    expect(log.records('notify-failed').length).toBeGreaterThanOrEqual(2);
  });

  it('still sends a notification with gaps, and names what is missing when it cannot', async () => {
    const log = captureLog();
    const smtp = await startSmtpServer(resources);
    const notifier = notifierFor(notificationSettings({ smtp_host: '127.0.0.1', smtp_port: smtp.port }), log);
    notifier.notify({ host: 'compute-5', event: 'fenced' } as unknown as Notification);
    notifier.notify({ host: '', event: 'fenced' } as unknown as Notification);
    await notifier.flush(10_000);
    expect(smtp.received.map((m) => m.subject)).toEqual(['[nova-ha] compute-5: fenced — (not stated)']);
    expect(log.records('notify-failed')).toEqual([expect.objectContaining({ notify_event: 'fenced', error: 'notification not sent: expected text in host; this is a bug in the caller of notify()' })]);
  });

  it('flush without pending sends returns at once', async () => {
    const notifier = notifierFor(notificationSettings({ smtp_host: '127.0.0.1' }), captureLog());
    expect(await notifier.flush(10_000)).toEqual({ settled: true, abandoned: 0 });
  });

  it('logs a warning instead of sending when no channel is configured', async () => {
    const log = captureLog();
    const notifier = notifierFor(notificationSettings(), log);
    notifier.notify(notification);
    await notifier.flush(1000);
    expect(log.records('notify-no-channel')).toEqual([expect.objectContaining({ level: 'warning', host: 'compute-5' })]);
  });
});
