/**
 * The notification as JSON, POSTed to a chat system or an incident tool. The fields are the
 * notification's own, plus `text` (the subject): Slack- and Mattermost-style incoming webhooks
 * show that field and ignore the rest.
 */
import { scrub } from '../../shared/secret.js';
import { SendError, type Channel } from './channel.js';
import type { ComposedMessage } from './message.js';
import type { InstanceOutcome, Notification, NotificationSettings, TimelineEntry } from './notification.js';
import { scrubNotification } from './sanitize.js';

export interface WebhookPayload {
  readonly source: 'nova-ha';
  readonly text: string;
  readonly subject: string;
  readonly host: string;
  readonly event: string;
  readonly summary: string;
  readonly action: string;
  readonly reason: string;
  readonly incidentId: string | null;
  readonly paused: boolean;
  /** ms since the epoch, like the timeline's `at`. */
  readonly at: number | null;
  readonly timeline: readonly TimelineEntry[];
  readonly instances: readonly InstanceOutcome[] | null;
  /** The command that tries again what failed, when something did. */
  readonly retry: string | null;
  /** The plain-text body of the email, for receivers that show it as it is. */
  readonly body: string;
}

export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;

export interface WebhookChannelOptions {
  readonly timeoutMs?: number;
}

export function webhookPayload(notification: Notification, message: ComposedMessage): WebhookPayload {
  const n = scrubNotification(notification);
  return {
    source: 'nova-ha',
    text: message.subject,
    subject: message.subject,
    host: n.host,
    event: n.event,
    summary: n.summary,
    action: n.action,
    reason: n.reason,
    incidentId: n.incidentId ?? null,
    paused: n.paused ?? false,
    at: n.at ?? null,
    timeline: n.timeline,
    instances: n.instances ?? null,
    retry: n.retry ?? null,
    body: message.body,
  };
}

export function createWebhookChannel(settings: NotificationSettings, options: WebhookChannelOptions = {}): Channel {
  const url = settings.webhook_url;
  const timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  // The path of a chat webhook URL is often itself the credential: messages name the origin only.
  const where = url ? `webhook ${url.origin}` : 'webhook';
  return {
    name: 'webhook',
    async send(notification, message, signal) {
      if (!url) throw new SendError('webhook: [notifications] webhook_url is empty; set it or drop the webhook channel', true);
      const token = settings.webhook_token;
      let response: Response;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'nova-ha',
            ...(token.isEmpty ? {} : { authorization: `Bearer ${token.reveal()}` }),
          },
          body: scrub(JSON.stringify(webhookPayload(notification, message))),
          signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
          redirect: 'error',
        });
      } catch (error) {
        if (signal.aborted) throw error;
        throw describeFetchError(error, where, timeoutMs);
      }
      // Read the answer to the end so the connection is released (undici keeps it until then).
      await response.arrayBuffer().catch(() => undefined);
      if (!response.ok) throw describeStatus(response, where);
    },
  };
}

function describeFetchError(error: unknown, where: string, timeoutMs: number): SendError {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return new SendError(`${where}: no answer within ${timeoutMs} ms; check webhook_url and that the receiver is up`);
  const cause = e.cause?.message ?? e.cause?.code;
  return new SendError(scrub(`${where}: ${e.message}${cause ? ` (${cause})` : ''}; check webhook_url and that the receiver is up and reachable from this node`));
}

function describeStatus(response: Response, where: string): SendError {
  const status = `${where}: answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  const fix = response.status === 401 || response.status === 403 ? '; check webhook_token' : response.status === 404 ? '; check webhook_url' : '';
  // 4xx other than timeout and rate limit: the same request would be refused again.
  const permanent = response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429;
  return new SendError(scrub(`${status}${fix}`), permanent);
}
