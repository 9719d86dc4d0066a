import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Incident } from '../../lib/state/incident.js';
import { renderMetrics, writeTextfile } from '../../lib/operator/metrics.js';
import { countRun } from '../../lib/shared/run-counter.js';
import type { ClusterStatus } from '../../lib/operator/status.js';

const status: ClusterStatus = {
  generatedAt: '2026-11-25T10:00:00.000Z',
  observer: 'ctl1',
  clusters: { mgmt: { ok: true }, storage: { ok: true }, tenant: { ok: false, error: 'x' } },
  paused: null,
  storm: null,
  nova: { api: 'up', schedulers: 'up' },
  hosts: [
    { host: 'cmp1', networks: { mgmt: 'alive', storage: 'failed', tenant: 'alive' }, power: 'on', novaCompute: { node: 'up', api: 'up' }, maintenance: { on: false }, incident: null, decision: { action: 'none', cause: 'healthy', reason: 'healthy' } },
    { host: 'cmp2', networks: { mgmt: 'alive', storage: 'alive', tenant: 'alive' }, power: 'on', novaCompute: { node: 'up', api: 'up' }, maintenance: { on: true, reason: 'x' }, incident: null, decision: { action: 'none', cause: 'healthy', reason: 'healthy' } },
  ],
  errors: [],
};
const base = Date.parse('2026-11-25T09:00:00Z');
const incident = (over: Partial<Incident>): Incident => ({ id: 'cmp1-x', host: 'cmp1', cause: 'storage-network', phase: 'recovered', phaseSince: base, openedAt: base, attempts: {}, fenceStarted: false, alerted: false, reason: 'r', timeline: [], ...over });

describe('metrics', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nova-ha-metrics-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('renders valid Prometheus text from the cluster picture, the incidents and the run counters', async () => {
    countRun(dir, 'evaluate', true);
    countRun(dir, 'evaluate', true);
    countRun(dir, 'evaluate', false);
    const fenced = incident({ id: 'cmp3-x', host: 'cmp3', cause: 'node-unreachable', phase: 'fenced', timeline: [{ at: base + 42_000, step: 'phase fenced', outcome: 'info', by: 'ctl1' }], instances: [{ id: 'a', name: 'a', outcome: 'evacuated', from: 'cmp3', to: 'cmp1' }] });
    const closed = incident({ closedAt: base + 8_000, timeline: [{ at: base + 8_000, step: 'phase recovered', outcome: 'info', by: 'ctl1' }] });
    const text = await renderMetrics(status, [fenced], [closed], dir);
    expect(text).toContain('nova_ha_hosts{network="storage",state="failed"} 1');
    expect(text).toContain('nova_ha_hosts_in_maintenance 1');
    expect(text).toContain('nova_ha_cluster_reachable{network="tenant"} 0');
    expect(text).toContain('nova_ha_incidents_open{phase="fenced"} 1');
    expect(text).toContain('nova_ha_incidents_closed{outcome="recovered",cause="storage-network"} 1');
    expect(text).toContain('nova_ha_instances{outcome="evacuated"} 1');
    expect(text).toContain('nova_ha_time_to_recovery_seconds_bucket{le="10",cause="storage-network"} 1');
    expect(text).toContain('nova_ha_time_to_recovery_seconds_bucket{le="60",cause="node-unreachable"} 1');
    expect(text).toContain('nova_ha_handler_runs_total{handler="evaluate",result="ok"} 2');
    expect(text).toContain('nova_ha_handler_runs_total{handler="evaluate",result="error"} 1');
    const file = join(dir, 'out', 'nova-ha.prom');
    writeTextfile(file, text);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });
});
