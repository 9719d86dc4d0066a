/**
 * Things that must not grow without bound: the handler run counters (lib/shared/run-counter.ts),
 * the email dedupe directory (FileDedupeStore's maxKeys), the dedupe claims in KV (pruned by
 * the evaluate check's hourly housekeeping), and a worker's BMC reads for a host that stays down
 * (PowerReads in lib/recovery/host-observer.ts).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { countRun, FOLD_AT, readRuns } from '../../lib/shared/run-counter.js';
import { FileDedupeStore } from '../../lib/systems/notify/index.js';
import { PowerReads } from '../../lib/recovery/host-observer.js';
import type { PowerState } from '../../lib/decision/model.js';
import { housekeeping } from '../../lib/recovery/housekeeping.js';
import type { Runtime } from '../../lib/recovery/runtime.js';
import { silentLogger } from '../../lib/shared/log.js';
import { pruneKvDedupe } from '../../lib/state/notify-dedupe.js';
import { KEYS } from '../../lib/state/records.js';
import { JsonKv } from '../../lib/systems/consul/kv.js';
import { FakeConsul } from '../support/fake-consul.js';

const root = mkdtempSync(join(tmpdir(), 'nova-ha-bounded-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('run counters', () => {
  it('count every run while their files stay below a few KiB', () => {
    const dir = join(root, 'runs');
    const runs = 2 * FOLD_AT + 17;
    for (let i = 0; i < runs; i++) countRun(dir, 'evaluate', true);
    countRun(dir, 'evaluate', false);
    const counts = readRuns(dir).runs.get('evaluate')!;
    expect(counts.ok).toBe(runs);
    expect(counts.error).toBe(1);
    expect(counts.lastOk).toBeGreaterThan(Date.now() - 60_000);
    for (const file of readdirSync(join(dir, 'handler-runs'))) expect(statSync(join(dir, 'handler-runs', file)).size, file).toBeLessThan(FOLD_AT);
  });
});

describe('FileDedupeStore', () => {
  it('keeps at most maxKeys keys, dropping those whose window ended first, never a live claim', async () => {
    let now = 1_777_000_000_000;
    const dir = join(root, 'dedupe');
    const store = new FileDedupeStore(dir, { now: () => now, maxKeys: 5 });
    for (let i = 0; i < 12; i++) {
      expect(await store.claim(`cmp${i}/fenced`, 1000)).toBe(true);
      now += 2000;
    }
    expect(readdirSync(dir).length).toBeLessThanOrEqual(6);
    // The newest claims are still there: they are not granted twice.
    now -= 2000;
    expect(await store.claim('cmp11/fenced', 5000)).toBe(false);
  });
});

describe('PowerReads', () => {
  it('reads a host that stays down ever less often, up to the poll interval, and at once when asked fresh', async () => {
    let now = 0;
    let reads = 0;
    let state: PowerState = 'on';
    const power = new PowerReads(async () => (reads++, state), 1000, 30_000, () => now);
    const readAt: number[] = [];
    for (now = 0; now <= 120_000; now += 500) {
      const before = reads;
      await power.state(false);
      if (reads > before) readAt.push(now);
    }
    // 1, 2, 4, 8, 16 s apart, then every 30 s: 8 reads in two minutes instead of 240.
    expect(readAt.slice(0, 7)).toEqual([0, 1000, 3000, 7000, 15_000, 31_000, 61_000]);
    expect(reads).toBe(8);
    const before = reads;
    await power.state(true);
    expect(reads).toBe(before + 1);
    // A change starts over at one second.
    state = 'off';
    now += 100;
    await power.state(true);
    now += 1000;
    await power.state(false);
    expect(reads).toBe(before + 3);
  });
});

describe('KV dedupe claims', () => {
  it('housekeeping deletes the claims a day past their window, once an hour per controller, and keeps the recent ones', async () => {
    const consul = new FakeConsul('mgmt', 'ctl1');
    const kv = new JsonKv(consul.api, 'nova-ha');
    const now = 1_777_000_000_000;
    const day = 24 * 3_600_000;
    consul.seed(kv.key(KEYS.notify('old')), { key: 'old', at: now - 2 * day, by: 'ctl1' });
    consul.seed(kv.key(KEYS.notify('recent')), { key: 'recent', at: now - 60_000, by: 'ctl2' });
    consul.seed(kv.key(KEYS.notify('garbled')), { key: 'garbled' });
    const stateDir = join(root, 'housekeeping');
    mkdirSync(stateDir);
    const runtime = { kv, stateDir, logger: silentLogger, config: { notifications: { dedupe_window: 3_600_000 } } } as unknown as Runtime;
    await housekeeping(runtime, now);
    expect(consul.keys(kv.key(KEYS.notifyAll))).toEqual([kv.key(KEYS.notify('recent'))]);
    // Within the hour: not even read.
    consul.seed(kv.key(KEYS.notify('old')), { key: 'old', at: now - 2 * day, by: 'ctl1' });
    consul.journal.entries.length = 0;
    await housekeeping(runtime, now + 60_000);
    expect(consul.journal.entries).toEqual([]);
    expect(await pruneKvDedupe(kv, day, now)).toBe(1);
  });
});
