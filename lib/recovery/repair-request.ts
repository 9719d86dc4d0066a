/**
 * Repair requests sent through Consul user events: the controller signs an allow-listed action
 * for one node with the shared HMAC key; the node acts only on a request that is addressed to it,
 * correctly signed, fresh, and not seen before. Everything else is refused with a reason.
 *
 * And the node's report back, through its one KV key (repair-reports/NODE): signed with the same
 * key, answering one request (its nonce) of one incident, fresh. The controller acts only on a
 * report that passes all of that; a report can only end the wait for a repair early.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { hmac } from '@noble/hashes/hmac';
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex } from '@noble/hashes/utils';
import { NODE_REPAIRS, REPAIR_RESULTS, type NodeRepair, type RepairResult } from '../decision/model.js';
import type { Secret } from '../shared/secret.js';

export const REMEDIATION_ACTIONS = ['restart-storage-network', 'restart-nova-compute'] as const;
export type RemediationAction = (typeof REMEDIATION_ACTIONS)[number];

export interface RemediationRequest {
  readonly node: string;
  readonly action: RemediationAction;
  readonly incident: string;
  /** Milliseconds since the epoch when the controller signed it. */
  readonly ts: number;
  readonly nonce: string;
}

/** The exact bytes the MAC covers: fixed field order, so both sides agree. */
function canonical(request: RemediationRequest): string {
  return JSON.stringify([1, request.node, request.action, request.incident, request.ts, request.nonce]);
}

/**
 * node:crypto on first use, not at load: a compute's remediate handler runs on every event Consul
 * hands it, most of them already handled, and crypto costs more to load than such a run.
 */
const crypto = (): typeof import('node:crypto') => process.getBuiltinModule('node:crypto');

function mac(request: RemediationRequest, key: Secret): string {
  return crypto().createHmac('sha256', key.reveal()).update(canonical(request)).digest('hex');
}

/**
 * What names a repair key in check outputs and the doctor's table, never the key: a MAC of a
 * fixed text under the key, so equal keys give equal fingerprints and the fingerprint gives no
 * shortcut to the key. Every nova-compute check run prints it, and loading node:crypto (with the
 * streams under it) would be a third of that run's CPU: @noble/hashes (audited, no dependencies)
 * computes the same HMAC-SHA256 in plain JavaScript for a fraction of that.
 */
export function repairKeyFingerprint(key: Secret): string {
  return `hmac-sha256:${bytesToHex(hmac(sha256, key.reveal(), 'nova-ha repair key fingerprint')).slice(0, 16)}`;
}

export const newNonce = (): string => crypto().randomBytes(16).toString('hex');

/** The request's payload. The caller may choose the nonce, to record which request it sent. */
export function signRequest(fields: Omit<RemediationRequest, 'ts' | 'nonce'>, key: Secret, now = Date.now(), nonce = newNonce()): string {
  const request: RemediationRequest = { ...fields, ts: now, nonce };
  return JSON.stringify({ ...request, mac: mac(request, key) });
}

export type Verdict =
  | { readonly ok: true; readonly request: RemediationRequest; readonly withPreviousKey: boolean }
  /** signed: the MAC was right, so the request's fields (its node, incident and nonce) are a controller's. */
  | { readonly ok: false; readonly reason: string; readonly request?: Partial<RemediationRequest>; readonly signed?: true };

export interface VerifyOptions {
  readonly self: string;
  readonly now: number;
  readonly maxAge: number;
  readonly allowed: ReadonlySet<RemediationAction>;
  /** During a key rotation: requests signed with the key being replaced are accepted too. */
  readonly previousKey?: Secret;
}

/** A MAC as given (any string) against the expected one, in constant time. */
function macMatches(expectedHex: string, given: string): boolean {
  const expected = Buffer.from(expectedHex, 'hex');
  const actual = Buffer.from(/^[0-9a-f]{64}$/.test(given) ? given : '', 'hex');
  return actual.length === expected.length && crypto().timingSafeEqual(actual, expected);
}

const signedWith = (request: RemediationRequest, given: string, key: Secret): boolean => macMatches(mac(request, key), given);

export function verifyRequest(payload: string, key: Secret, options: VerifyOptions): Verdict {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(payload) as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'payload is not JSON' };
  }
  const { node, action, incident, ts, nonce, mac: given } = raw;
  if (typeof node !== 'string' || typeof action !== 'string' || typeof incident !== 'string' || typeof ts !== 'number' || typeof nonce !== 'string' || typeof given !== 'string') {
    return { ok: false, reason: 'payload lacks node, action, incident, ts, nonce or mac' };
  }
  const request = { node, action: action as RemediationAction, incident, ts, nonce };
  // The MAC first: nothing about an unauthenticated request is trusted, not even its address.
  const withCurrentKey = signedWith(request, given, key);
  const withPreviousKey = !withCurrentKey && options.previousKey !== undefined && !options.previousKey.isEmpty && signedWith(request, given, options.previousKey);
  if (!withCurrentKey && !withPreviousKey) return { ok: false, reason: 'bad signature (forged, or signed with another hmac_key)', request };
  if (node !== options.self) return { ok: false, reason: `addressed to ${node}, not to this node (${options.self})`, request, signed: true };
  if (!(REMEDIATION_ACTIONS as readonly string[]).includes(action)) return { ok: false, reason: `action "${action}" is not one nova-ha knows`, request, signed: true };
  if (!options.allowed.has(action as RemediationAction)) return { ok: false, reason: `action "${action}" is not allowed here (its command is not configured in [remediation])`, request, signed: true };
  const age = options.now - ts;
  if (age > options.maxAge || age < -options.maxAge) return { ok: false, reason: `signed ${Math.round(age / 1000)}s ago, outside the ${Math.round(options.maxAge / 1000)}s window (a replay, or clocks out of sync)`, request, signed: true };
  return { ok: true, request, withPreviousKey };
}

