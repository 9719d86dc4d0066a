/**
 * The node's report on a repair (issue 15.4, issue 19), end to end with real Consul, Nova and
 * BMCs: a storage repair that cannot help (the link cut at the switch) is fenced within the
 * node's settle time of the repair, not after repair_timeout; one that helps is recovered and never
 * fenced; a forged or replayed report is refused and logged, and a node that sends none leaves
 * repair_timeout as it was (its request sent once more when the report is overdue); a repair
 * the node refuses is escalated at once.
 * Lab timings: repair_timeout 20 s, the nodes' settle_time 5 s (the default).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { novaHaLog } from '../../lab/nova-ha.js';
import { runDir } from '../../lab/topology.js';
import { signReport } from '../../lib/recovery/repair-request.js';
import { Secret } from '../../lib/shared/secret.js';
import type { Incident } from '../../lib/state/incident.js';
import { KEYS } from '../../lib/state/records.js';
import { scenarioLab } from './lab-context.js';
import { closedIncidents, configureNode, currentIncident, stepsOf, until } from '../../lab/scenario.js';

const env = scenarioLab({ fencing: 'ipmi' });
const SETTLE_MS = 5000;
const REPAIR_TIMEOUT_MS = 20_000;

const repairAt = (incident: Incident): number => incident.attempts['restart-storage-network']!;
const lastRequestAt = (incident: Incident): number => incident.timeline.filter((e) => e.step === 'restart-storage-network' && e.outcome === 'started').at(-1)!.at;
const fenceAt = (incident: Incident): number => incident.timeline.find((e) => e.step === 'power-off' && e.outcome === 'started')!.at;
const fenceStarted = (host: string) => until(`${host} fence started`, 120_000, () => currentIncident(env.ctx, host), (i) => i?.fenceStarted === true && i.timeline.some((e) => e.step === 'power-off'));
// A test that ends at the fence's start must let it finish: the reset after the test would race
// nova-ha's power-off (the host powered off under a reset that had just resumed its agents).
const untilFenced = (host: string) => until(`${host} fenced`, 180_000, () => currentIncident(env.ctx, host), (i) => i?.phase === 'fenced');
const repairSent = (host: string) => until(`${host} storage repair sent`, 90_000, () => currentIncident(env.ctx, host), (i) => i !== undefined && stepsOf(i).includes('restart-storage-network:done'), 200);
const logLines = (node: string): Record<string, unknown>[] => {
  try {
    return readFileSync(novaHaLog(env.lab.spec, node), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  } catch {
    return [];
  }
};

describe("the node's report on a storage repair", () => {
  it('cut at the switch: the repair runs, the node reports it cannot reach storage, and the fence starts within the settle time', async () => {
    env.touch('cmp1');
    await env.lab.cutLink('cmp1', 'storage', 'switch');
    const fencing = await fenceStarted('cmp1');
    const report = fencing!.repairReports?.['restart-storage-network'];
    expect(report?.result).toBe('still-broken');
    expect(report?.detail).toMatch(/^stor0 \S+.*, 0 of 3 storage servers reachable after [5-9]\.\d s$/);
    // The settle time, the node's connection attempts and the worker's one-second look, not
    // repair_timeout. A request whose report is overdue is sent once more (a Consul event lost,
    // or slow: one took 6 s to reach its node's handler on a loaded lab), and the answered one is
    // either: the fence comes at least the settle time after the first request and at most the
    // settle time and a few seconds after the last.
    expect(fenceAt(fencing!) - repairAt(fencing!)).toBeGreaterThanOrEqual(SETTLE_MS);
    expect(fenceAt(fencing!) - lastRequestAt(fencing!)).toBeLessThan(SETTLE_MS + 4000);
    expect(fenceAt(fencing!) - repairAt(fencing!)).toBeLessThan(REPAIR_TIMEOUT_MS);
    // The incident says why, in the node's words.
    expect(fencing!.timeline.some((e) => e.step === 'repair-report' && e.outcome === 'failed' && e.detail?.includes('0 of 3 storage servers reachable'))).toBe(true);
    expect(fencing!.timeline.some((e) => e.step === 'decision' && /ran but did not help: the node reports stor0/.test(e.detail ?? ''))).toBe(true);
    expect((await untilFenced('cmp1'))!.cause).toBe('storage-network');
  });

  it('cut on the host: the repair restores it, the node reports so, and the incident closes without a fence', async () => {
    const since = Date.now();
    env.touch('cmp2');
    await env.lab.cutLink('cmp2', 'storage', 'host');
    const [closed] = await until('recovered', 90_000, () => closedIncidents(env.ctx, 'cmp2'), (list) => list.some((i) => i.openedAt >= since - 1000));
    expect(closed!.phase).toBe('recovered');
    expect(closed!.repairReports?.['restart-storage-network']).toMatchObject({ result: 'works', detail: expect.stringMatching(/^stor0 up with \S+, [23] of 3 storage servers reachable/) });
    expect(stepsOf(closed!).some((s) => s.startsWith('power-off'))).toBe(false);
    expect(await env.lab.powerStatus('cmp2')).toBe('on');
  });

  it('a forged and a replayed report are refused and logged; a node that sends none is fenced after repair_timeout, as before', async () => {
    env.touch('cmp3');
    // cmp3's reports cannot reach Consul: nothing listens where its config now says its mgmt agent is.
    configureNode(env.lab, 'cmp3', { fencing: 'ipmi', overrides: { consul: { mgmt_address: 'http://127.0.0.1:9' } } });
    await env.lab.cutLink('cmp3', 'storage', 'switch');
    const repairing = await repairSent('cmp3');
    const nonce = repairing!.repairRequests!['restart-storage-network']!.at(-1)!;
    const key = new Secret(readFileSync(join(runDir(env.lab.spec), 'nova-ha-hmac.key'), 'utf8').trim());
    const write = (payload: string) => env.ctx.runtime.kv.api.kvPut(env.ctx.runtime.kv.key(KEYS.repairReport('cmp3')), payload);
    const fields = { node: 'cmp3', incident: repairing!.id, action: 'restart-storage-network', request: nonce, result: 'still-broken' as const, detail: 'forged: 0 of 3 storage servers reachable' };
    const refusals = (count: number) => until(`${count} refused reports in the incident`, 20_000, () => currentIncident(env.ctx, 'cmp3'), (i) => (i?.timeline.filter((e) => e.step === 'repair-report' && e.outcome === 'skipped').length ?? 0) >= count, 200);

    await write(signReport(fields, new Secret('f'.repeat(64))));
    const afterForged = await refusals(1);
    expect(afterForged!.timeline.find((e) => e.step === 'repair-report')!.detail).toMatch(/bad signature/);
    // Signed with the real key, but it answers another incident: a replay.
    await write(signReport({ ...fields, incident: 'cmp3-20261101T000000Z' }, key));
    const afterReplay = await refusals(2);
    expect(afterReplay!.timeline.filter((e) => e.step === 'repair-report').at(-1)!.detail).toMatch(/answers incident cmp3-20261101T000000Z, not the open incident/);
    expect(afterReplay!.repairReports).toBeUndefined();
    expect(afterReplay!.fenceStarted).toBe(false);
    const refusedLines = env.lab.controllers.flatMap(logLines).filter((l) => l['event'] === 'repair-report-refused' && l['host'] === 'cmp3');
    expect(refusedLines.map((l) => l['reason'])).toEqual(expect.arrayContaining([expect.stringMatching(/bad signature/), expect.stringMatching(/answers incident/)]));

    const fencing = await fenceStarted('cmp3');
    expect(fenceAt(fencing!) - repairAt(fencing!)).toBeGreaterThanOrEqual(REPAIR_TIMEOUT_MS);
    expect(fencing!.repairReports).toBeUndefined();
    // Its report overdue, the request was sent once more (events are best effort), and no third time.
    expect(fencing!.repairRequests!['restart-storage-network']).toHaveLength(2);
    expect(fencing!.timeline.filter((e) => e.step === 'restart-storage-network' && e.outcome === 'started').map((e) => e.detail ?? '')).toEqual(['', expect.stringMatching(/asked again/)]);
    expect(logLines('cmp3').some((l) => l['event'] === 'repair-report-failed' && l['incident'] === repairing!.id)).toBe(true);
    await untilFenced('cmp3');
  });

  it('a repair the node refuses (not allowed there) is escalated at once, with its reason', async () => {
    env.touch('cmp4');
    configureNode(env.lab, 'cmp4', { fencing: 'ipmi', overrides: { remediation: { restart_storage_network: '' } } });
    await env.lab.cutLink('cmp4', 'storage', 'switch');
    const fencing = await fenceStarted('cmp4');
    expect(fencing!.repairReports?.['restart-storage-network']).toMatchObject({ result: 'refused', detail: expect.stringMatching(/not allowed here/) });
    expect(fenceAt(fencing!) - repairAt(fencing!)).toBeLessThan(4000);
    await untilFenced('cmp4');
  });
});
