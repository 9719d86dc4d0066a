/**
 * Consul sees a failed member back only when gossip tells it: after a short cut that takes
 * anywhere from 1 to 27 s (lab-notes), because serf retries failed members only every 30 s. A
 * controller waiting on a failure (confirming it, or giving a repair its time) asks its own agent
 * of that network to join the host. A join that connects makes the host learn it was declared
 * failed, and it refutes that at once; a join that cannot connect changes nothing. So the health
 * state follows the link within seconds either way, and a blip is not mistaken for a failure.
 */
import type { Logger } from '../../shared/log.js';
import type { Network } from '../../config/schema.js';
import type { ConsulApi } from './api.js';
import { describeConsulError } from './connect.js';

/** How often one host is asked to rejoin one network while it stays failed. */
export const REJOIN_INTERVAL_MS = 3000;

export type RejoinOutcome = 'joined' | 'unreachable' | 'not-a-member';

/** One join attempt from this agent to the member named host. */
export async function rejoin(api: ConsulApi, host: string): Promise<RejoinOutcome> {
  const member = (await api.agentMembers()).find((m) => m.Name === host);
  if (!member) return 'not-a-member';
  const address = member.Addr.includes(':') ? `[${member.Addr}]:${member.Port}` : `${member.Addr}:${member.Port}`;
  try {
    await api.agentJoin(address);
    return 'joined';
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 403) throw error;
    return 'unreachable';
  }
}

/** Rejoin attempts for one host, at most one in flight and one per interval per network. */
export class Rejoiner {
  readonly #inFlight = new Map<Network, Promise<void>>();
  readonly #lastTry = new Map<Network, number>();

  constructor(
    private readonly clusters: Readonly<Record<Network, ConsulApi>>,
    private readonly host: string,
    private readonly log: Logger,
    private readonly intervalMs = REJOIN_INTERVAL_MS,
  ) {}

  /** Starts an attempt on each network that is due; never waits for one. */
  nudge(networks: readonly Network[], now: number): void {
    for (const network of networks) {
      if (this.#inFlight.has(network) || now - (this.#lastTry.get(network) ?? -Infinity) < this.intervalMs) continue;
      this.#lastTry.set(network, now);
      const attempt = rejoin(this.clusters[network], this.host)
        .then((outcome) => {
          // Only a join that connected is news: the host will be seen back.
          const fields = { step: 'confirm', network, detail: outcome };
          if (outcome === 'joined') this.log.info('rejoin', fields);
          else this.log.debug('rejoin', fields);
        })
        .catch((error: unknown) => this.log.warn('rejoin-failed', { step: 'confirm', network, error: describeConsulError(error), fix: `the ${network} token needs agent write on this node (docs/consul-acl/README.md)` }))
        .finally(() => this.#inFlight.delete(network));
      this.#inFlight.set(network, attempt);
    }
  }

  /** Resolves once no attempt is in flight, so a worker exits with nothing left running. */
  async settled(): Promise<void> {
    await Promise.all(this.#inFlight.values());
  }
}
