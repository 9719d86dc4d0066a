/**
 * How a worker watches its host: while it only waits (a confirmation window, a repair, a boot),
 * it reads its own host's keys and checks (a few small reads, not every host's), and waits on
 * Consul blocking queries that return as soon as the host's health changes in any cluster (what
 * lands only in KV, Nova's view of the host or its node's repair report, the worker looks for
 * every poll instead while its decision hangs on it: worker.ts). Any
 * decision that would do more than wait is made again on a read of the whole world, as the
 * evaluation makes it (the storm guard counts every host), and with the BMC read afresh. So the
 * scoped reads change how often a worker looks, never what it acts on.
 *
 * A host that stays down everywhere has its BMC read every second at first, then ever less often
 * (doubling, up to [ipmi] poll_interval) while the answer stays the same; a change, or a decision
 * to act, reads it again at once. With at most [policy] max_workers workers per controller, that
 * bounds the BMC reads a controller makes for hosts that stay down.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { NETWORKS, type ClusterContext, type HostObservation, type Network, type PowerState } from '../decision/model.js';
import { buildSnapshot, type Observer, type World } from '../decision/observation.js';
import { decide, type Decision } from '../decision/policy.js';
import type { HostRecord } from '../state/records.js';
import { readHostWorld, readWorld } from '../state/world.js';
import type { Runtime } from './runtime.js';

export interface Observed {
  readonly observation: HostObservation;
  readonly context: ClusterContext;
  /** The host's record when its known states changed: write it back. */
  readonly record: HostRecord | undefined;
  readonly decision: Decision;
  /** Whether this came from a read of the whole world (always so for anything but waiting). */
  readonly whole: boolean;
}

const allDown = (host: HostObservation): boolean => NETWORKS.every((n) => host.networks[n].state === 'failed' || host.networks[n].state === 'left');

/** The BMC's answer for one host, read again when it is older than its back-off interval. */
export class PowerReads {
  private last: { state: PowerState; at: number; interval: number } | undefined;

  constructor(
    private readonly read: () => Promise<PowerState>,
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async state(fresh: boolean): Promise<PowerState> {
    const now = this.now();
    if (!fresh && this.last && now - this.last.at < this.last.interval) return this.last.state;
    const state = await this.read();
    const same = this.last?.state === state;
    this.last = { state, at: this.now(), interval: same ? Math.min(this.maxMs, this.last!.interval * 2) : this.minMs };
    return state;
  }
}

export class HostObserver {
  /** The cluster context of the last whole-world read: the counts the storm guard needs. */
  private context: ClusterContext | undefined;
  private indexes: Readonly<Record<Network, number>> | undefined;
  private readonly power: PowerReads | undefined;

  constructor(
    private readonly runtime: Runtime,
    private readonly host: string,
    private readonly observer: Observer,
    readPower: ((host: string) => Promise<PowerState>) | undefined,
    private readonly pollMs: number,
  ) {
    this.power = readPower ? new PowerReads(() => readPower(host), pollMs, Math.max(pollMs, runtime.config.ipmi.poll_interval)) : undefined;
  }

  /** Observes the host and decides; undefined when it is no compute host any more. */
  async observe(): Promise<Observed | undefined> {
    if (this.context) {
      const scoped = await this.read(false);
      if (scoped?.decision.action === 'wait') return scoped;
    }
    return this.read(true);
  }

  private async read(whole: boolean): Promise<Observed | undefined> {
    const { runtime, host } = this;
    let world: World;
    if (whole) {
      world = await readWorld(runtime.clusters, runtime.kv, runtime.node);
      this.indexes = undefined;
    } else {
      const scoped = await readHostWorld(runtime.clusters, runtime.kv, host, runtime.node);
      world = scoped.world;
      this.indexes = scoped.indexes;
    }
    const { snapshot, changed } = buildSnapshot(world, this.observer, Date.now(), runtime.freshness);
    const seen = snapshot.context;
    // A scoped read knows this host, the observer and the cluster-wide switches; the counts come from the last whole read.
    const context: ClusterContext = whole || !this.context ? seen : { ...this.context, now: seen.now, observer: seen.observer, nova: seen.nova, paused: seen.paused };
    if (whole) this.context = seen;
    let observation = snapshot.hosts.find((h) => h.host === host);
    if (!observation) return undefined;
    // Power decides the rows where the host is down everywhere: from the BMC, not from the last poll.
    if (allDown(observation) && this.power) observation = { ...observation, power: { state: await this.power.state(whole), since: observation.power.since } };
    return { observation, context, record: changed.get(host), decision: decide(observation, context, runtime.settings), whole };
  }

  /**
   * Waits up to ms, less if the host's health changes in any cluster (blocking queries on the
   * indexes of the last scoped read; after a whole read, a plain pause of at most pollMs).
   */
  async waitForChange(ms: number): Promise<void> {
    const started = Date.now();
    const indexes = this.indexes;
    // A cluster the scoped read could not read (index 0) is not waited on: it would answer at once.
    const watched = NETWORKS.filter((n) => (indexes?.[n] ?? 0) > 0);
    if (!indexes || watched.length === 0) {
      await sleep(Math.max(100, Math.min(ms, this.pollMs)));
      return;
    }
    const cancel = new EventEmitter();
    let changed = false;
    const blocking = watched.map((n) => this.runtime.clusters[n].healthNodeIndexed(this.host, { index: indexes[n], waitMs: ms, cancel }).then(
      (r) => void (changed ||= r.index !== indexes[n]),
      () => undefined,
    ));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      for (const b of blocking) void b.then(() => changed && done());
      void Promise.all(blocking).then(done);
    });
    cancel.emit('cancel');
    // Clusters that fail at once (no leader) must not make this a busy loop.
    const elapsed = Date.now() - started;
    if (!changed && elapsed < this.pollMs) await sleep(this.pollMs - elapsed);
  }
}
