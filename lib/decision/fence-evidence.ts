/**
 * What may stand in for a BMC's word that a host is off (docs/fencing.md), decided from
 * observations alone:
 *
 * - its watchdog: a host failed on every network whose watchdog was armed has reset itself by
 *   last contact + 2 x timeout + margin, so from then on it counts as fenced (sbd's msgwait,
 *   Self Node Remediation's safe time to assume a node rebooted);
 * - kdump: a host failed on every network that sends fence_kdump messages from its own address is
 *   writing a crash dump: its instances are dead, so evacuation may begin while it dumps, and its
 *   power-off waits until the dump ends.
 *
 * Pure: no I/O, no clock (the caller passes now).
 */
import { formatDuration } from '../shared/duration.js';
import { NETWORKS, type HostObservation, type KdumpObservation } from './model.js';
import type { Cause, Decision } from './policy.js';

export interface SelfFenceSettings {
  /** Added to last contact + 2 x timeout ([watchdog] margin). */
  readonly marginMs: number;
}

export interface KdumpSettings {
  /** The hosts' fence_kdump_send interval: the dump counts as ended after DUMP_QUIET_INTERVALS of them without a message. */
  readonly intervalMs: number;
  /** After the confirmation window, how long to wait for a first message before fencing the usual way. */
  readonly firstMessageWaitMs: number;
  /** The longest a power-off waits for a dump to end. */
  readonly timeoutMs: number;
}

/** Why a host whose BMC could not confirm the power off counts as fenced anyway. */
export interface SelfFenceEvidence {
  /** When the last of its networks was seen failing: the node has not been seen alive since. */
  readonly lastContact: number;
  readonly timeoutMs: number;
  readonly marginMs: number;
  /** lastContact + 2 x timeoutMs + marginMs. */
  readonly safeAt: number;
}

/** What a fence decision carries beyond "fence": the watchdog's safe time, or a dump in progress. */
export interface FenceEvidence {
  readonly selfFence?: SelfFenceEvidence;
  readonly kdump?: KdumpObservation;
}

/**
 * The safe time of a self-fence. The node feeds its watchdog only on a health read answered by a
 * cluster leader that still saw it alive, and a read counts only if it came back within a third of
 * the timeout; so its last feed is at most one timeout after the leaders last saw it alive, which
 * is no later than the last contact the controllers recorded. The watchdog fires at most one
 * timeout after the last feed. Hence last contact + 2 x timeout, and a margin for clocks and a
 * device that fires late.
 */
export function selfFenceSafeAt(lastContact: number, timeoutMs: number, marginMs: number): number {
  return lastContact + 2 * timeoutMs + marginMs;
}

/** When the host was last seen alive, if it is failed on every network now (left or unknown are not failures). */
export function lastContact(host: HostObservation): number | undefined {
  if (!NETWORKS.every((n) => host.networks[n].state === 'failed')) return undefined;
  return Math.max(...NETWORKS.map((n) => host.networks[n].since));
}

export type SelfFenceVerdict =
  | { readonly kind: 'not-armed'; readonly why: string }
  | { readonly kind: 'waiting'; readonly evidence: SelfFenceEvidence }
  | { readonly kind: 'safe'; readonly evidence: SelfFenceEvidence };

export function selfFenceVerdict(host: HostObservation, now: number, settings: SelfFenceSettings): SelfFenceVerdict {
  const contact = lastContact(host);
  if (contact === undefined) return { kind: 'not-armed', why: 'it is not failed on every network' };
  const watchdog = host.watchdog;
  if (!watchdog || watchdog.state !== 'armed' || watchdog.timeoutMs === undefined) {
    return { kind: 'not-armed', why: watchdog?.state === 'unknown' ? 'its watchdog state could not be read' : `its watchdog was not armed${watchdog?.detail ? ` (${watchdog.detail})` : ''}` };
  }
  const evidence: SelfFenceEvidence = { lastContact: contact, timeoutMs: watchdog.timeoutMs, marginMs: settings.marginMs, safeAt: selfFenceSafeAt(contact, watchdog.timeoutMs, settings.marginMs) };
  return now >= evidence.safeAt ? { kind: 'safe', evidence } : { kind: 'waiting', evidence };
}

/** Three intervals without a message: the dump has ended (or the host died in it). */
export const DUMP_QUIET_INTERVALS = 3;

