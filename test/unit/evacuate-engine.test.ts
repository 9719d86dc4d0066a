/**
 * The evacuation engine's decisions against a simulated Nova (test/support/nova-sim.ts): what is
 * recorded before any call, how many calls go to Nova (bulk looks, never one read per instance
 * per look), the concurrency bound on calls in flight only, what a resumed run calls again and
 * what it never repeats, and the outcomes Nova's failures come to, Nova's fault message included.
 */
import { describe, expect, it } from 'vitest';
import { evacuateInstances, type EvacuationRun, type LookSchedule } from '../../lib/recovery/evacuate.js';
import type { InstanceOutcome } from '../../lib/state/incident.js';
import { silentLogger } from '../../lib/shared/log.js';
import { NovaSim } from '../support/nova-sim.js';

const FAST_LOOKS: LookSchedule = { firstMs: 40, nextMs: 20, growth: 1.25, maxMs: 40 };
const SETTINGS = { concurrency: 16, mode: 'opt-out' as const, selectKey: 'nova_ha_evacuate', priorityKey: 'nova_ha_priority', retries: 2, instanceTimeout: 5000 };

interface Harness {
  readonly run: EvacuationRun;
  /** Every write of the engine to the incident, in order: the instances each carried. */
  readonly writes: InstanceOutcome[][];
  /** The calls to Nova made before each write. */
  readonly callsBeforeWrite: number[];
  owner: boolean;
}

function harness(nova: NovaSim, options: { recorded?: readonly InstanceOutcome[]; settings?: Partial<typeof SETTINGS>; kind?: 'evacuation' | 'live-migration' } = {}): Harness {
  const h: Harness = {
    writes: [],
    callsBeforeWrite: [],
    owner: true,
    run: undefined as unknown as EvacuationRun,
  };
  (h as { run: EvacuationRun }).run = {
    kind: options.kind ?? 'evacuation',
    nova,
    host: 'cmp1',
    since: Date.now() - 60_000,
    settings: { ...SETTINGS, ...options.settings },
    log: silentLogger,
    recorded: options.recorded ?? [],
    record: async (batch) => {
      h.writes.push([...batch]);
      h.callsBeforeWrite.push(nova.calls.filter((c) => c.call === 'evacuation' || c.call === 'live-migration').length);
    },
    stillOwner: () => h.owner,
    looks: FAST_LOOKS,
  };
  return h;
}

const byId = (outcomes: readonly InstanceOutcome[]): Map<string, InstanceOutcome> => new Map(outcomes.map((o) => [o.id, o]));

