/**
 * Repair requests sent through Consul user events: the controller signs an allow-listed action
 * for one node with the shared HMAC key; the node acts only on a request that is addressed to it,
 * correctly signed, fresh, and not seen before. Everything else is refused with a reason.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
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

export function signRequest(fields: Omit<RemediationRequest, 'ts' | 'nonce'>, key: Secret, now = Date.now()): string {
  const request: RemediationRequest = { ...fields, ts: now, nonce: crypto().randomBytes(16).toString('hex') };
  return JSON.stringify({ ...request, mac: mac(request, key) });
}

export type Verdict = { readonly ok: true; readonly request: RemediationRequest } | { readonly ok: false; readonly reason: string; readonly request?: Partial<RemediationRequest> };

export interface VerifyOptions {
  readonly self: string;
  readonly now: number;
  readonly maxAge: number;
  readonly allowed: ReadonlySet<RemediationAction>;
}

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
  const expected = Buffer.from(mac(request, key), 'hex');
  const actual = Buffer.from(/^[0-9a-f]{64}$/.test(given) ? given : '', 'hex');
  if (actual.length !== expected.length || !crypto().timingSafeEqual(actual, expected)) return { ok: false, reason: 'bad signature (forged, or signed with another hmac_key)', request };
  if (node !== options.self) return { ok: false, reason: `addressed to ${node}, not to this node (${options.self})`, request };
  if (!(REMEDIATION_ACTIONS as readonly string[]).includes(action)) return { ok: false, reason: `action "${action}" is not one nova-ha knows`, request };
  if (!options.allowed.has(action as RemediationAction)) return { ok: false, reason: `action "${action}" is not allowed here (its command is not configured in [remediation])`, request };
  const age = options.now - ts;
  if (age > options.maxAge || age < -options.maxAge) return { ok: false, reason: `signed ${Math.round(age / 1000)}s ago, outside the ${Math.round(options.maxAge / 1000)}s window (a replay, or clocks out of sync)`, request };
  return { ok: true, request };
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
