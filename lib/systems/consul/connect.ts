/**
 * One client per Consul cluster (mgmt, storage, tenant), each talking to this node's own agent
 * for that network: http://, https:// (with the configured CA) or unix:// (a socket path).
 */
import { readFileSync } from 'node:fs';
import Consul from 'consul';
import type { Config } from '../../config/load.js';
import { NETWORKS, type Network } from '../../config/schema.js';
import type { Secret } from '../../shared/secret.js';

export type ConsulClient = InstanceType<typeof Consul>;
export type Clusters = Readonly<Record<Network, ConsulClient>>;

export interface AgentAddress {
  readonly url: URL;
  readonly token: Secret;
}

export function addressOf(config: Config, network: Network): AgentAddress {
  const consul = config.consul;
  const map = {
    mgmt: { url: consul.mgmt_address, token: consul.mgmt_token },
    storage: { url: consul.storage_address, token: consul.storage_token },
    tenant: { url: consul.tenant_address, token: consul.tenant_token },
  } as const;
  return map[network];
}

export function connect(address: AgentAddress, timeoutMs: number, caFile?: string): ConsulClient {
  const { url, token } = address;
  const defaults = token.isEmpty ? {} : { token: token.reveal() };
  // papi (under the consul package) takes socketPath, timeout and baseUrl; the typings omit them.
  const options: Record<string, unknown> = { defaults, timeout: timeoutMs };
  if (url.protocol === 'unix:') {
    options['socketPath'] = url.pathname;
    options['baseUrl'] = 'http://consul/v1';
  } else {
    options['baseUrl'] = `${url.protocol}//${url.host}/v1`;
    if (url.protocol === 'https:' && caFile) options['agent'] = new (process.getBuiltinModule('node:https').Agent)({ ca: readFileSync(caFile), keepAlive: false });
  }
  return new Consul(options as ConstructorParameters<typeof Consul>[0]);
}

export function connectAll(config: Config): Clusters {
  return Object.fromEntries(NETWORKS.map((n) => [n, connect(addressOf(config, n), config.consul.timeout, config.consul.ca_file || undefined)])) as Record<Network, ConsulClient>;
}

/** What a failed Consul call says, in one line (status code and Consul's own message). */
export function describeConsulError(error: unknown): string {
  const e = error as { message?: string; statusCode?: number; code?: string; response?: { statusCode?: number } };
  const status = e.statusCode ?? e.response?.statusCode;
  const message = (e.message ?? String(error)).replace(/\s+/g, ' ').trim();
  return status ? `HTTP ${status}: ${message}` : e.code && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}
