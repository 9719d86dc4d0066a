/**
 * A whole cloud in memory for unit tests of the recovery steps: three simulated Consul clusters
 * (controllers and computes in each), a simulated Nova and BMCs, one journal of every call, a
 * notifier that keeps what it was given, a captured log, and a Runtime over them that nova-ha's
 * own code runs on unchanged. Helpers put hosts into the states the policy reads.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { parseConfig, type Config } from '../../lib/config/load.js';
import { NETWORKS, type CheckStatus, type Network } from '../../lib/decision/model.js';
import type { Observer } from '../../lib/decision/observation.js';
import { settingsFromConfig } from '../../lib/decision/policy.js';
import { consulEffects, type Effects } from '../../lib/recovery/effects.js';
import { evaluate, type Evaluation } from '../../lib/recovery/evaluate.js';
import { fenceAndEvacuate } from '../../lib/recovery/fence.js';
import type { Runtime } from '../../lib/recovery/runtime.js';
import { createLogger, type Logger } from '../../lib/shared/log.js';
import { IncidentStore } from '../../lib/state/incident-store.js';
import type { Incident } from '../../lib/state/incident.js';
import { KEYS, type HostRecord, type NovaPoll, type NovaServiceState, type PowerHostState, type PowerPoll } from '../../lib/state/records.js';
import type { TxnOp } from '../../lib/systems/consul/api.js';
import { JsonKv } from '../../lib/systems/consul/kv.js';
import type { Notification, Notifier } from '../../lib/systems/notify/index.js';
import { FakeBmc } from './fake-bmc.js';
import { FakeConsul } from './fake-consul.js';
import { FakeNova } from './fake-nova.js';
import { Journal } from './journal.js';

export const HMAC_KEY = 'k'.repeat(40);
export const PREFIX = 'nova-ha';
export const HOUR = 3600_000;

export interface FakeCloudOptions {
  readonly computes?: readonly string[];
  readonly controllers?: readonly string[];
  /** The controller this runtime runs on. */
  readonly node?: string;
  /** Config options by section, over the defaults below. */
  readonly config?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Another controller of the same cloud: its clusters, Nova, BMCs and journal are shared. */
  readonly sameCloudAs?: FakeCloud;
}

export interface LogRecord extends Record<string, unknown> {
  readonly event: string;
}

export class FakeCloud {
  readonly journal: Journal;
  readonly consul: Readonly<Record<Network, FakeConsul>>;
  readonly nova: FakeNova;
  readonly bmc: FakeBmc;
  readonly notes: Notification[] = [];
  readonly lines: string[] = [];
  readonly runtime: Runtime;
  readonly store: IncidentStore;
  readonly computes: readonly string[];
  readonly controllers: readonly string[];
  readonly observer: Observer;
  readonly #stateDir: string;

