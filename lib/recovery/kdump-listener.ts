/**
 * The controllers' fence_kdump listener (kdump awareness, docs/fencing.md): every valid message is
 * matched to a compute by its source address, the address the compute is registered with in one
 * of the three Consul clusters. It is recorded (kdump/HOST in KV) only while the leaders see that
 * host failed on every network; from any other address, or for a host still alive anywhere (or
 * whose state cannot be read), it is logged and ignored. What a record means is the policy's
 * business (decision/fence-evidence.ts): a dump in progress while the host is failed everywhere.
 */
import { NETWORKS, type Network } from '../decision/model.js';
import { describeConsulError } from '../systems/consul/connect.js';
import { ROLE_META } from '../systems/consul/names.js';
import { parseKdumpMessage, type KdumpDatagram } from '../systems/power/kdump.js';
import { KEYS, type KdumpRecord } from '../state/records.js';
import type { Runtime } from './runtime.js';

export type KdumpOutcome =
  | { readonly outcome: 'invalid'; readonly why: string }
  | { readonly outcome: 'throttled' }
  | { readonly outcome: 'unknown-address' }
  | { readonly outcome: 'not-failed'; readonly host: string; readonly why: string }
  | { readonly outcome: 'recorded'; readonly host: string; readonly record: KdumpRecord }
  | { readonly outcome: 'error'; readonly error: string };

/** Where a source address belongs, and the host's serfHealth in each cluster (read from the leaders). */
export interface HostByAddress {
  readonly host: string;
  readonly serf: Readonly<Record<Network, string | undefined>>;
}

/** The compute registered with this address in any cluster, and its serfHealth everywhere; undefined when none is. */
export async function hostByAddress(runtime: Pick<Runtime, 'clusters'>, address: string): Promise<HostByAddress | undefined> {
  const views = await Promise.all(NETWORKS.map(async (network) => ({ network, nodes: await runtime.clusters[network].catalogNodes() })));
  const host = views.flatMap((v) => v.nodes).find((n) => n.Address === address && n.Meta?.[ROLE_META] === 'compute')?.Node;
  if (!host) return undefined;
  const serf = await Promise.all(NETWORKS.map(async (network) => (await runtime.clusters[network].healthNode(host)).find((c) => c.CheckID === 'serfHealth')?.Status));
  return { host, serf: { mgmt: serf[0], storage: serf[1], tenant: serf[2] } };
}

/** The record after one more message: a new dump when the last message is older than the dump timeout. */
export function nextRecord(previous: KdumpRecord | undefined, from: string, at: number, by: string, newDumpAfterMs: number): KdumpRecord {
  if (!previous || previous.from !== from || at - previous.last > newDumpAfterMs) return { from, first: at, last: at, count: 1, by };
  return { from, first: previous.first, last: Math.max(previous.last, at), count: previous.count + 1, by };
}

/**
 * At most four lookups per source address and second: the listener is open to anyone on the
 * network and every lookup costs consistent reads of three clusters, while a real sender sends one
 * message per interval (10 s by default) to each controller.
 */
const THROTTLE_MS = 250;

/** Handles one datagram. */
export function kdumpHandler(runtime: Runtime): (datagram: KdumpDatagram) => Promise<KdumpOutcome> {
  const lastLookup = new Map<string, number>();
  const log = runtime.logger.child({ step: 'kdump' });
  return async ({ payload, from, at }) => {
    const message = parseKdumpMessage(payload);
    if (!message.ok) {
      log.debug('kdump-discarded', { from, detail: `not a fence_kdump message: ${message.why}` });
      return { outcome: 'invalid', why: message.why };
    }
    if (at - (lastLookup.get(from) ?? 0) < THROTTLE_MS) return { outcome: 'throttled' };
    lastLookup.set(from, at);
    let found: HostByAddress | undefined;
    try {
      found = await hostByAddress(runtime, from);
    } catch (error) {
      log.error('kdump-ignored', { from, error: describeConsulError(error), fix: 'the clusters could not be read; the next message is tried again' });
      return { outcome: 'error', error: describeConsulError(error) };
    }
    if (!found) {
      log.warn('kdump-ignored', { from, detail: `a fence_kdump message from ${from}, which no compute host is registered with in Consul; ignored` });
      return { outcome: 'unknown-address' };
    }
    const notFailed = NETWORKS.filter((n) => found.serf[n] !== 'critical');
    if (notFailed.length > 0) {
      const why = `it is ${notFailed.map((n) => `${found.serf[n] === 'passing' ? 'alive' : (found.serf[n] ?? 'not registered')} on ${n}`).join(', ')}`;
      log.warn('kdump-ignored', { host: found.host, from, detail: `a fence_kdump message from ${found.host}'s address while ${why}; ignored (only a host failed on every network can be dumping)` });
      return { outcome: 'not-failed', host: found.host, why };
    }
    try {
      const record = await runtime.kv.update<KdumpRecord>(runtime.kv.key(KEYS.kdump(found.host)), (previous) => nextRecord(previous, from, at, runtime.node, runtime.config.kdump.timeout));
      if (record!.count === 1) log.info('kdump-started', { host: found.host, from, detail: `fence_kdump message from ${found.host} (${from}), failed on every network: a crash dump is in progress` });
      else log.debug('kdump-message', { host: found.host, from, detail: `message ${record!.count} since ${new Date(record!.first).toISOString()}` });
      return { outcome: 'recorded', host: found.host, record: record! };
    } catch (error) {
      log.error('kdump-record-failed', { host: found.host, from, error: (error as Error).message, fix: 'the next message is recorded again' });
      return { outcome: 'error', error: (error as Error).message };
    }
  };
}