/** sudo at the path Debian and Ubuntu install it: never looked up in the agent's PATH. */
export const SUDO = '/usr/bin/sudo';

/**
 * How a compute runs a configured repair command: directly when it is root, otherwise through
 * sudo -n (fail rather than ask for a password) with exactly the configured arguments, which is
 * all install.sh's sudoers rule grants. Executed without a shell: no word is ever interpreted.
 */
export function repairInvocation(argv: readonly string[], uid: number | undefined): { readonly file: string; readonly args: readonly string[] } {
  if (argv.length === 0) throw new Error('no repair command configured');
  return uid === 0 ? { file: argv[0]!, args: argv.slice(1) } : { file: SUDO, args: ['-n', '--', ...argv] };
}

/**
 * Nonces already acted on, with their timestamps, in a small file under the state dir. Entries
 * older than twice the freshness window are pruned: by then the timestamp check refuses them.
 */
export class ReplayGuard {
  constructor(private readonly file: string, private readonly maxAge: number) {}

  private load(): Record<string, number> {
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, number>;
    } catch {
      return {};
    }
  }

  seen(nonce: string): boolean {
    return nonce in this.load();
  }

  remember(nonce: string, ts: number, now: number): void {
    const kept = Object.fromEntries(Object.entries(this.load()).filter(([, at]) => now - at <= 2 * this.maxAge));
    kept[nonce] = ts;
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(kept), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

/** A node's report on one repair request: what it did, and what its own check found after it. */
export interface RepairReportMessage {
  /** The node that writes it: the request's node when the request was authentic, else itself. */
  readonly node: string;
  readonly incident: string;
  readonly action: string;
  /** The nonce of the request it answers. */
  readonly request: string;
  readonly result: RepairResult;
  readonly detail: string;
  readonly ts: number;
  readonly nonce: string;
}

/** Long enough for the evidence, short enough for a log line and an incident's timeline. */
export const REPORT_DETAIL_MAX = 400;

/** Distinct from a request's bytes, so no request's MAC is ever a valid report MAC. */
function reportCanonical(report: RepairReportMessage): string {
  return JSON.stringify(['nova-ha repair report', 1, report.node, report.incident, report.action, report.request, report.result, report.detail, report.ts, report.nonce]);
}

function reportMac(report: RepairReportMessage, key: Secret): string {
  return crypto().createHmac('sha256', key.reveal()).update(reportCanonical(report)).digest('hex');
}

export function signReport(fields: Omit<RepairReportMessage, 'ts' | 'nonce'>, key: Secret, now = Date.now()): string {
  const report: RepairReportMessage = { ...fields, detail: fields.detail.slice(0, REPORT_DETAIL_MAX), ts: now, nonce: newNonce() };
  return JSON.stringify({ ...report, mac: reportMac(report, key) });
}

export type ReportVerdict =
  | { readonly ok: true; readonly report: RepairReportMessage & { readonly action: NodeRepair } }
  | { readonly ok: false; readonly reason: string; readonly report?: Partial<RepairReportMessage> };

export interface ReportExpectation {
  /** The host whose key the report was read from. */
  readonly host: string;
  /** Its open incident, and the nonces of the requests sent to it in that incident. */
  readonly incident: string;
  readonly requests: Partial<Record<NodeRepair, readonly string[]>>;
  readonly now: number;
  readonly maxAge: number;
}

const printable = (text: string): string => text.replace(/[^\x20-\x7e]+/g, ' ').slice(0, REPORT_DETAIL_MAX);

export function verifyReport(payload: string, key: Secret, expected: ReportExpectation): ReportVerdict {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(payload) as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const { node, incident, action, request, result, detail, ts, nonce, mac: given } = raw ?? {};
  if ([node, incident, action, request, result, detail, nonce, given].some((field) => typeof field !== 'string') || typeof ts !== 'number') {
    return { ok: false, reason: 'lacks node, incident, action, request, result, detail, ts, nonce or mac' };
  }
  const report = { node, incident, action, request, result, detail, ts, nonce } as RepairReportMessage;
  if (!macMatches(reportMac(report, key), given as string)) return { ok: false, reason: 'bad signature (forged, or the node signs with another hmac_key)', report };
  if (report.node !== expected.host) return { ok: false, reason: `written by ${report.node} into the key of ${expected.host}`, report };
  if (report.incident !== expected.incident) return { ok: false, reason: `answers incident ${report.incident}, not the open incident ${expected.incident} (replayed, or left from an earlier one)`, report };
  if (!(NODE_REPAIRS as readonly string[]).includes(report.action) || !expected.requests[report.action as NodeRepair]?.includes(report.request)) {
    return { ok: false, reason: `answers no ${report.action} request sent in incident ${expected.incident} (replayed, or forged)`, report };
  }
  if (!(REPAIR_RESULTS as readonly string[]).includes(report.result)) return { ok: false, reason: `result "${report.result}" is not one nova-ha knows`, report };
  const age = expected.now - report.ts;
  if (age > expected.maxAge || age < -expected.maxAge) return { ok: false, reason: `signed ${Math.round(age / 1000)}s ago, outside the ${Math.round(expected.maxAge / 1000)}s window (replayed, or clocks out of sync)`, report };
  return { ok: true, report: { ...report, action: report.action as NodeRepair, detail: printable(report.detail) } };
}
