export type { InstanceOutcome, Notification, NotificationSettings, NotifyEvent, TimelineEntry, WorkflowEvent } from './notification.js';
export { composeMessage, composeSubject, PAUSED_BANNER, type ComposedMessage, type MessageOptions } from './message.js';
export { SendError, type Channel } from './channel.js';
export { createEmailChannel, DEFAULT_SMTP_TIMEOUTS, smtpTransportOptions, type EmailChannelOptions, type SmtpTimeouts } from './email.js';
export { createWebhookChannel, webhookPayload, DEFAULT_WEBHOOK_TIMEOUT_MS, type WebhookChannelOptions, type WebhookPayload } from './webhook.js';
export { dedupeKey, MemoryDedupeStore, type DedupeStore } from './dedupe.js';
export { FileDedupeStore, type FileDedupeStoreOptions } from './file-dedupe-store.js';
export { channelsFor, createNotifier, createNotifierFromConfig, DEFAULT_BACKOFF, type Backoff, type FlushResult, type Notifier, type NotifierOptions } from './notifier.js';
