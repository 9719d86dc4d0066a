import { describe, expect, it } from 'vitest';
import { FallbackDedupeStore } from '../../lib/state/notify-dedupe.js';
import { MemoryDedupeStore, type DedupeStore } from '../../lib/systems/notify/index.js';

const hanging: DedupeStore = { claim: () => new Promise(() => undefined), release: () => new Promise(() => undefined) };
const failing: DedupeStore = { claim: () => Promise.reject(new Error('HTTP 500: No cluster leader')), release: () => Promise.reject(new Error('x')) };

describe('FallbackDedupeStore', () => {
  it('uses the shared store while it answers', async () => {
    const primary = new MemoryDedupeStore();
    const store = new FallbackDedupeStore(primary, new MemoryDedupeStore(), 200);
    expect(await store.claim('ctl1/observer-isolated', 60_000)).toBe(true);
    expect(await primary.claim('ctl1/observer-isolated', 60_000)).toBe(false);
  });

  it.each([['hangs', hanging], ['fails', failing]])('dedupes locally when the shared store %s (an isolated controller)', async (_name, primary) => {
    const store = new FallbackDedupeStore(primary, new MemoryDedupeStore(), 100);
    expect(await store.claim('ctl1/observer-isolated', 60_000)).toBe(true);
    expect(await store.claim('ctl1/observer-isolated', 60_000)).toBe(false);
    await store.release('ctl1/observer-isolated');
  });
});
