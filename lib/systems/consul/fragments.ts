/**
 * The Consul agent config fragments nova-ha registers: the watches and checks that make Consul
 * run its handlers. One fragment per agent (network) and role; script checks are enabled only on
 * the agents that run one (the mgmt agents). install.sh writes them into each agent's config dir.
 */
import { join } from 'node:path';
import type { Config } from '../../config/load.js';
import { addressOf } from './connect.js';
import { DOCTOR_CHECK, EVALUATE_CHECK, NOVA_COMPUTE_CHECK, NOVA_SERVICES_CHECK, POWER_CHECK, REMEDIATION_EVENT, ROLE_META, WATCHDOG_CHECK } from './names.js';
import type { Network } from '../../config/schema.js';
import { bmcConfigured } from '../power/ipmi.js';

export type Role = 'controller' | 'compute';

export interface FragmentPaths {
  /** The node binary Consul runs handlers with. */
  readonly node: string;
  /** Where the compiled handlers are installed (LIB/handlers/*.js). */
  readonly lib: string;
  readonly config: string;
}

/** How often the controllers' doctor check runs: its readings (Placement, every BMC) are too heavy for every few seconds. */
export const DOCTOR_INTERVAL = 300_000;

const seconds = (ms: number): string => `${Math.max(1, Math.round(ms / 1000))}s`;

/**
 * With ACLs on, Consul 1.8 runs a watch without a token as the agent's default token (anonymous,
 * usually), which sees no checks and no events, and syncs a check without a token to the catalog
 * with that token too, which may not register it. So each watch and check carries this node's
 * nova-ha token for the network (docs/consul-acl/README.md). The fragment file is the agent's
 * config (0640, root:consul): the only place besides nova-ha.conf that holds it.
 */
function tokenFor(config: Config, network: Network): <T extends object>(definition: T) => T {
  const token = addressOf(config, network).token;
  return (definition) => (token.isEmpty ? definition : { ...definition, token: token.reveal() });
}

/**
 * Node options of every handler Consul starts. A handler lives for one call, but at 10,000 hosts
 * an evaluation parses ~20 MB of Consul answers: V8 then grows its young generation to its 16 MiB
 * semi-spaces, and that high-water mark stays in the process's peak RSS (bench/scale.ts at 10,000
 * hosts: 152-167 MiB with the default, 135-147 MiB with 2 MiB semi-spaces, and the same CPU
 * seconds at 1,000 and 10,000 hosts).
 */
export const HANDLER_NODE_OPTIONS = ['--max-semi-space-size=2'] as const;

export function fragment(role: Role, network: Network, config: Config, paths: FragmentPaths): Record<string, unknown> {
  const handler = (name: string, ...extra: string[]): string[] => [paths.node, ...HANDLER_NODE_OPTIONS, join(paths.lib, 'handlers', `${name}.js`), '--config', paths.config, ...extra];
  const meta = { node_meta: { [ROLE_META]: role } };
  const withToken = tokenFor(config, network);
  if (role === 'controller') {
    // Critical checks only: every transition nova-ha acts on enters or leaves the critical set
    // (serfHealth failing or back, nova-compute dead or back, node maintenance on or off), while
    // passing/warning churn does not start a handler, and each call gets the critical checks, not
    // every check of the cluster (about 1 MB at 1,000 hosts). The periodic evaluation sees the rest.
    const watches = [withToken({ type: 'checks', state: 'critical', handler_type: 'script', args: handler('watch-checks', '--network', network) })];
    if (network !== 'mgmt') return { ...meta, watches };
    const evaluate = config.policy.evaluate_interval;
    const power = config.ipmi.poll_interval;
    return {
      ...meta,
      enable_local_script_checks: true,
      watches,
      checks: [
        { id: EVALUATE_CHECK, name: 'nova-ha: every compute host evaluated', notes: 'passing: all healthy; warning: incidents open; critical: incidents held for an operator, or this controller is isolated', args: handler('evaluate'), interval: seconds(evaluate), timeout: seconds(Math.max(60_000, 2 * evaluate)) },
        { id: NOVA_SERVICES_CHECK, name: "nova-ha: nova-compute of every host in Nova's API", notes: 'one controller at a time reads the service list (one API call); the others show standby', args: handler('nova-services-check'), interval: seconds(config.nova.poll_interval), timeout: seconds(Math.max(60_000, 2 * config.nova.poll_interval)) },
        ...(bmcConfigured(config) ? [{ id: POWER_CHECK, name: 'nova-ha: chassis power of every compute host (IPMI)', notes: 'one controller at a time reads every BMC; the others show standby', args: handler('power-check'), interval: seconds(power), timeout: seconds(Math.max(60_000, 2 * power)) }] : []),
        { id: DOCTOR_CHECK, name: 'nova-ha: ready for a failure (nova-ha doctor)', notes: 'N+1 room, BMC credentials, Nova role, Consul tokens, repair keys, clocks, config; perfdata after " | "; unknown reads as warning', args: handler('doctor-check'), interval: seconds(DOCTOR_INTERVAL), timeout: '120s', status: 'warning' },
      ].map(withToken),
    };
  }
  if (network !== 'mgmt') return meta;
  return {
    ...meta,
    enable_local_script_checks: true,
    watches: [withToken({ type: 'event', name: REMEDIATION_EVENT, handler_type: 'script', args: handler('remediate') })],
    // Registered as warning (unknown to the policy) until its first run: an agent reload re-registers
    // checks, and a default "critical" would read as nova-compute dead.
    checks: [
      withToken({ id: NOVA_COMPUTE_CHECK, name: 'nova-ha: nova-compute running on this node', args: handler('nova-compute-check'), interval: seconds(config.nova_compute.check_interval), timeout: '10s', status: 'warning' }),
      // Passed by the nova-ha-watchdog service while the watchdog is armed and fed; critical from the
      // agent's start, and once a timeout passes without a feed.
      ...(config.watchdog.enabled ? [withToken({ id: WATCHDOG_CHECK, name: 'nova-ha: watchdog armed and fed (self-fence fallback)', notes: 'passing: armed, the output says its timeout; critical: not armed, or not fed for a timeout', ttl: seconds(config.watchdog.timeout), status: 'critical' })] : []),
    ],
  };
}

/** The fragment as it may be shown: every token replaced by the option it comes from. */
export function redactTokens(f: Record<string, unknown>, network: Network): Record<string, unknown> {
  const redact = (key: 'watches' | 'checks'): Record<string, unknown> => {
    const list = f[key] as Record<string, unknown>[] | undefined;
    return list ? { [key]: list.map((d) => ('token' in d ? { ...d, token: `*** ([consul] ${network}_token)` } : d)) } : {};
  };
  return { ...f, ...redact('watches'), ...redact('checks') };
}

export const FRAGMENT_FILE = 'nova-ha.json';

/** What a fragment does, for install.sh's summary. */
export function describeFragment(f: Record<string, unknown>): string {
  const watches = (f['watches'] as { type: string }[] | undefined)?.map((w) => `${w.type} watch`) ?? [];
  const checks = (f['checks'] as { id: string; interval?: string; ttl?: string }[] | undefined)?.map((c) => (c.ttl ? `${c.id} (TTL ${c.ttl})` : `${c.id} every ${c.interval}`)) ?? [];
  return [...watches, ...checks].join(', ') || 'role metadata only';
}