  constructor(options: FakeCloudOptions = {}) {
    this.computes = options.computes ?? ['cmp1', 'cmp2', 'cmp3', 'cmp4'];
    this.controllers = options.controllers ?? ['ctl1', 'ctl2', 'ctl3'];
    const node = options.node ?? this.controllers[0]!;
    const shared = options.sameCloudAs;
    this.journal = shared?.journal ?? new Journal();
    this.nova = shared?.nova ?? new FakeNova(this.journal);
    this.bmc = shared?.bmc ?? new FakeBmc(this.journal);
    // The clusters are shared; each controller talks to its own agent, which creates its sessions.
    this.consul = shared ? Object.fromEntries(NETWORKS.map((n) => [n, shared.consul[n].agentOf(node)])) as Record<Network, FakeConsul> : Object.fromEntries(NETWORKS.map((n) => [n, new FakeConsul(n, node, this.journal)])) as Record<Network, FakeConsul>;
    if (!shared) {
      for (const n of NETWORKS) {
        for (const c of this.controllers) this.consul[n].node(c, { role: 'controller', serfHealth: 'passing' });
        for (const h of this.computes) this.consul[n].node(h, { role: 'compute', serfHealth: 'passing', ...(n === 'mgmt' ? { novaCompute: 'passing' as CheckStatus } : {}) });
      }
      for (const h of this.computes) this.nova.service(h);
      this.nova.service(this.nova.target);
    }
    this.#stateDir = mkdtempSync(join(tmpdir(), 'nova-ha-fake-cloud-'));
    const config = cloudConfig(node, this.#stateDir, options.config);
    const logger = createLogger({ component: 'test', node, level: 'debug', stream: { write: (line: string) => this.lines.push(line) } });
    const notes = this.notes;
    const notifier: Notifier = {
      notify: (n) => void notes.push(structuredClone(n)),
      flush: async () => ({ settled: true, abandoned: 0 }),
      pending: 0,
    };
    const clusters = Object.fromEntries(NETWORKS.map((n) => [n, this.consul[n].api])) as Runtime['clusters'];
    const kv = new JsonKv(clusters.mgmt, config.consul.kv_prefix);
    this.runtime = {
      config,
      node,
      logger,
      clusters,
      kv,
      settings: settingsFromConfig(config),
      freshness: { powerMaxAge: 3 * config.ipmi.poll_interval, novaMaxAge: 3 * config.nova.poll_interval },
      notifier,
      stateDir: this.#stateDir,
    };
    this.store = new IncidentStore(kv);
    this.observer = { node, startedAt: 0 };
    if (!shared) this.pollers();
  }

  get logger(): Logger {
    return this.runtime.logger;
  }

  /** Removes the state dir. */
  dispose(): void {
    rmSync(this.#stateDir, { recursive: true, force: true });
  }

  key(...parts: string[]): string {
    return [PREFIX, ...parts].join('/');
  }

  /** The log lines, parsed, optionally of one event. */
  logs(event?: string): LogRecord[] {
    return this.lines.map((l) => JSON.parse(l) as LogRecord).filter((r) => event === undefined || r.event === event);
  }

  /** The host's open incident as stored now. */
  incident(host: string): Incident | undefined {
    return this.consul.mgmt.peek<Incident>(this.key(KEYS.incident(host)));
  }

  /** The keys written to the mgmt cluster's KV, one by one or in transactions, in order. */
  keysWritten(): string[] {
    return this.journal.entries.filter((e) => e.system === 'consul:mgmt' && (e.method === 'kvPut' || e.method === 'txn')).flatMap((e) => (e.method === 'txn' ? (e.args[0] as TxnOp[]).map((op) => op.key) : [e.key!]));
  }

  /** The journal's KV writes to the host's incident, as the documents written. */
  incidentWrites(host: string): Incident[] {
    return this.journal.of('consul:mgmt', 'kvPut').filter((e) => e.key === this.key(KEYS.incident(host))).map((e) => e.value as Incident);
  }

  /** Fresh poller views (a key per host and a summary each): every compute powered on and up in Nova, the API and a scheduler up. */
  pollers(now = Date.now()): void {
    for (const h of this.computes) {
      this.consul.mgmt.seed(this.key(KEYS.powerHost(h)), { state: this.bmc.power.get(h) ?? 'on', since: now - HOUR } satisfies PowerHostState);
      this.novaView(h, { id: `svc-${h}`, state: 'up', since: now - HOUR, status: 'enabled', forcedDown: false });
    }
    this.consul.mgmt.seed(this.key(KEYS.powerPoll), { at: now, by: 'ctl1' } satisfies PowerPoll);
    this.consul.mgmt.seed(this.key(KEYS.novaPoll), { at: now, by: 'ctl1', api: 'up', schedulers: 'up' } satisfies NovaPoll);
  }

  /** The host's entry in the Nova poller's view, as the poller would write it. */
  novaView(host: string, state: NovaServiceState): void {
    this.consul.mgmt.seed(this.key(KEYS.novaHost(host)), state);
  }

  /** The host's agent in each network's cluster reports this serfHealth. */
  member(host: string, state: CheckStatus, ...networks: Network[]): void {
    for (const n of networks.length ? networks : NETWORKS) this.consul[n].node(host, { serfHealth: state });
  }

  /**
   * Records the host's current states as held since `ago` ms (as an earlier evaluation would have
   * written them), so a failure is past its confirmation window.
   */
  heldSince(host: string, ago = HOUR): void {
    const since = Date.now() - ago;
    const state = (n: Network): 'alive' | 'failed' => (this.consul[n].nodes.get(host)?.serfHealth === 'passing' ? 'alive' : 'failed');
    const record: HostRecord = { networks: Object.fromEntries(NETWORKS.map((n) => [n, { state: state(n), since }])) as HostRecord['networks'], novaNode: { state: this.consul.mgmt.nodes.get(host)?.novaCompute === 'critical' ? 'down' : 'up', since }, at: since, by: 'ctl2' };
    this.consul.mgmt.seed(this.key(KEYS.host(host)), record);
  }

  /** Failed on every network for an hour (hung or cut off), its BMC saying `power`. */
  hung(host: string, power: 'on' | 'off' | 'unknown' = 'on'): void {
    this.member(host, 'critical');
    this.bmc.power.set(host, power);
    this.heldSince(host);
    this.pollers();
  }

  /** The effects a controller with IPMI fencing has, over the simulated Consul, BMCs and Nova. */
  effects(over: Partial<Effects> = {}): Effects {
    return {
      ...consulEffects(this.runtime),
      readPower: (host) => this.bmc.readPower(host),
      powerOn: (host) => this.bmc.powerOn(host),
      fence: (run) => fenceAndEvacuate({ runtime: this.runtime, nova: this.nova, powerOff: (host) => this.bmc.powerOffVerified(host) }, run),
      ...over,
    };
  }
}

function ini(sections: Record<string, Record<string, string>>): string {
  return Object.entries(sections).map(([name, options]) => [`[${name}]`, ...Object.entries(options).map(([k, v]) => `${k} = ${v}`)].join('\n')).join('\n\n');
}

function cloudConfig(node: string, stateDir: string, overrides: FakeCloudOptions['config'] = {}): Config {
  const sections: Record<string, Record<string, string>> = {
    DEFAULT: { role: 'controller', node_name: node, state_dir: stateDir, log_file: '' },
    consul: { kv_prefix: PREFIX },
    remediation: { hmac_key: HMAC_KEY },
    nova: { auth_url: 'http://keystone.test:5000/v3', username: 'nova-ha', password: 'fake-cloud-password-1234' },
    notifications: { smtp_host: 'smtp.test', to: 'ops@example.com' },
    fencing: { method: 'ipmi' },
    ipmi: { username: 'admin', password_env: 'IPMI_PASSWORD', address_template: '{host}-bmc.test' },
    evacuation: { retries: '0' },
  };
  for (const [section, values] of Object.entries(overrides)) sections[section] = { ...sections[section], ...values };
  const { config, problems } = parseConfig(ini(sections), 'fake-cloud.conf');
  const errors = problems.filter((p) => !p.warning);
  if (!config || errors.length > 0) throw new Error(`fake cloud config: ${JSON.stringify(errors)}`);
  return config;
}

/** A FakeCloud maker for a test file: every cloud it makes is disposed after each test. */
export function cloudsDisposedAfterEach(): (options?: FakeCloudOptions) => FakeCloud {
  const clouds: FakeCloud[] = [];
  afterEach(() => clouds.splice(0).forEach((c) => c.dispose()));
  return (options = {}) => {
    const c = new FakeCloud(options);
    clouds.push(c);
    return c;
  };
}

/** One evaluation pass over the cloud, with the hosts it would start workers for. */
export async function evaluateIn(c: FakeCloud): Promise<{ evaluation: Evaluation; spawned: string[] }> {
  const spawned: string[] = [];
  const evaluation = await evaluate(c.runtime, c.observer, (hosts) => {
    spawned.push(...hosts.map((h) => h.host));
    return { queued: hosts.length, started: hosts.length };
  }, 'test');
  return { evaluation, spawned };
}
