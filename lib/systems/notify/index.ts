/**
 * systems/notify: telling the operators, by email (SMTP) and an optional webhook: import from here.
 *
 * Owns composing a message that tells the whole story (what happened, what was done, the
 * incident's timeline and instances, secrets scrubbed), sending it with retries in the
 * background of a short-lived handler, and sending each event once per dedupe window.
 *
 * May import only config/ and shared/. Must never import decision/, state/, recovery/, operator/,
 * handlers/ or cli/ (test/unit/import-direction.test.ts).
 */
export type { InstanceOutcome, Notification, NotificationSettings, NotifyEvent, TimelineEntry, WorkflowEvent } from './notification.js';
export { composeMessage, composeSubject, PAUSED_BANNER, type ComposedMessage, type MessageOptions } from './message.js';
export { SendError, type Channel } from './channel.js';
export { createEmailChannel, DEFAULT_SMTP_TIMEOUTS, smtpTransportOptions, type EmailChannelOptions, type SmtpTimeouts } from './email.js';
export { createWebhookChannel, webhookPayload, DEFAULT_WEBHOOK_TIMEOUT_MS, type WebhookChannelOptions, type WebhookPayload } from './webhook.js';
export { dedupeKey, MemoryDedupeStore, type DedupeStore } from './dedupe.js';
export { FileDedupeStore, type FileDedupeStoreOptions } from './file-dedupe-store.js';
export { channelsFor, createNotifier, createNotifierFromConfig, DEFAULT_BACKOFF, type Backoff, type FlushResult, type Notifier, type NotifierOptions } from './notifier.js';
