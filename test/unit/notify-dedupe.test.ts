import { execFile } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createNotifier, dedupeKey, FileDedupeStore, SendError, type Channel, type Notification } from '../../lib/systems/notify/index.js';
import { captureLog, notificationSettings, Resources, tempDir } from './notify-helpers.js';

const resources = new Resources();
afterEach(() => resources.cleanup());

const WINDOW = 600_000;

function clock(start = 1_777_000_000_000): { now: () => number; advance(ms: number): void } {
  let now = start;
  return { now: () => now, advance: (ms) => void (now += ms) };
}

describe('FileDedupeStore', () => {
  it('grants a key once per window', async () => {
    const time = clock();
    const store = new FileDedupeStore(join(tempDir(resources), 'dedupe'), { now: time.now });
    expect(await store.claim('compute-1/mgmt-network-down', WINDOW)).toBe(true);
    time.advance(WINDOW - 1);
    expect(await store.claim('compute-1/mgmt-network-down', WINDOW)).toBe(false);
    expect(await store.claim('compute-2/mgmt-network-down', WINDOW)).toBe(true);
    expect(await store.claim('compute-1/recovered', WINDOW)).toBe(true);
    time.advance(1);
    expect(await store.claim('compute-1/mgmt-network-down', WINDOW)).toBe(true);
  });

  it('lets exactly one of many stores on the same directory win, again after each window', async () => {
    const time = clock();
    const dir = join(tempDir(resources), 'dedupe');
    const stores = Array.from({ length: 20 }, () => new FileDedupeStore(dir, { now: time.now }));
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(stores.map((s) => s.claim('compute-9/fenced', WINDOW)));
      expect(results.filter(Boolean)).toHaveLength(1);
      time.advance(WINDOW);
    }
  });

  it('lets exactly one of several processes win', { timeout: 60_000 }, async () => {
    const dir = join(tempDir(resources), 'dedupe');
    const script = join(tempDir(resources), 'claim.mts');
    const storeModule = new URL('../../lib/systems/notify/file-dedupe-store.ts', import.meta.url).href;
    writeFileSync(script, `import { FileDedupeStore } from ${JSON.stringify(storeModule)};\nprocess.stdout.write(String(await new FileDedupeStore(${JSON.stringify(dir)}).claim('compute-4/fenced', 600000)));\n`);
    const run = promisify(execFile);
    const outputs = await Promise.all(Array.from({ length: 6 }, () => run(process.execPath, ['--import', 'tsx', script], { cwd: process.cwd(), timeout: 15_000 })));
    expect(outputs.map((o) => o.stdout).sort()).toEqual(['false', 'false', 'false', 'false', 'false', 'true']);
  });

  it('gives up only its own claim on release', async () => {
    const time = clock();
    const dir = join(tempDir(resources), 'dedupe');
    const mine = new FileDedupeStore(dir, { now: time.now });
    const theirs = new FileDedupeStore(dir, { now: time.now });
    expect(await mine.claim('compute-1/fenced', WINDOW)).toBe(true);
    await theirs.release('compute-1/fenced');
    expect(await theirs.claim('compute-1/fenced', WINDOW)).toBe(false);
    await mine.release('compute-1/fenced');
    expect(await theirs.claim('compute-1/fenced', WINDOW)).toBe(true);
    expect(await mine.claim('compute-1/fenced', WINDOW)).toBe(false);
  });

  it('keeps one small private file per key and prunes keys long past their window', async () => {
    const time = clock();
    const dir = join(tempDir(resources), 'dedupe');
    const store = new FileDedupeStore(dir, { now: time.now, pruneAfterMs: 3_600_000 });
    for (let i = 0; i < 3; i++) {
      await store.claim('compute-1/fenced', WINDOW);
      await store.claim('compute-2/fenced', WINDOW);
      time.advance(WINDOW);
    }
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const files = readdirSync(dir);
    expect(files).toHaveLength(2);
    for (const file of files) {
      expect(file).toMatch(/^[0-9a-f]{32}\.3\.claim$/);
      expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
    }
    time.advance(3_600_001);
    await store.claim('compute-3/fenced', WINDOW);
    expect(readdirSync(dir)).toHaveLength(1);
  });

  it('fails with one line naming the directory when it cannot be created', async () => {
    const file = join(tempDir(resources), 'not-a-directory');
    writeFileSync(file, '');
    const store = new FileDedupeStore(join(file, 'dedupe'));
    await expect(store.claim('k', WINDOW)).rejects.toThrow(`notification dedupe directory ${join(file, 'dedupe')}: ENOTDIR; make it writable by the user the handlers run as (it lives under [DEFAULT] state_dir)`);
  });
});

