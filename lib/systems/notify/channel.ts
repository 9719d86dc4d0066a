import type { ComposedMessage } from './message.js';
import type { Notification } from './notification.js';

/** One way of reaching the operators (email, webhook). */
export interface Channel {
  /** Named in every log line about a send. */
  readonly name: string;
  /** Sends once; throws a SendError (one line, no secret) on failure. Stops early when signal aborts. */
  send(notification: Notification, message: ComposedMessage, signal: AbortSignal): Promise<void>;
}

/** A failed send, described in one line that names the target and, where known, the fix. */
export class SendError extends Error {
  constructor(
    message: string,
    /** Retrying the same send would fail the same way (a rejected password, a 4xx answer). */
    readonly permanent = false,
  ) {
    super(message);
    this.name = 'SendError';
  }
}
