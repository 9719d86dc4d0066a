/** Everything a controller-side handler needs, built once from the config. */
import { join } from 'node:path';
import type { Config } from '../config/load.js';
import { ConsulApi } from '../systems/consul/api.js';
import { connectAll } from '../systems/consul/connect.js';
import { FallbackDedupeStore, KvDedupeStore } from '../state/notify-dedupe.js';
import { JsonKv } from '../systems/consul/kv.js';
import { createLoggerFor, nodeNameOf, type Logger } from '../shared/log.js';
import { NETWORKS, type Network } from '../decision/model.js';
import { createNotifier, FileDedupeStore, type Notifier } from '../systems/notify/index.js';
import type { Freshness } from '../decision/observation.js';
import { settingsFromConfig, type PolicySettings } from '../decision/policy.js';

export interface Runtime {
  readonly config: Config;
  readonly node: string;
  readonly logger: Logger;
  readonly clusters: Readonly<Record<Network, ConsulApi>>;
  readonly kv: JsonKv;
  readonly settings: PolicySettings;
  readonly freshness: Freshness;
  readonly notifier: Notifier;
  readonly stateDir: string;
}

export function createRuntime(config: Config, component: string, logger = createLoggerFor(config, component)): Runtime {
  const node = nodeNameOf(config);
  const clients = connectAll(config);
  const clusters = Object.fromEntries(NETWORKS.map((n) => [n, new ConsulApi(clients[n])])) as Record<Network, ConsulApi>;
  const kv = new JsonKv(clusters.mgmt, config.consul.kv_prefix);
  return {
    config,
    node,
    logger,
    clusters,
    kv,
    settings: settingsFromConfig(config),
    // A poller document is trusted for three of its intervals: one missed round is not yet "unknown".
    freshness: { powerMaxAge: 3 * config.ipmi.poll_interval, novaMaxAge: 3 * config.nova.poll_interval },
    notifier: createNotifier({ settings: config.notifications, logger, dedupe: new FallbackDedupeStore(new KvDedupeStore(kv, node), new FileDedupeStore(join(config.DEFAULT.state_dir, 'notify-dedupe'))), node }),
    stateDir: config.DEFAULT.state_dir,
  };
}

export const stateFile = (runtime: Pick<Runtime, 'stateDir'>, name: string): string => join(runtime.stateDir, name);
