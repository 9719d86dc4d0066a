/**
 * Subject and body of a notification: pure, so that what operators read can be table-tested.
 * The body is plain text on purpose: it reads the same in every mail client, in a terminal and
 * in a chat message, and survives being forwarded.
 */
import { formatDuration } from '../../shared/duration.js';
import { scrub } from '../../shared/secret.js';
import type { InstanceOutcome, Notification, TimelineEntry } from './notification.js';
import { scrubNotification } from './sanitize.js';
import { formatTable, formatUtc, oneLine, wrap, wrapLines } from './text.js';

export interface MessageOptions {
  /** [notifications] subject_prefix. */
  readonly subjectPrefix: string;
  /** The node that sends the message, named in the footer. */
  readonly node?: string;
}

export interface ComposedMessage {
  readonly subject: string;
  readonly body: string;
}

export const PAUSED_BANNER = 'PAUSED: nova-ha is paused cluster-wide. It alerts, but repairs, fences and evacuates nothing until an operator resumes it.';

/** Subject parts are capped so the host and what was done stay visible in a mail list. */
const SUBJECT_PART_MAX = 120;
const WIDTH = 76;
const LABEL_WIDTH = 15;

export function composeMessage(notification: Notification, options: MessageOptions): ComposedMessage {
  const n = scrubNotification(notification);
  return { subject: scrub(composeSubject(n, options.subjectPrefix)), body: scrub(composeBody(n, options.node)) };
}

/** `<prefix> <host>: <what happened> — <what was done>`: the host, the event and the action at a glance. */
export function composeSubject(n: Notification, subjectPrefix: string): string {
  const prefix = oneLine(subjectPrefix);
  const text = `${oneLine(n.host)}: ${cap(oneLine(n.summary))} — ${cap(oneLine(n.action))}`;
  return prefix ? `${prefix} ${text}` : text;
}

function composeBody(n: Notification, node: string | undefined): string {
  const lines: string[] = [];
  if (n.paused) lines.push(...wrap(PAUSED_BANNER, WIDTH, ''), '');

  const field = (label: string, value: string): void => {
    lines.push(`${`${label}:`.padEnd(LABEL_WIDTH)}${wrapLines(value, WIDTH - LABEL_WIDTH, ' '.repeat(LABEL_WIDTH)).join('\n')}`);
  };
  field('What happened', n.summary);
  field('What was done', n.action);
  field('Why', n.reason);
  field('Host', n.host);
  field('Event', n.event);
  if (n.incidentId) field('Incident', n.incidentId);
  const at = n.at ?? n.timeline.at(-1)?.at;
  if (at !== undefined) field('When', `${formatUtc(at)} UTC`);

  lines.push('', ...timelineSection(n.timeline));
  if (n.instances) lines.push('', ...instanceSection(n.instances));
  if (n.retry) lines.push('', 'To try again what failed, once its cause is fixed, run:', `  ${oneLine(n.retry)}`);

  lines.push('', '-- ');
  if (n.incidentId) lines.push(`Incident ${oneLine(n.incidentId)}. To see it: nova-ha incident ${oneLine(n.incidentId)}`);
  else lines.push('To see every host and incident: nova-ha status');
  lines.push(`Sent by nova-ha${node ? ` on ${oneLine(node)}` : ''}.`);
  return `${lines.join('\n')}\n`;
}

/** Controllers append steps as they go, so entries may arrive out of order: sort by time (stable). */
function timelineSection(timeline: readonly TimelineEntry[]): string[] {
  if (timeline.length === 0) return ['Timeline: no steps recorded yet.'];
  const entries = [...timeline].sort((a, b) => a.at - b.at);
  const first = entries[0]!.at;
  const withBy = entries.some((e) => e.by);
  const withDetail = entries.some((e) => e.detail);
  const header = ['time (UTC)', 'elapsed', 'took', 'step', 'outcome', ...(withBy ? ['by'] : []), ...(withDetail ? ['detail'] : [])];
  const rows = entries.map((e, i) => [
    formatUtc(e.at),
    `+${span(e.at - first)}`,
    i === 0 ? '-' : span(e.at - entries[i - 1]!.at),
    e.step,
    e.outcome,
    ...(withBy ? [e.by ?? '-'] : []),
    ...(withDetail ? [e.detail ?? ''] : []),
  ]);
  return ['Timeline (elapsed: since the first step; took: since the step before)', ...formatTable(header, rows)];
}

function instanceSection(instances: readonly InstanceOutcome[]): string[] {
  if (instances.length === 0) return ['Instances: none on the host.'];
  const counts = new Map<string, number>();
  for (const i of instances) counts.set(oneLine(i.outcome), (counts.get(oneLine(i.outcome)) ?? 0) + 1);
  const tally = [...counts].map(([outcome, count]) => `${count} ${outcome}`).join(', ');
  // Why an instance failed or was skipped is what the operator acts on (Nova's fault included);
  // how the others were confirmed is in nova-ha incident.
  const why = (i: InstanceOutcome): string => (i.outcome === 'failed' || i.outcome === 'skipped' ? (i.detail ?? '') : '');
  const withWhy = instances.some((i) => why(i) !== '');
  // Which instances came first (image, flavor, aggregate priorities): the last column, only when a source set one.
  const withPriority = instances.some((i) => i.priority !== undefined);
  const rows = instances.map((i) => [i.id, i.name, i.outcome, i.from, i.to ?? '-', ...(withWhy ? [why(i)] : []), ...(withPriority ? [i.priority ?? '-'] : [])]);
  return [`Instances (${instances.length}: ${tally})`, ...formatTable(['instance', 'name', 'outcome', 'from', 'to', ...(withWhy ? ['why'] : []), ...(withPriority ? ['priority'] : [])], rows)];
}

const span = (ms: number): string => (ms === 0 ? '0s' : formatDuration(ms));

function cap(text: string): string {
  return text.length <= SUBJECT_PART_MAX ? text : `${text.slice(0, SUBJECT_PART_MAX - 1)}…`;
}
