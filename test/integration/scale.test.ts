/**
 * Issue 16 at N = 1,000 on real Consul servers (one per network, loopback), the hosts a
 * simulation of their agents (external catalog nodes with the agents' meta and checks,
 * test/support/consul-fleet.ts): every record the first evaluation after install writes (c), and
 * every record a mass failure of 5% writes (d), is in KV as written; the hosts needing a worker
 * are queued, not each given a process. And when Consul refuses the writes, the evaluation says
 * how many were lost and the evaluate check goes critical (design.md invariant 13).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../lib/config/load.js';
import { NETWORKS } from '../../lib/config/schema.js';
import { checkStatus, evaluate, type Evaluation } from '../../lib/recovery/evaluate.js';
import { createRuntime, type Runtime } from '../../lib/recovery/runtime.js';
import type { Dispatch } from '../../lib/recovery/spawn-worker.js';
import type { QueuedHost } from '../../lib/recovery/worker-queue.js';
import { silentLogger } from '../../lib/shared/log.js';
import { KEYS, type HostRecord } from '../../lib/state/records.js';
import { viewWrites } from '../../lib/state/views.js';
import { ConsulFleet } from '../support/consul-fleet.js';

const N = 1000;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function runtimeFor(fleet: ConsulFleet): Runtime {
  const dir = mkdtempSync(join(tmpdir(), 'nova-ha-scale-test-'));
  dirs.push(dir);
  const text = `[DEFAULT]\nrole = controller\nnode_name = ctl1\nstate_dir = ${dir}\nlog_file =\n[consul]\n${NETWORKS.map((n) => `${n}_address = ${fleet.clusters[n].httpAddr}`).join('\n')}\ntimeout = 30s\n[nova]\nauth_url = http://127.0.0.1:9/v3\nusername = x\npassword = y\n[policy]\nstartup_quiet_period = 0s\n[notifications]\nwebhook_url = http://127.0.0.1:9/hook\n[remediation]\nhmac_key = ${'k'.repeat(40)}\n`;
  const { config, problems } = parseConfig(text);
  if (!config) throw new Error(problems.map((p) => p.message).join('; '));
  return createRuntime(config as Config, 'test', silentLogger);
}

/** A dispatch that records what would go to workers, and starts none. */
function recorder(): { dispatch: Dispatch; queued: QueuedHost[] } {
  const queued: QueuedHost[] = [];
  return { queued, dispatch: (hosts) => (queued.push(...hosts), { queued: hosts.length, started: 0 }) };
}

/** Every record the evaluation wrote, compared with what KV holds now. */
async function expectRecordsInKv(runtime: Runtime, evaluation: Evaluation, failed: ReadonlySet<string>): Promise<number> {
  const inKv = await runtime.kv.tree<HostRecord>(runtime.kv.key(KEYS.hosts));
  let checked = 0;
  for (const host of evaluation.hosts.map((h) => h.host)) {
    const record = inKv.get(host)?.value;
    expect(record, host).toBeDefined();
    for (const network of NETWORKS) expect(record!.networks[network].state, `${host} ${network}`).toBe(failed.has(host) ? 'failed' : 'alive');
    checked++;
  }
  return checked;
}

describe(`evaluation at ${N} hosts (real Consul, simulated agents)`, () => {
  let fleet: ConsulFleet;
  let runtime: Runtime;
  beforeAll(async () => {
    fleet = await ConsulFleet.start();
    await fleet.register(N);
    runtime = runtimeFor(fleet);
    // The pollers' views as the pollers write them: every host on and up in Nova.
    const now = Date.now();
    await runtime.kv.writeAll([
      ...viewWrites(runtime.kv, 'power', { set: new Map(fleet.hosts.map((h) => [h, { state: 'on' as const, since: now }])), remove: [] }),
      ...viewWrites(runtime.kv, 'nova', { set: new Map(fleet.hosts.map((h, i) => [h, { id: `s${i}`, state: 'up' as const, since: now, status: 'enabled' as const, forcedDown: false }])), remove: [] }),
      { key: runtime.kv.key(KEYS.powerPoll), value: { at: now, by: 'ctl1' } },
      { key: runtime.kv.key(KEYS.novaPoll), value: { at: now, by: 'ctl1', api: 'up', schedulers: 'up' } },
    ]);
  }, 240_000);
  afterAll(async () => fleet?.stop());

  it('(c) the first evaluation after install writes every host record, and every one is in KV', async () => {
    const { dispatch, queued } = recorder();
    const result = await evaluate(runtime, { node: 'ctl1', startedAt: 0 }, dispatch, 'test');
    expect(result.isolatedOn).toEqual([]);
    expect(result.hosts).toHaveLength(N);
    expect([result.recordsWritten, result.recordsLost]).toEqual([N, 0]);
    expect(await expectRecordsInKv(runtime, result, new Set())).toBe(N);
    expect(queued).toEqual([]);
    expect(checkStatus(result).code).toBe(0);
    expect(await fleet.whole(), 'the leader reaped the simulated hosts during the test: run it again').toBe(true);
  }, 120_000);

  it('(d) a mass failure of 5% on every network: each failed host recorded in KV and queued for a worker', async () => {
    const failing = fleet.hosts.filter((_, i) => i % 20 === 7);
    for (const network of NETWORKS) await fleet.setSerfHealth(network, failing, 'critical');
    const { dispatch, queued } = recorder();
    const result = await evaluate(runtime, { node: 'ctl1', startedAt: 0 }, dispatch, 'test');
    expect([result.recordsWritten, result.recordsLost]).toEqual([failing.length, 0]);
    expect(await expectRecordsInKv(runtime, result, new Set(failing))).toBe(N);
    expect(queued.map((q) => q.host).sort()).toEqual(failing);
    expect(result.storm).toBeUndefined();
    expect(await fleet.whole(), 'the leader reaped the simulated hosts during the test: run it again').toBe(true);
    for (const network of NETWORKS) await fleet.setSerfHealth(network, failing, 'passing');
  }, 120_000);
});

describe('records Consul refuses', () => {
  let fleet: ConsulFleet;
  // Transactions of more than 4 KiB are refused: every batch of host records is. (Consul 1.8
  // takes the larger of txn_max_req_len and kv_max_value_size as the limit: both are lowered.)
  beforeAll(async () => {
    fleet = await ConsulFleet.start({ extraConfig: { limits: { txn_max_req_len: 4096, kv_max_value_size: 1024 } }, txnOps: 8 });
    await fleet.register(100);
  }, 240_000);
  afterAll(async () => fleet?.stop());

  it('are counted, fail the check with the count, and are tried again by the next evaluation', async () => {
    const runtime = runtimeFor(fleet);
    const result = await evaluate(runtime, { node: 'ctl1', startedAt: 0 }, recorder().dispatch, 'test');
    expect([result.recordsWritten, result.recordsLost]).toEqual([100, 100]);
    const status = checkStatus(result);
    expect(status.code).toBe(2);
    expect(status.output).toMatch(/^CRITICAL: 100 of 100 host records could not be written to Consul KV after retries/);
    expect((await runtime.kv.keys(runtime.kv.key(KEYS.hosts))).length).toBe(0);
    // Nothing was recorded, so nothing counts as known: the next evaluation writes every record again.
    const again = await evaluate(runtime, { node: 'ctl1', startedAt: 0 }, recorder().dispatch, 'test');
    expect([again.recordsWritten, again.recordsLost]).toEqual([100, 100]);
  }, 120_000);
});
