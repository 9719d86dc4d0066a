/**
 * Prometheus metrics for node_exporter's textfile collector, rendered with prom-client's registry
 * and written atomically (a temporary file renamed into place, so the collector never reads half
 * a file). Handlers are short-lived processes, so nothing is counted in memory: every value is
 * derived from durable state (the cluster picture, the incident history in KV, and per-handler
 * run counters in the state dir).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Incident } from '../state/incident.js';
import { NETWORKS } from '../decision/model.js';
import { readRuns } from '../shared/run-counter.js';
import type { ClusterStatus } from './status.js';

/** Recovery time buckets, in seconds: a repaired link takes seconds, a fenced host with 50 instances minutes. */
const RECOVERY_BUCKETS = [5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600];

export function renderMetrics(status: ClusterStatus, open: readonly Incident[], closed: readonly Incident[], stateDir: string): Promise<string> {
  const registry = new Registry();
  const hosts = new Gauge({ name: 'nova_ha_hosts', help: 'Compute hosts by member state on each network', labelNames: ['network', 'state'], registers: [registry] });
  for (const network of NETWORKS) for (const state of ['alive', 'failed', 'left', 'unknown']) hosts.set({ network, state }, status.hosts.filter((h) => h.networks[network] === state).length);
  const maintenance = new Gauge({ name: 'nova_ha_hosts_in_maintenance', help: 'Compute hosts in maintenance (never acted on)', registers: [registry] });
  maintenance.set(status.hosts.filter((h) => h.maintenance !== 'unknown' && h.maintenance.on).length);
  const paused = new Gauge({ name: 'nova_ha_paused', help: '1 while nova-ha is paused cluster-wide', registers: [registry] });
  paused.set(status.paused && status.paused !== 'unknown' ? 1 : 0);
  const clusterUp = new Gauge({ name: 'nova_ha_cluster_reachable', help: 'Whether this controller could read the cluster leader of each network', labelNames: ['network'], registers: [registry] });
  for (const network of NETWORKS) clusterUp.set({ network }, status.clusters[network].ok ? 1 : 0);

  const openByPhase = new Gauge({ name: 'nova_ha_incidents_open', help: 'Open incidents by phase', labelNames: ['phase'], registers: [registry] });
  for (const incident of open) openByPhase.inc({ phase: incident.phase });
  // Gauges, not counters: they count what the KV history retains (the newest incidents per host).
  const closedRetained = new Gauge({ name: 'nova_ha_incidents_closed', help: 'Closed incidents in the retained history, by outcome and cause', labelNames: ['outcome', 'cause'], registers: [registry] });
  for (const incident of closed) closedRetained.inc({ outcome: incident.phase, cause: incident.cause });
  const instances = new Gauge({ name: 'nova_ha_instances', help: 'Instances of fenced or drained hosts (open and retained incidents) by outcome', labelNames: ['outcome'], registers: [registry] });
  for (const incident of [...open, ...closed]) for (const o of incident.instances ?? []) instances.inc({ outcome: o.outcome });
  const recovery = new Histogram({ name: 'nova_ha_time_to_recovery_seconds', help: 'From detection to recovered, or to every instance evacuated (fenced)', labelNames: ['cause'], buckets: RECOVERY_BUCKETS, registers: [registry] });
  for (const incident of [...open, ...closed]) {
    const end = incident.phase === 'fenced' || incident.phase === 'recovered' ? [...incident.timeline].reverse().find((e) => e.step === `phase ${incident.phase}`)?.at ?? incident.closedAt : undefined;
    if (end !== undefined) recovery.observe({ cause: incident.cause }, (end - incident.openedAt) / 1000);
  }

  const { runs } = readRuns(stateDir);
  const runCounter = new Counter({ name: 'nova_ha_handler_runs_total', help: 'Handler runs on this controller by result', labelNames: ['handler', 'result'], registers: [registry] });
  const lastOk = new Gauge({ name: 'nova_ha_handler_last_success_timestamp_seconds', help: 'When each handler last ran without error on this controller', labelNames: ['handler'], registers: [registry] });
  for (const [handler, counts] of runs) {
    runCounter.inc({ handler, result: 'ok' }, counts.ok);
    runCounter.inc({ handler, result: 'error' }, counts.error);
    if (counts.lastOk) lastOk.set({ handler }, Math.round(counts.lastOk / 1000));
  }
  return registry.metrics();
}

export function writeTextfile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, path);
}