describe('evacuation engine', () => {
  it('records the whole batch in one write before its first call, then evacuates 20 with a handful of reads', async () => {
    const nova = new NovaSim('cmp1', 20, { stopped: [3] });
    const h = harness(nova);
    const report = await evacuateInstances(h.run);

    expect(report.outcomes).toHaveLength(20);
    expect(report.outcomes.every((o) => o.outcome === 'evacuated' && o.to === 'cmp9')).toBe(true);
    // The first write holds every instance as about to be called for, and comes before any call.
    expect(h.callsBeforeWrite[0]).toBe(0);
    expect(h.writes[0]!.map((o) => o.outcome)).toEqual(Array(20).fill('evacuating'));
    expect(h.writes[0]!.every((o) => o.calledAt !== undefined)).toBe(true);
    // One call per instance, and no read of a single server: the looks list them all at once.
    expect(nova.callsOf('evacuation')).toHaveLength(20);
    expect(new Set(nova.callsOf('evacuation').map((c) => c.id)).size).toBe(20);
    expect(nova.callsOf('get')).toHaveLength(0);
    expect(nova.callsOf('list-host')).toHaveLength(1);
    expect(nova.callsOf('list-changed').length).toBe(report.looks);
    expect(report.looks).toBeLessThanOrEqual(6);
    // Each move's migration record is read once, at the end, for every instance together.
    expect(nova.callsOf('migrations')).toHaveLength(1);
    expect(byId(report.outcomes).get('vm-000')!.detail).toMatch(/^ACTIVE on cmp9, migration mig-vm-000-\d+ done$/);
    expect(byId(report.outcomes).get('vm-003')!.detail).toMatch(/^SHUTOFF on cmp9/);
    expect(report.calls).toEqual({ list: 1 + report.looks, get: 0, move: 20, migrations: 1 });
  });

  it('bounds the calls in flight, not the instances being confirmed: every call is made before the first rebuild ends', async () => {
    const nova = new NovaSim('cmp1', 12);
    nova.moveMs = 400;
    nova.postMs = 10;
    const h = harness(nova, { settings: { concurrency: 3 } });
    await evacuateInstances(h.run);
    expect(nova.maxInFlight).toBe(3);
    const calls = nova.callsOf('evacuation').map((c) => c.at);
    // 12 calls, 3 at a time, 10 ms each: all out long before the first 400 ms rebuild ends.
    expect(Math.max(...calls) - Math.min(...calls)).toBeLessThan(300);
  });

  it('does not mistake the instant between Nova\'s two last writes for a rolled-back move', async () => {
    const nova = new NovaSim('cmp1', 4);
    nova.hostLagMs = 120; // ACTIVE with no task, still on cmp1, for 120 ms: several looks see it
    const report = await evacuateInstances(harness(nova).run);
    expect(report.outcomes.map((o) => o.outcome)).toEqual(Array(4).fill('evacuated'));
  });

  it("carries Nova's fault message into a failed instance's outcome (No valid host)", async () => {
    const nova = new NovaSim('cmp1', 3);
    nova.endings.set('vm-001', { kind: 'no-valid-host' });
    const report = await evacuateInstances(harness(nova).run);
    const failed = byId(report.outcomes).get('vm-001')!;
    expect(failed.outcome).toBe('failed');
    expect(failed.fault).toBe('No valid host was found. There are not enough hosts available.');
    expect(failed.detail).toBe('ERROR on cmp1 after the evacuation: No valid host was found. There are not enough hosts available. (see: openstack server show vm-001)');
    expect(byId(report.outcomes).get('vm-000')!.outcome).toBe('evacuated');
  });

  it('reports a move Nova rolled back (its migration failed, the instance idle on the host) without waiting out the timeout', async () => {
    const nova = new NovaSim('cmp1', 2);
    nova.endings.set('vm-000', { kind: 'rolled-back' });
    const started = Date.now();
    const report = await evacuateInstances(harness(nova).run);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(byId(report.outcomes).get('vm-000')).toMatchObject({ outcome: 'failed', detail: expect.stringMatching(/^Nova gave the evacuation up \(migration mig-vm-000-\d+ failed\); it is still on cmp1/) });
  });

  it('reads by itself an instance a look misses (a Nova host whose clock is behind)', async () => {
    const nova = new NovaSim('cmp1', 3);
    nova.clockBehind.set('vm-002', 10 * 60_000);
    const report = await evacuateInstances(harness(nova).run);
    expect(report.outcomes.map((o) => o.outcome)).toEqual(Array(3).fill('evacuated'));
    expect(nova.callsOf('get').every((c) => c.id === 'vm-002')).toBe(true);
    expect(nova.callsOf('get').length).toBeGreaterThan(0);
  });

  it('retries a refused call after reading where the instance is, and records the refusal when retries run out', async () => {
    const nova = new NovaSim('cmp1', 2);
    nova.refuse.set('vm-000', 1);
    nova.refuse.set('vm-001', 9);
    const report = await evacuateInstances(harness(nova, { settings: { retries: 1 } }).run);
    expect(byId(report.outcomes).get('vm-000')!.outcome).toBe('evacuated');
    expect(byId(report.outcomes).get('vm-001')).toMatchObject({ outcome: 'failed', detail: expect.stringMatching(/^evacuation refused: sim: Nova refused/) });
    expect(nova.callsOf('evacuation').filter((c) => c.id === 'vm-001')).toHaveLength(2);
    expect(nova.callsOf('get').map((c) => c.id).sort()).toEqual(['vm-000', 'vm-001']);
  }, 10_000);

  it('resumed: never calls again an instance whose earlier call reached Nova; calls again one whose call never did', async () => {
    const nova = new NovaSim('cmp1', 4);
    // An earlier worker recorded vm-000..vm-002 as about to be called and died after calling
    // vm-000 only; vm-003 it had finished (moved) before.
    await nova.evacuate('vm-000', { fromHost: 'cmp1' });
    await nova.evacuate('vm-003', { fromHost: 'cmp1' });
    await new Promise((resolve) => setTimeout(resolve, 60));
    nova.calls.length = 0;
    const calledAt = Date.now() - 5000;
    const recorded: InstanceOutcome[] = [
      { id: 'vm-000', name: 'vm-000', outcome: 'evacuating', from: 'cmp1', calledAt },
      { id: 'vm-001', name: 'vm-001', outcome: 'evacuating', from: 'cmp1', calledAt },
      { id: 'vm-002', name: 'vm-002', outcome: 'evacuating', from: 'cmp1', calledAt },
      { id: 'vm-003', name: 'vm-003', outcome: 'evacuated', from: 'cmp1', to: 'cmp9', calledAt },
    ];
    const h = harness(nova, { recorded });
    const report = await evacuateInstances(h.run);
    expect(nova.callsOf('evacuation').map((c) => c.id).sort()).toEqual(['vm-001', 'vm-002']);
    expect(report.outcomes.map((o) => [o.id, o.outcome]).sort()).toEqual([['vm-000', 'evacuated'], ['vm-001', 'evacuated'], ['vm-002', 'evacuated'], ['vm-003', 'evacuated']]);
    // What an earlier run called for was checked with one read of the host's migrations, not one per instance.
    expect(nova.callsOf('migrations').length).toBeLessThanOrEqual(2);
    expect(nova.migrations.filter((m) => m.instanceUuid === 'vm-000')).toHaveLength(1);
  });

  it('calls Nova for nothing once the host lock is lost', async () => {
    const nova = new NovaSim('cmp1', 3);
    const h = harness(nova);
    h.owner = false;
    await expect(evacuateInstances(h.run)).rejects.toThrow(/lost the lock of cmp1 before calling Nova/);
    expect(nova.callsOf('evacuation')).toHaveLength(0);
    expect(h.writes).toHaveLength(0);
  });

  it('skips opted-out instances in the same write as the batch, and drains by live migration the same way', async () => {
    const nova = new NovaSim('cmp1', 3);
    nova.servers.get('vm-002')!.metadata['nova_ha_evacuate'] = 'false';
    const h = harness(nova, { kind: 'live-migration' });
    const report = await evacuateInstances(h.run);
    expect(h.writes[0]!.map((o) => [o.id, o.outcome])).toEqual([['vm-002', 'skipped'], ['vm-000', 'evacuating'], ['vm-001', 'evacuating']]);
    expect(byId(report.outcomes).get('vm-000')).toMatchObject({ outcome: 'live-migrated', to: 'cmp9', detail: expect.stringMatching(/migration .* completed$/) });
    expect(nova.callsOf('live-migration')).toHaveLength(2);
  });
});
