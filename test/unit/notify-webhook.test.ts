import { afterEach, describe, expect, it } from 'vitest';
import { composeMessage, createWebhookChannel, SendError, type Notification, type NotificationSettings, type WebhookPayload } from '../../lib/systems/notify/index.js';
import { Secret } from '../../lib/shared/secret.js';
import { closedPort, notificationSettings, Resources, startSilentServer, startWebhookServer } from './notify-helpers.js';

const resources = new Resources();
afterEach(() => resources.cleanup());

const TOKEN = 'webhook-T0ken-never-shown';

const notification: Notification = {
  host: 'compute-03',
  event: 'fence-failed',
  summary: 'hung or cut off',
  action: 'fence not verified, nothing evacuated',
  reason: 'the BMC did not report power off within 60s: the incident is held and nothing is evacuated',
  incidentId: 'inc-7',
  paused: false,
  at: 1_777_000_100_000,
  timeline: [
    { at: 1_777_000_000_000, step: 'detected', outcome: 'failed on every network' },
    { at: 1_777_000_100_000, step: 'fencing', outcome: 'not verified', detail: 'power still on', by: 'ctl2' },
  ],
  instances: [{ id: 'i-1', name: 'db', outcome: 'not evacuated', from: 'compute-03' }],
};

async function send(settings: NotificationSettings, timeoutMs = 5000): Promise<void> {
  const channel = createWebhookChannel(settings, { timeoutMs });
  await channel.send(notification, composeMessage(notification, { subjectPrefix: '[nova-ha]' }), new AbortController().signal);
}

async function failure(settings: NotificationSettings, timeoutMs?: number): Promise<SendError> {
  const error = await send(settings, timeoutMs).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(SendError);
  return error as SendError;
}

describe('webhook channel against a real HTTP server on 127.0.0.1', () => {
  it('POSTs the notification as JSON with the bearer token', async () => {
    const server = await startWebhookServer(resources);
    await send(notificationSettings({ webhook_url: server.url, webhook_token: new Secret(TOKEN) }));

    expect(server.requests).toHaveLength(1);
    const request = server.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/hooks/nova-ha');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['authorization']).toBe(`Bearer ${TOKEN}`);
    const payload = JSON.parse(request.body) as WebhookPayload;
    expect(payload).toMatchObject({
      source: 'nova-ha',
      text: '[nova-ha] compute-03: hung or cut off — fence not verified, nothing evacuated',
      host: 'compute-03',
      event: 'fence-failed',
      summary: 'hung or cut off',
      action: 'fence not verified, nothing evacuated',
      reason: notification.reason,
      incidentId: 'inc-7',
      paused: false,
      at: 1_777_000_100_000,
      timeline: notification.timeline,
      instances: notification.instances,
    });
    expect(payload.body).toContain('nova-ha incident inc-7');
    expect(request.body).not.toContain(TOKEN);
  });

  it('sends no Authorization header without a token', async () => {
    const server = await startWebhookServer(resources);
    await send(notificationSettings({ webhook_url: server.url }));
    expect(server.requests[0]!.headers['authorization']).toBeUndefined();
  });

  it('treats a 5xx answer as worth retrying and a refused token as permanent, naming only the origin', async () => {
    let status = 503;
    const server = await startWebhookServer(resources, () => status);
    const settings = notificationSettings({ webhook_url: server.url, webhook_token: new Secret(TOKEN) });

    const unavailable = await failure(settings);
    expect(unavailable.permanent).toBe(false);
    expect(unavailable.message).toBe(`webhook ${server.url.origin}: answered HTTP 503 Service Unavailable`);

    status = 401;
    const refused = await failure(settings);
    expect(refused.permanent).toBe(true);
    expect(refused.message).toBe(`webhook ${server.url.origin}: answered HTTP 401 Unauthorized; check webhook_token`);
    expect(refused.message).not.toContain('/hooks/nova-ha');
  });

  it('fails with one line when nothing listens', async () => {
    const port = await closedPort();
    const error = await failure(notificationSettings({ webhook_url: new URL(`http://127.0.0.1:${port}/hook`) }));
    expect(error.message).toMatch(new RegExp(`^webhook http://127\\.0\\.0\\.1:${port}: fetch failed \\(.*ECONNREFUSED.*\\); check webhook_url`));
  });

  it('gives up on a receiver that never answers after its timeout', async () => {
    const silent = await startSilentServer(resources);
    const error = await failure(notificationSettings({ webhook_url: new URL(`http://127.0.0.1:${silent.port}/hook`) }), 200);
    expect(error.message).toBe(`webhook http://127.0.0.1:${silent.port}: no answer within 200 ms; check webhook_url and that the receiver is up`);
  });
});