export function dumpEnded(record: Pick<KdumpObservation, 'last'> | null | undefined, now: number, intervalMs: number): boolean {
  return !record || now - record.last > DUMP_QUIET_INTERVALS * intervalMs;
}

/** A dump in progress: failed on every network, with a message from its own address within the last three intervals. */
export function dumping(host: HostObservation, now: number, settings: KdumpSettings): KdumpObservation | undefined {
  if (lastContact(host) === undefined || !host.kdump || dumpEnded(host.kdump, now, settings.intervalMs)) return undefined;
  return host.kdump;
}

export function describeSelfFence(e: SelfFenceEvidence): string {
  return `last contact ${new Date(e.lastContact).toISOString()} + 2 x ${formatDuration(e.timeoutMs)} + margin ${formatDuration(e.marginMs)} = ${new Date(e.safeAt).toISOString()}`;
}

export function describeDump(k: KdumpObservation): string {
  return `${k.count} fence_kdump message${k.count === 1 ? '' : 's'} from ${k.from} since ${new Date(k.first).toISOString()}`;
}

interface AllDownRow {
  readonly cause: Cause;
  readonly since: number;
  readonly reason: string;
}

export interface EvidenceSettings {
  readonly confirmationWindow: number;
  readonly selfFence?: SelfFenceSettings;
  readonly kdump?: KdumpSettings;
}

/**
 * For a host down on every network whose BMC says on (node-unreachable) or nothing
 * (power-unknown), after the confirmation window: what kdump and the watchdog allow beyond the
 * BMC. Undefined: nothing, the matrix row stands.
 */
export function beyondTheBmc(row: AllDownRow, host: HostObservation, now: number, settings: EvidenceSettings): Decision | undefined {
  if (settings.kdump) {
    const dump = dumping(host, now, settings.kdump);
    if (dump) {
      const because = `${row.reason}, and it sends fence_kdump messages from its own address (${describeDump(dump)}): its kernel crashed and is writing a dump`;
      return { action: 'fence', cause: row.cause, phase: 'fencing', because, evidence: { kdump: dump }, reason: `${because}; evacuating its instances now, and powering it off once the dump ends (at most ${formatDuration(settings.kdump.timeoutMs)})` };
    }
    const waitUntil = row.since + settings.confirmationWindow + settings.kdump.firstMessageWaitMs;
    if (now < waitUntil) {
      return { action: 'wait', cause: row.cause, recheckInMs: waitUntil - now, reason: `${row.reason}; waiting up to ${formatDuration(settings.kdump.firstMessageWaitMs)} for a fence_kdump message (a crash dump) before fencing it` };
    }
  }
  if (row.cause !== 'power-unknown' || !settings.selfFence) return undefined;
  const verdict = selfFenceVerdict(host, now, settings.selfFence);
  if (verdict.kind === 'not-armed') return undefined;
  const e = verdict.evidence;
  const armed = `its watchdog (timeout ${formatDuration(e.timeoutMs)}) was armed, so a node cut off resets itself`;
  if (verdict.kind === 'waiting') {
    return { action: 'wait', cause: row.cause, alert: 'self-fence-wait', phase: 'held', needsOperator: false, recheckInMs: e.safeAt - now, reason: `${row.reason}; ${armed}: it counts as fenced from ${new Date(e.safeAt).toISOString()} (${describeSelfFence(e)}), then its instances are evacuated` };
  }
  const because = `${row.reason}, but ${armed}, and the safe time has passed (${describeSelfFence(e)})`;
  return { action: 'fence', cause: row.cause, phase: 'fencing', because, evidence: { selfFence: e }, reason: `${because}: fencing it (the BMC is tried first) and evacuating its instances` };
}

/** The evidence a fence under way still has now (a resumed fence keeps what holds). */
export function currentEvidence(host: HostObservation, now: number, settings: EvidenceSettings): FenceEvidence | undefined {
  const dump = settings.kdump ? dumping(host, now, settings.kdump) : undefined;
  const self = settings.selfFence ? selfFenceVerdict(host, now, settings.selfFence) : undefined;
  const evidence: FenceEvidence = { ...(dump ? { kdump: dump } : {}), ...(self?.kind === 'safe' ? { selfFence: self.evidence } : {}) };
  return evidence.kdump || evidence.selfFence ? evidence : undefined;
}
