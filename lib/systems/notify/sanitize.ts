import { scrub } from '../../shared/secret.js';
import type { InstanceOutcome, Notification, TimelineEntry } from './notification.js';

const clean = (text: string | undefined): string | undefined => (text === undefined ? undefined : scrub(String(text)));

/**
 * The notification with every known secret value masked in every string. Reasons and details
 * often quote error messages from libraries, which can quote a password or token back at us.
 */
export function scrubNotification(n: Notification): Notification {
  const entry = (e: TimelineEntry): TimelineEntry => ({
    at: e.at,
    step: scrub(String(e.step)),
    outcome: scrub(String(e.outcome)),
    ...(e.detail === undefined ? {} : { detail: clean(e.detail) }),
    ...(e.by === undefined ? {} : { by: clean(e.by) }),
  });
  const instance = (i: InstanceOutcome): InstanceOutcome => ({
    id: scrub(String(i.id)),
    name: scrub(String(i.name)),
    outcome: scrub(String(i.outcome)),
    from: scrub(String(i.from)),
    ...(i.to === undefined ? {} : { to: clean(i.to) }),
    ...(i.detail === undefined ? {} : { detail: clean(i.detail) }),
    ...(i.priority === undefined ? {} : { priority: clean(i.priority) }),
  });
  return {
    host: scrub(String(n.host)),
    event: scrub(String(n.event)),
    summary: scrub(String(n.summary)),
    action: scrub(String(n.action)),
    reason: scrub(String(n.reason)),
    ...(n.incidentId === undefined ? {} : { incidentId: clean(n.incidentId) }),
    timeline: (n.timeline ?? []).map(entry),
    ...(n.instances === undefined ? {} : { instances: n.instances.map(instance) }),
    ...(n.retry === undefined ? {} : { retry: clean(n.retry) }),
    ...(n.paused === undefined ? {} : { paused: n.paused }),
    ...(n.at === undefined ? {} : { at: n.at }),
  };
}
