/**
 * Which failures are worth another attempt, and the backoff (p-retry).
 *
 * Reads and state updates (GET, PUT of a service) are idempotent: any transient failure is
 * retried. Server actions (evacuate, live-migrate) are not: when a failure leaves open whether
 * Nova acted (a timeout or reset after sending, a 5xx), a blind second POST could move a server
 * twice. Those are retried only after a guard re-read the server and found the first attempt
 * did not take effect. Without a guard, an action is retried only when it surely did not take effect.
 */
import pRetry from 'p-retry';
import { NovaHttpError, NovaTransportError } from './errors.js';
import type { Logger } from '../../shared/log.js';

export interface RetryPolicy {
  /** Attempts after the first. */
  readonly retries: number;
  readonly minTimeoutMs: number;
  readonly maxTimeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 4, minTimeoutMs: 500, maxTimeoutMs: 8000 };

export type CallKind = 'idempotent' | 'action';

/** Nova's 409 for a server busy with a task: "Cannot 'evacuate' instance X while it is in task_state rebuilding". */
const BUSY_WITH_TASK = /task_state|task state/i;

export type Transience = 'permanent' | 'transient' | 'ambiguous';

/**
 * permanent: do not retry. transient: the request surely did not take effect (refused
 * connection, 409 busy, 429): retry. ambiguous: it may have taken effect.
 */
export function classifyFailure(error: unknown): Transience {
  if (error instanceof NovaTransportError) {
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|SSL/.test(error.code)) return 'permanent';
    return error.maybeSent ? 'ambiguous' : 'transient';
  }
  if (error instanceof NovaHttpError) {
    if (error.status === 409 && BUSY_WITH_TASK.test(error.apiMessage)) return 'transient';
    if (error.status === 429) return 'transient';
    if (error.status >= 500) return 'ambiguous';
  }
  return 'permanent';
}

/** Thrown by a guard to end the retries: the earlier attempt did take effect. */
export class AlreadyApplied extends Error {
  override name = 'AlreadyApplied';
  constructor(readonly evidence: string) {
    super(`the earlier attempt took effect: ${evidence}`);
  }
}

export interface RetryOptions {
  readonly policy: RetryPolicy;
  readonly kind: CallKind;
  /** For logs: "evacuate server X". */
  readonly what: string;
  readonly log: Logger;
  /** Actions only: re-reads the target before a retry and throws AlreadyApplied if Nova did act. */
  readonly guard?: () => Promise<void>;
}

/**
 * For actions, the guard runs before every retry that is not a plain refused connection: after an
 * ambiguous failure the first POST may have worked, and after a 409 "busy with a task" the task
 * may be this very action, sent by an earlier attempt or an earlier process of nova-ha.
 */
async function shouldTryAgain(error: Error, transience: Transience, options: RetryOptions): Promise<boolean> {
  if (transience === 'permanent') return false;
  if (options.kind === 'idempotent') return true;
  const refusedBeforeSending = error instanceof NovaTransportError && !error.maybeSent;
  if (refusedBeforeSending) return true;
  if (!options.guard) return transience === 'transient';
  try {
    await options.guard();
  } catch (guardError) {
    if (guardError instanceof AlreadyApplied) throw guardError;
    // Cannot tell whether Nova acted: do not risk a second action; the caller gets the first error.
    options.log.warn('nova-retry-guard-failed', { what: options.what, error: (guardError as Error).message });
    return false;
  }
  return true;
}

/** Runs fn, retrying per the policy; resolves with fn's result and the number of attempts made. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<{ result: T; attempts: number }> {
  let attempts = 0;
  const result = await pRetry(
    async (attempt) => {
      attempts = attempt;
      return fn(attempt);
    },
    {
      retries: options.policy.retries,
      minTimeout: options.policy.minTimeoutMs,
      maxTimeout: options.policy.maxTimeoutMs,
      factor: 2,
      randomize: true,
      shouldRetry: async ({ error, retriesLeft }) => {
        const transience = classifyFailure(error);
        if (!(await shouldTryAgain(error, transience, options))) return false;
        options.log.warn('nova-retry', { what: options.what, attempt: attempts, retriesLeft, transience, error: error.message });
        return true;
      },
    },
  );
  return { result, attempts };
}
