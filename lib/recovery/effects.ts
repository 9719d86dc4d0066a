/**
 * Effects: everything a worker may do to a host (ask it to repair itself, read and switch its
 * power, fence, drain), behind one interface, so each part (Consul events, IPMI, Nova) lives in
 * its own module and the worker is tested with exactly the effects a controller has
 * (controller-effects.ts says which, from its config).
 */
import type { Incident } from '../state/incident.js';
import type { PowerState } from '../decision/model.js';
import type { FenceEvidence } from '../decision/fence-evidence.js';
import { REMEDIATION_EVENT } from '../systems/consul/names.js';
import { signRequest, type RemediationAction } from './repair-request.js';
import type { Runtime } from './runtime.js';

export interface FenceRun {
  readonly host: string;
  /** Mutates the host's incident (check-and-set) and returns the stored result. */
  readonly change: (change: (incident: Incident) => Incident) => Promise<Incident>;
  /** False once the host lock is lost: every step checks it before acting. */
  readonly stillOwner: () => boolean;
  /** What the fence decision knew beyond the BMC: a watchdog's safe time, or a crash dump in progress. */
  readonly evidence?: FenceEvidence;
}

export interface Effects {
  /** Asks the node, through a signed Consul user event, to run an allow-listed repair; nonce names the request (the node's report answers it). */
  remediate(host: string, action: RemediationAction, incidentId: string, nonce: string): Promise<string>;
  /** Chassis power read from the BMC now; undefined when no BMC access is configured. */
  readPower?(host: string): Promise<PowerState>;
  powerOn?(host: string): Promise<void>;
  /** Fence (power off, verified), force down, evacuate, mark fenced. Resumable; ends in fenced or held. */
  fence?(run: FenceRun): Promise<Incident>;
  /** Live-migrate the host's instances away (tenant network fault, opt-in), the host disabled meanwhile. */
  drain?(run: FenceRun): Promise<Incident>;
  /** Enable again a host nova-ha disabled for a drain (its incident closed). */
  undrain?(host: string): Promise<void>;
  /** A fenced host's instances left behind, evacuated again if room appeared (retry-left-behind.ts); undefined when nothing was done. */
  retryLeftBehind?(run: FenceRun): Promise<Incident | undefined>;
}

/** Consul's event node filter is a regular expression: match exactly this node. */
export const exactNode = (node: string): string => `^${node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;

export function consulEffects(runtime: Runtime): Effects {
  return {
    async remediate(host, action, incidentId, nonce) {
      const payload = signRequest({ node: host, action, incident: incidentId }, runtime.config.remediation.hmac_key, Date.now(), nonce);
      return runtime.clusters.mgmt.eventFire(REMEDIATION_EVENT, payload, exactNode(host));
    },
  };
}
