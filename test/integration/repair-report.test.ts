/**
 * The compute's half of a repair report against a real Consul agent (dev mode, loopback): the
 * check of the storage path reads the servers from the agent's member list and connects to their
 * RPC port from the node's own address; the signed report lands in the node's KV key and verifies
 * on the controller's side; a report that cannot be written is logged with its fix; the worker
 * records a genuine report once and refuses a forged one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../lib/config/load.js';
import { checkStoragePath, sendReport } from '../../lib/recovery/node-repair.js';
import { signReport, verifyReport } from '../../lib/recovery/repair-request.js';
import { createRuntime } from '../../lib/recovery/runtime.js';
import { collectRepairReport } from '../../lib/recovery/worker.js';
import { createLogger, silentLogger } from '../../lib/shared/log.js';
import { Secret } from '../../lib/shared/secret.js';
import { IncidentStore } from '../../lib/state/incident-store.js';
import { openIncident } from '../../lib/state/incident.js';
import { tryAcquire } from '../../lib/systems/consul/lock.js';
import { startDevConsul, type DevConsul } from '../support/consul-dev.js';

let consul: DevConsul;
beforeAll(async () => void (consul = await startDevConsul()), 30_000);
afterAll(async () => consul?.stop());

const KEY = 'r'.repeat(64);

function computeConfig(overrides: { mgmt?: string; iface?: string } = {}): Config {
  const text = [
    '[DEFAULT]', 'role = compute', 'node_name = dev',
    '[consul]', `mgmt_address = ${overrides.mgmt ?? consul.httpAddr}`, `storage_address = ${consul.httpAddr}`, `tenant_address = ${consul.httpAddr}`, 'timeout = 2s',
    '[remediation]', `hmac_key = ${KEY}`, `storage_interface = ${overrides.iface ?? 'lo'}`, 'settle_time = 2s',
  ].join('\n');
  const { config, problems } = parseConfig(text);
  if (!config) throw new Error(`test config refused: ${JSON.stringify(problems)}`);
  return config as Config;
}

describe("the node's check of its storage path (a real Consul agent as the storage cluster)", () => {
  it('reaches the only server from its own address at once: works, with the evidence', async () => {
    const finding = await checkStoragePath(computeConfig(), 'dev', 2000);
    expect(finding.result).toBe('works');
    expect(finding.detail).toMatch(/^lo up with 127\.0\.0\.1, 1 of 1 storage servers reachable after \d\.\d s$/);
  });

  it('servers reached but the storage interface is not there: no verdict, after the settle time', async () => {
    const started = Date.now();
    const finding = await checkStoragePath(computeConfig({ iface: 'nova-ha-none0' }), 'dev', 1500);
    expect(finding.result).toBe('ran');
    expect(finding.detail).toMatch(/^nova-ha-none0 missing, 1 of 1 storage servers reachable .*no verdict$/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
  });
});

describe("the node's report in its KV key", () => {
  const fields = { node: 'dev', incident: 'dev-20261125T100000Z', action: 'restart-storage-network', request: 'nonce-1', result: 'works' as const, detail: 'lo up with 127.0.0.1, 1 of 1 storage servers reachable after 0.0 s' };

  it('lands signed, and the controller verifies it', async () => {
    const lines: string[] = [];
    const config = computeConfig();
    expect(await sendReport(config, fields, createLogger({ component: 'test', stream: { write: (l: string) => lines.push(l) }, level: 'debug' }))).toBe(true);
    const entry = await consul.api.kvGet('nova-ha/repair-reports/dev');
    const verdict = verifyReport(entry!.Value!, config.remediation.hmac_key, { host: 'dev', incident: fields.incident, requests: { 'restart-storage-network': ['nonce-1'] }, now: Date.now(), maxAge: 60_000 });
    expect(verdict).toMatchObject({ ok: true, report: { result: 'works', request: 'nonce-1' } });
    expect(lines.join('')).toContain('"repair-report-sent"');
    expect(lines.join('')).not.toContain(KEY);
  });

  it('that cannot be written is logged with its fix, and the handler goes on', async () => {
    const lines: string[] = [];
    const sent = await sendReport(computeConfig({ mgmt: 'http://127.0.0.1:9' }), fields, createLogger({ component: 'test', stream: { write: (l: string) => lines.push(l) }, level: 'debug' }));
    expect(sent).toBe(false);
    const failed = lines.map((l) => JSON.parse(l) as Record<string, string>).find((l) => l['event'] === 'repair-report-failed');
    expect(failed?.['fix']).toMatch(/waits out its repair_timeout instead/);
  });
});

describe("the controller's worker reads the report (a real Consul as the mgmt cluster)", () => {
  it('records a genuine report once, with the evidence; refuses and notes a forged one; each version judged once', async () => {
    const runtime = createRuntime(computeConfig(), 'test', silentLogger);
    const store = new IncidentStore(runtime.kv);
    const incident = { ...openIncident('cmp1', 'storage-network', 'its storage network is down', Date.now(), 'ctl1'), attempts: { 'restart-storage-network': Date.now() }, repairRequests: { 'restart-storage-network': ['n1'] } };
    await store.change('cmp1', () => incident);
    const lock = (await tryAcquire(runtime.clusters.mgmt, { key: runtime.kv.key('locks', 'cmp1'), holder: { node: 'ctl1', pid: process.pid, host: 'cmp1' } }))!;
    try {
      const judged = new Set<number>();
      const put = (payload: string) => consul.api.kvPut('nova-ha/repair-reports/cmp1', payload);
      const report = { node: 'cmp1', incident: incident.id, action: 'restart-storage-network', request: 'n1', result: 'still-broken' as const, detail: 'stor0 lowerlayerdown, 0 of 3 storage servers reachable after 5.0 s' };

      await put(signReport(report, new Secret('f'.repeat(64))));
      await collectRepairReport(runtime, 'cmp1', store, lock, judged);
      await collectRepairReport(runtime, 'cmp1', store, lock, judged);
      let stored = (await store.current('cmp1'))!.value;
      expect(stored.repairReports).toBeUndefined();
      expect(stored.timeline.filter((e) => e.step === 'repair-report').map((e) => [e.outcome, e.detail])).toEqual([['skipped', expect.stringMatching(/bad signature/)]]);

      await put(signReport(report, runtime.config.remediation.hmac_key));
      await collectRepairReport(runtime, 'cmp1', store, lock, judged);
      await put(signReport({ ...report, result: 'works', detail: 'a later, different word' }, runtime.config.remediation.hmac_key));
      await collectRepairReport(runtime, 'cmp1', store, lock, judged);
      stored = (await store.current('cmp1'))!.value;
      expect(stored.repairReports?.['restart-storage-network']).toMatchObject({ result: 'still-broken', detail: report.detail });
      expect(stored.timeline.filter((e) => e.step === 'repair-report').map((e) => e.outcome)).toEqual(['skipped', 'failed']);
    } finally {
      await lock.release();
    }
  });
});
