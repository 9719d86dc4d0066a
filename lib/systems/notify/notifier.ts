/**
 * notify() never blocks and never throws: the recovery must go on whether or not a mail server
 * answers. Sends run in the background, each channel retried with backoff for up to retry_for;
 * a handler process calls flush() before it exits, which waits for them up to a deadline and then
 * abandons (and logs) what is still unsent, so the process is free to exit.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import pRetry from 'p-retry';
import type { Config } from '../../config/load.js';
import type { Logger } from '../../shared/log.js';
import { scrub } from '../../shared/secret.js';
import { SendError, type Channel } from './channel.js';
import { dedupeKey, type DedupeStore } from './dedupe.js';
import { createEmailChannel, type SmtpTimeouts } from './email.js';
import { FileDedupeStore } from './file-dedupe-store.js';
import { composeMessage, type ComposedMessage } from './message.js';
import type { Notification, NotificationSettings } from './notification.js';
import { oneLine } from './text.js';
import { createWebhookChannel } from './webhook.js';

export interface Backoff {
  readonly minMs: number;
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { minMs: 1000, maxMs: 30_000 };
/** After the flush deadline, how long aborted sends get to wind down (log, release their claim). */
const ABANDON_GRACE_MS = 1000;

export interface NotifierOptions {
  readonly settings: NotificationSettings;
  readonly logger: Logger;
  /** Absent: no dedupe in this process (every notification is sent). */
  readonly dedupe?: DedupeStore;
  /** This node's name, for the footer of messages. */
  readonly node?: string;
  /** Absent: email if smtp_host is set, webhook if webhook_url is set. */
  readonly channels?: readonly Channel[];
  readonly backoff?: Backoff;
  readonly smtpTimeouts?: SmtpTimeouts;
  readonly webhookTimeoutMs?: number;
}

export interface FlushResult {
  /** Every send finished (delivered, or failed and logged) before the deadline. */
  readonly settled: boolean;
  /** Notifications still unsent at the deadline, given up and logged. */
  readonly abandoned: number;
}

export interface Notifier {
  /** Queues the notification for every channel and returns at once; never throws. */
  notify(notification: Notification): void;
  /** Waits up to timeoutMs for pending sends, then abandons the rest; never rejects. */
  flush(timeoutMs: number): Promise<FlushResult>;
  /** Notifications whose sends have not finished yet. */
  readonly pending: number;
}

interface PendingSend {
  readonly done: Promise<void>;
  readonly abort: AbortController;
}

