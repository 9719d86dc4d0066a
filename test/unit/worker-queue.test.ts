/**
 * The cap on workers per controller and their queue (lib/shared/slots.ts,
 * lib/recovery/worker-queue.ts, lib/recovery/worker-pool.ts): never more holders than slots, also
 * across processes; a dead holder frees its slot; hosts come out most urgent first, once each.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { Slots } from '../../lib/shared/slots.js';
import { processStartedAt } from '../../lib/shared/proc.js';
import { urgency, WorkerQueue } from '../../lib/recovery/worker-queue.js';
import { workQueue } from '../../lib/recovery/worker-pool.js';
import type { Decision } from '../../lib/decision/policy.js';
import type { Incident } from '../../lib/state/incident.js';
import type { Runtime } from '../../lib/recovery/runtime.js';
import { silentLogger } from '../../lib/shared/log.js';

const root = mkdtempSync(join(tmpdir(), 'nova-ha-workers-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const dir = (): string => join(root, String(n++));

describe('Slots', () => {
  it('gives out at most size slots, and a released one again', () => {
    const slots = new Slots(dir(), 2);
    const a = slots.claim();
    const b = slots.claim();
    expect([a?.slot, b?.slot]).toEqual([0, 1]);
    expect(slots.claim()).toBeUndefined();
    expect(slots.busy()).toBe(2);
    a!.release();
    expect(slots.busy()).toBe(1);
    expect(slots.claim()?.slot).toBe(0);
    // Every slot keeps one small file: claims and releases do not pile up.
    expect(readdirSync(slots.directory).sort()).toEqual(['0.3', '1.1']);
  });

  it('frees the slot of a holder that died', () => {
    const slots = new Slots(dir(), 1);
    const child = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    const pid = Number(child.stdout.trim());
    expect(processStartedAt(pid)).toBeUndefined();
    slots.claim()!;
    // Make the newest claim of slot 0 look like it came from the dead process.
    writeFileSync(join(slots.directory, '0.2'), `${pid} 12345`);
    expect(slots.busy()).toBe(0);
    expect(slots.claim()?.slot).toBe(0);
  });

  it('lets exactly size of many processes hold a slot at once', { timeout: 90_000 }, async () => {
    const bundle = join(root, 'slots.mjs');
    await build({ entryPoints: [new URL('../../lib/shared/slots.ts', import.meta.url).pathname], bundle: true, platform: 'node', format: 'esm', outfile: bundle, logLevel: 'silent' });
    const slotsDir = dir();
    const done = join(root, `done-${n}`);
    // Each holds what it got until every one has answered: none can give a slot back early.
    const script = `import { existsSync } from 'node:fs'; import { Slots } from ${JSON.stringify(bundle)}; const held = new Slots(${JSON.stringify(slotsDir)}, 3).claim(); process.stdout.write(String(held !== undefined)); while (!existsSync(${JSON.stringify(done)})) await new Promise((r) => setTimeout(r, 50));`;
    const children = Array.from({ length: 8 }, () => spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const answers = await Promise.all(children.map((c) => new Promise<string>((resolve) => c.stdout.once('data', (d: Buffer) => resolve(d.toString())))));
    writeFileSync(done, '');
    await Promise.all(children.map((c) => new Promise((resolve) => (c.exitCode === null ? c.once('exit', resolve) : resolve(undefined)))));
    expect(answers.filter((a) => a === 'true')).toHaveLength(3);
  });
});

const decision = (action: Decision['action']): Decision => ({ action, cause: 'node-unreachable', reason: 'test' });
const incident = (over: Partial<Incident>): Incident => ({ id: 'cmp1-x', host: 'cmp1', cause: 'node-unreachable', phase: 'confirming', phaseSince: 0, openedAt: 0, attempts: {}, fenceStarted: false, alerted: false, reason: 'r', timeline: [], ...over });

describe('WorkerQueue', () => {
  it('orders by urgency: a fence under way, new fences, repairs, closing, confirming, draining, alerts', () => {
    expect(urgency(decision('fence'), incident({ phase: 'evacuating', fenceStarted: true }))).toBe(0);
    expect(urgency(decision('fence'), incident({}))).toBe(1);
    expect([decision('repair'), decision('close'), decision('wait'), decision('drain'), decision('alert'), decision('hold')].map((d) => urgency(d, undefined))).toEqual([2, 3, 4, 5, 6, 6]);
  });

  it('hands out each queued host once, most urgent first; queuing again moves a host', () => {
    const queue = new WorkerQueue(dir(), 4);
    expect(queue.enqueue([{ host: 'cmp3', urgency: 4 }, { host: 'cmp1', urgency: 4 }, { host: 'cmp9', urgency: 1 }])).toBe(3);
    expect(queue.enqueue([{ host: 'cmp1', urgency: 0 }])).toBe(3);
    expect([queue.take(), queue.take(), queue.take(), queue.take()]).toEqual(['cmp1', 'cmp9', 'cmp3', undefined]);
  });

  it('drops entries no evaluation renewed for minutes', () => {
    const stateDir = dir();
    const queue = new WorkerQueue(stateDir, 4);
    queue.enqueue([{ host: 'old', urgency: 0 }, { host: 'new', urgency: 1 }]);
    const long = new Date(Date.now() - 10 * 60_000);
    utimesSync(join(stateDir, 'workers', 'queue', '0-old'), long, long);
    expect(queue.take()).toBe('new');
    expect(queue.length).toBe(0);
  });
});

describe('workQueue', () => {
  const runtime = { logger: silentLogger, notifier: { flush: async () => undefined }, config: { notifications: { retry_for: 1000 } } } as unknown as Runtime;

  it('works every queued host in order in one process, then gives its slot back', async () => {
    const queue = new WorkerQueue(dir(), 1);
    queue.enqueue([{ host: 'b', urgency: 2 }, { host: 'a', urgency: 0 }]);
    const seen: string[] = [];
    // Started for the most urgent host, as the dispatcher starts it.
    const run = await workQueue(runtime, {} as never, queue, { node: 'ctl1', startedAt: 0 }, queue.peek(1)[0]!, async (_r, _e, host) => {
      seen.push(host);
      // Queued while this worker runs: it is taken too, by this same worker.
      if (host === 'a') queue.enqueue([{ host: 'c', urgency: 1 }]);
      return 'done';
    });
    expect(seen).toEqual(['a', 'c', 'b']);
    expect(run.gotSlot).toBe(true);
    expect(queue.freeSlots()).toBe(1);
  });

  it('flushes the emails for [notifications] retry_for once, after every host is worked', async () => {
    const queue = new WorkerQueue(dir(), 1);
    queue.enqueue([{ host: 'a', urgency: 0 }, { host: 'b', urgency: 1 }]);
    const events: string[] = [];
    const flushing = { ...runtime, notifier: { flush: async (ms: number) => void events.push(`flush ${ms}`) } } as unknown as Runtime;
    await workQueue(flushing, {} as never, queue, { node: 'ctl1', startedAt: 0 }, 'a', async (_r, _e, host) => (events.push(host), 'done'));
    expect(events).toEqual(['a', 'b', 'flush 1000']);
  });

  it('does nothing without a free slot: the holder works the queue', async () => {
    const queue = new WorkerQueue(dir(), 1);
    const holder = queue.claimSlot()!;
    queue.enqueue([{ host: 'a', urgency: 0 }]);
    const run = await workQueue(runtime, {} as never, queue, { node: 'ctl1', startedAt: 0 }, 'a', async () => 'done');
    expect(run).toEqual({ hosts: new Map(), gotSlot: false });
    expect(queue.peek(5)).toEqual(['a']);
    holder.release();
  });

  it('works the host it was started for even when no longer queued, and takes it out of the queue when it is', async () => {
    const queue = new WorkerQueue(dir(), 1);
    queue.enqueue([{ host: 'a', urgency: 0 }, { host: 'b', urgency: 5 }]);
    const seen: string[] = [];
    await workQueue(runtime, {} as never, queue, { node: 'ctl1', startedAt: 0 }, 'b', async (_r, _e, host) => {
      seen.push(host);
      return 'done';
    });
    expect(seen).toEqual(['b', 'a']);
    const manual: string[] = [];
    await workQueue(runtime, {} as never, queue, { node: 'ctl1', startedAt: 0 }, 'z', async (_r, _e, host) => {
      manual.push(host);
      return 'done';
    });
    expect(manual).toEqual(['z']);
    expect(queue.length).toBe(0);
  });
});