describe('notifier dedupe', () => {
  const base: Notification = { host: 'compute-1', event: 'mgmt-network-down', summary: 'management network down', action: 'operators alerted', reason: 'r', incidentId: 'inc-1', timeline: [] };

  function recordingChannel(fail = false): Channel & { sent: Notification[] } {
    const sent: Notification[] = [];
    return {
      name: 'recording',
      sent,
      async send(n) {
        if (fail) throw new SendError('recording: refused', true);
        sent.push(n);
      },
    };
  }

  it('sends the same event for the same host once within the window, a different host or event again', async () => {
    const channel = recordingChannel();
    const log = captureLog();
    const notifier = createNotifier({ settings: notificationSettings({ dedupe_window: WINDOW }), logger: log.logger, channels: [channel], dedupe: new FileDedupeStore(join(tempDir(resources), 'dedupe')) });

    notifier.notify(base);
    notifier.notify({ ...base, reason: 'the same, reported by the periodic evaluation' });
    await notifier.flush(5000);
    notifier.notify(base);
    notifier.notify({ ...base, host: 'compute-2' });
    notifier.notify({ ...base, event: 'recovered' });
    await notifier.flush(5000);

    expect(channel.sent.map(dedupeKey).sort()).toEqual(['compute-1/mgmt-network-down/inc-1', 'compute-1/recovered/inc-1', 'compute-2/mgmt-network-down/inc-1']);
    expect(log.records('notify-deduped')).toHaveLength(2);
  });

  it('a later incident of the same host is news again: "recovered" twice within the window, one per incident', async () => {
    const channel = recordingChannel();
    const notifier = createNotifier({ settings: notificationSettings({ dedupe_window: WINDOW }), logger: captureLog().logger, channels: [channel], dedupe: new FileDedupeStore(join(tempDir(resources), 'dedupe')) });
    const recovered = { ...base, event: 'recovered', incidentId: 'compute-1-20261125T100000Z' };
    notifier.notify(recovered);
    notifier.notify({ ...recovered, reason: 'the same incident, from another controller' });
    await notifier.flush(5000);
    notifier.notify({ ...recovered, incidentId: 'compute-1-20261125T100500Z' });
    await notifier.flush(5000);
    expect(channel.sent.map((n) => n.incidentId)).toEqual(['compute-1-20261125T100000Z', 'compute-1-20261125T100500Z']);
  });

  it('releases the claim when nothing could be sent, so the next notification goes out', async () => {
    const failing = recordingChannel(true);
    const dedupe = new FileDedupeStore(join(tempDir(resources), 'dedupe'));
    const settings = notificationSettings({ dedupe_window: WINDOW });
    const first = createNotifier({ settings, logger: captureLog().logger, channels: [failing], dedupe });
    first.notify(base);
    await first.flush(5000);

    const working = recordingChannel();
    const second = createNotifier({ settings, logger: captureLog().logger, channels: [working], dedupe });
    second.notify(base);
    await second.flush(5000);
    expect(working.sent).toHaveLength(1);
  });

  it('sends anyway when the dedupe store is broken', async () => {
    const channel = recordingChannel();
    const log = captureLog();
    const broken = { claim: () => Promise.reject(new Error('dedupe store down')), release: () => Promise.resolve() };
    const notifier = createNotifier({ settings: notificationSettings({ dedupe_window: WINDOW }), logger: log.logger, channels: [channel], dedupe: broken });
    notifier.notify(base);
    await notifier.flush(5000);
    expect(channel.sent).toHaveLength(1);
    expect(log.records('notify-dedupe-unavailable')[0]).toMatchObject({ level: 'warning', host: 'compute-1', error: 'dedupe store down' });
  });
});