export function createNotifier(options: NotifierOptions): Notifier {
  const { settings, logger } = options;
  const channels = options.channels ?? channelsFor(options);
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const pending = new Set<PendingSend>();

  async function deliver(n: Notification, signal: AbortSignal): Promise<void> {
    const fields = { host: n.host, notify_event: n.event, ...(n.incidentId ? { incident: n.incidentId } : {}) };
    if (channels.length === 0) {
      logger.warn('notify-no-channel', { ...fields, error: 'no notification channel is configured; set [notifications] smtp_host or webhook_url' });
      return;
    }
    const key = dedupeKey(n);
    const claimed = await claim(key, fields);
    if (!claimed) {
      logger.info('notify-deduped', { ...fields, window_ms: settings.dedupe_window });
      return;
    }
    const message = composeMessage(n, { subjectPrefix: settings.subject_prefix, ...(options.node ? { node: options.node } : {}) });
    const results = await Promise.all(channels.map((channel) => sendWithRetries(channel, n, message, signal, fields)));
    if (!results.includes(true) && options.dedupe && settings.dedupe_window > 0) {
      await options.dedupe.release(key).catch((error: unknown) => logger.warn('notify-dedupe-release-failed', { ...fields, error: describe(error) }));
    }
  }

  /** A broken dedupe store must not silence alerts: send anyway, a duplicate is the lesser harm. */
  async function claim(key: string, fields: Record<string, unknown>): Promise<boolean> {
    if (!options.dedupe || settings.dedupe_window <= 0) return true;
    try {
      return await options.dedupe.claim(key, settings.dedupe_window);
    } catch (error) {
      logger.warn('notify-dedupe-unavailable', { ...fields, error: describe(error), effect: 'sending without dedupe' });
      return true;
    }
  }

  async function sendWithRetries(channel: Channel, n: Notification, message: ComposedMessage, signal: AbortSignal, fields: Record<string, unknown>): Promise<boolean> {
    let attempts = 0;
    let lastError: unknown;
    try {
      await pRetry(
        async () => {
          attempts++;
          await channel.send(n, message, signal);
        },
        {
          retries: Number.POSITIVE_INFINITY,
          maxRetryTime: settings.retry_for,
          minTimeout: backoff.minMs,
          maxTimeout: backoff.maxMs,
          randomize: true,
          signal,
          shouldRetry: ({ error }) => !(error instanceof SendError && error.permanent),
          onFailedAttempt: ({ error, attemptNumber }) => {
            // An attempt cut short by the flush deadline says nothing about the channel: keep the error before it.
            if (signal.aborted) return;
            lastError = error;
            // One warning when trouble starts; the rest of the retries at debug level.
            const line = { channel: channel.name, ...fields, attempt: attemptNumber, error: describe(error) };
            if (attemptNumber === 1) logger.warn('notify-retrying', { ...line, retry_for_ms: settings.retry_for });
            else logger.debug('notify-retrying', line);
          },
        },
      );
      logger.info('notify-sent', { channel: channel.name, ...fields, attempts });
      return true;
    } catch (error) {
      if (signal.aborted) {
        const last = lastError === undefined ? '' : `; last error: ${describe(lastError)}`;
        logger.error('notify-abandoned', { channel: channel.name, ...fields, attempts, error: `still unsent at the flush deadline, given up so the handler can exit${last}` });
      } else {
        logger.error('notify-failed', { channel: channel.name, ...fields, attempts, error: describe(error) });
      }
      return false;
    }
  }

  return {
    notify(notification) {
      try {
        const problem = malformed(notification);
        if (problem) {
          logger.error('notify-failed', { host: safeString(notification?.host), notify_event: safeString(notification?.event), error: `notification not sent: ${problem}; this is a bug in the caller of notify()` });
          return;
        }
        // A snapshot: the caller goes on changing its incident while the send is pending.
        const n = completed(structuredClone(notification));
        const abort = new AbortController();
        const entry: PendingSend = {
          abort,
          done: deliver(n, abort.signal)
            .catch((error: unknown) => logger.error('notify-failed', { host: n.host, notify_event: n.event, error: describe(error) }))
            .finally(() => pending.delete(entry)),
        };
        pending.add(entry);
      } catch (error) {
        logger.error('notify-failed', { host: safeString(notification?.host), notify_event: safeString(notification?.event), error: describe(error) });
      }
    },

    async flush(timeoutMs) {
      const waiting = [...pending];
      if (waiting.length === 0) return { settled: true, abandoned: 0 };
      const settled = await within(Promise.all(waiting.map((p) => p.done)), timeoutMs);
      if (settled) return { settled: true, abandoned: 0 };
      const left = waiting.filter((p) => pending.has(p));
      for (const p of left) p.abort.abort(new Error('flush deadline reached'));
      await within(Promise.all(left.map((p) => p.done)), ABANDON_GRACE_MS);
      return { settled: false, abandoned: left.length };
    },

    get pending() {
      return pending.size;
    },
  };
}

/** The channels the settings ask for. */
export function channelsFor(options: Pick<NotifierOptions, 'settings' | 'smtpTimeouts' | 'webhookTimeoutMs'>): Channel[] {
  const { settings } = options;
  const channels: Channel[] = [];
  if (settings.smtp_host) channels.push(createEmailChannel(settings, options.smtpTimeouts ? { timeouts: options.smtpTimeouts } : {}));
  if (settings.webhook_url) channels.push(createWebhookChannel(settings, options.webhookTimeoutMs === undefined ? {} : { timeoutMs: options.webhookTimeoutMs }));
  return channels;
}

/** What a handler uses: the channels of [notifications], dedupe files under state_dir, this node's name. */
export function createNotifierFromConfig(config: Config, logger: Logger): Notifier {
  return createNotifier({
    settings: config.notifications,
    // The handler's own logger: its lines (notify-*) stay under the handler's component.
    logger,
    dedupe: new FileDedupeStore(join(config.DEFAULT.state_dir, 'notify-dedupe')),
    node: config.DEFAULT.node_name || hostname(),
  });
}

async function within(work: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, timeoutMs));
  });
  try {
    return await Promise.race([work.then(() => true), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(error: unknown): string {
  return scrub(oneLine(error instanceof Error ? error.message : String(error)));
}

/** Without a host and an event no message can say what it is about (the types say so, but callers run on live data). */
function malformed(n: Notification | null | undefined): string | undefined {
  if (n === null || typeof n !== 'object') return 'expected a notification object';
  const missing = (['host', 'event'] as const).filter((field) => typeof n[field] !== 'string' || n[field] === '');
  return missing.length > 0 ? `expected text in ${missing.join(' and ')}` : undefined;
}

/** An alert with a gap in it is still worth sending: fill the gaps rather than drop it. */
function completed(n: Notification): Notification {
  return {
    ...n,
    summary: typeof n.summary === 'string' && n.summary ? n.summary : String(n.event),
    action: typeof n.action === 'string' && n.action ? n.action : '(not stated)',
    reason: typeof n.reason === 'string' ? n.reason : '',
    timeline: Array.isArray(n.timeline) ? n.timeline : [],
    at: n.at ?? Date.now(),
  };
}

function safeString(value: unknown): string {
  return typeof value === 'string' ? scrub(value) : '(unknown)';
}
