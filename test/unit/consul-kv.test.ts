/**
 * JSON documents in KV (systems/consul/kv.ts) over a simulated Consul: check-and-set updates
 * that retry only when another writer got in between and never write over it, reads that treat
 * a value not written by nova-ha as absent, and batches that land whole or fail loudly.
 * Against a real Consul: test/integration/consul-kv-batch.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { JsonKv, KvConflictError, KvWriteError } from '../../lib/systems/consul/kv.js';
import { consulError, FakeConsul } from '../support/fake-consul.js';

function kvOf(): { consul: FakeConsul; kv: JsonKv } {
  const consul = new FakeConsul('mgmt', 'ctl1');
  return { consul, kv: new JsonKv(consul.api, 'nova-ha') };
}

describe('JsonKv', () => {
  it('keys are under the prefix', () => {
    expect(kvOf().kv.key('incidents', 'cmp1')).toBe('nova-ha/incidents/cmp1');
  });

  it('reads a document with its modify index; a missing or foreign value reads as absent', async () => {
    const { consul, kv } = kvOf();
    await kv.write('nova-ha/a', { x: 1 });
    const read = await kv.read<{ x: number }>('nova-ha/a');
    expect(read).toEqual({ value: { x: 1 }, index: consul.peekEntry('nova-ha/a')!.ModifyIndex });
    expect(await kv.read('nova-ha/none')).toBeUndefined();
    await consul.kvPut('nova-ha/b', 'not json');
    expect(await kv.read('nova-ha/b')).toBeUndefined();
  });

  it('a folder: every document by the rest of its key, folders and foreign values left out', async () => {
    const { consul, kv } = kvOf();
    await kv.write('nova-ha/hosts/cmp1', 1);
    await kv.write('nova-ha/hosts/cmp2', 2);
    await consul.kvPut('nova-ha/hosts/', '');
    await consul.kvPut('nova-ha/hosts/bad', '{');
    await kv.write('nova-ha/hostsX', 3);
    const tree = await kv.tree<number>('nova-ha/hosts');
    expect([...tree].map(([k, v]) => [k, v.value])).toEqual([['cmp1', 1], ['cmp2', 2]]);
    expect(consul.calls('kvTree')).toEqual([['nova-ha/hosts/']]);
  });

  it("a folder's values alone: the same documents as the tree, without their versions", async () => {
    const { consul, kv } = kvOf();
    await kv.write('nova-ha/hosts/cmp1', { at: 1 });
    await kv.write('nova-ha/hosts/cmp2', null);
    await consul.kvPut('nova-ha/hosts/', '');
    await consul.kvPut('nova-ha/hosts/bad', '{');
    await kv.write('nova-ha/hostsX', 3);
    expect([...(await kv.values<unknown>('nova-ha/hosts/'))]).toEqual([['cmp1', { at: 1 }], ['cmp2', null]]);
    expect([...(await kv.tree<unknown>('nova-ha/hosts'))].map(([k, v]) => [k, v.value])).toEqual([['cmp1', { at: 1 }], ['cmp2', null]]);
    expect(consul.calls('kvTree')).toEqual([['nova-ha/hosts/'], ['nova-ha/hosts/']]);
  });

  it('write with cas: 0 only if absent, else only at the index read', async () => {
    const { kv } = kvOf();
    expect(await kv.write('nova-ha/a', 1, 0)).toBe(true);
    expect(await kv.write('nova-ha/a', 2, 0)).toBe(false);
    const { index } = (await kv.read('nova-ha/a'))!;
    expect(await kv.write('nova-ha/a', 3, index)).toBe(true);
    expect(await kv.write('nova-ha/a', 4, index)).toBe(false);
    expect((await kv.read('nova-ha/a'))!.value).toBe(3);
    expect(await kv.delete('nova-ha/a', index)).toBe(false);
    expect(await kv.delete('nova-ha/a')).toBe(true);
  });

  describe('update (read, change, check-and-set)', () => {
    it('writes the change at the index it read', async () => {
      const { consul, kv } = kvOf();
      await kv.write('nova-ha/a', { n: 1 });
      const index = consul.peekEntry('nova-ha/a')!.ModifyIndex;
      expect(await kv.update<{ n: number }>('nova-ha/a', (d) => ({ n: d!.n + 1 }))).toEqual({ n: 2 });
      expect(consul.calls('kvPut').at(-1)).toEqual(['nova-ha/a', '{"n":2}', { cas: index }]);
    });

    it('creates a document only if still absent (cas 0)', async () => {
      const { consul, kv } = kvOf();
      expect(await kv.update<number>('nova-ha/new', (d) => (d ?? 0) + 1)).toBe(1);
      expect(consul.calls('kvPut').at(-1)![2]).toEqual({ cas: 0 });
    });

    it('another writer in between: reads again and applies the change to what that writer wrote', async () => {
      const { consul, kv } = kvOf();
      await kv.write('nova-ha/a', ['first']);
      let raced = false;
      consul.before('kvPut', ([key]) => {
        if (key === 'nova-ha/a' && !raced) {
          raced = true;
          consul.seed('nova-ha/a', ['first', 'other writer']);
        }
      });
      expect(await kv.update<string[]>('nova-ha/a', (d) => [...d!, 'mine'])).toEqual(['first', 'other writer', 'mine']);
      expect(consul.peek('nova-ha/a')).toEqual(['first', 'other writer', 'mine']);
    });

    it('gives up with a named error when writers keep racing, never writing over them', async () => {
      const { consul, kv } = kvOf();
      await kv.write('nova-ha/a', 0);
      let n = 0;
      consul.before('kvPut', () => consul.seed('nova-ha/a', ++n * 100));
      await expect(kv.update<number>('nova-ha/a', (d) => d! + 1, 3)).rejects.toThrow(new KvConflictError('nova-ha/a: still changing after 3 check-and-set attempts; another writer keeps racing'));
      expect(consul.peek('nova-ha/a')).toBe(300);
      expect(consul.calls('kvPut').filter(([k]) => k === 'nova-ha/a')).toHaveLength(4);
    });

    it('a change that returns undefined writes nothing and gives the current value', async () => {
      const { consul, kv } = kvOf();
      await kv.write('nova-ha/a', 5);
      consul.journal.entries.length = 0;
      expect(await kv.update<number>('nova-ha/a', () => undefined)).toBe(5);
      expect(await kv.update<number>('nova-ha/none', () => undefined)).toBeUndefined();
      expect(consul.calls('kvPut')).toEqual([]);
    });
  });

  describe('writeAll', () => {
    it('packs changes into transactions of at most 64 operations, deletes included', async () => {
      const { consul, kv } = kvOf();
      await kv.writeAll(Array.from({ length: 130 }, (_, i) => ({ key: `nova-ha/h/${i}`, value: i })));
      expect(consul.calls('txn').map(([ops]) => (ops as unknown[]).length)).toEqual([64, 64, 2]);
      expect(consul.keys('nova-ha/h/')).toHaveLength(130);
      await kv.writeAll([{ key: 'nova-ha/h/0', value: undefined }, { key: 'nova-ha/h/1', value: undefined, cas: consul.peekEntry('nova-ha/h/1')!.ModifyIndex }, { key: 'nova-ha/h/2', value: 'x', cas: consul.peekEntry('nova-ha/h/2')!.ModifyIndex }]);
      expect((consul.calls('txn').at(-1)![0] as { verb: string }[]).map((op) => op.verb)).toEqual(['delete', 'delete-cas', 'cas']);
      expect(consul.keys('nova-ha/h/')).toHaveLength(128);
    });

    it('retries a transport failure and then lands', async () => {
      const { consul, kv } = kvOf();
      consul.failNext('txn', consulError(500, 'rpc error: EOF'));
      await kv.writeAll([{ key: 'nova-ha/a', value: 1 }], { minBackoffMs: 1 });
      expect(consul.peek('nova-ha/a')).toBe(1);
      expect(consul.calls('txn')).toHaveLength(2);
    });

    it('a refused check-and-set is not retried and fails with the count that did not land; a Consul that keeps failing fails after the attempts', async () => {
      const { consul, kv } = kvOf();
      await kv.write('nova-ha/a', 1);
      const error = await kv.writeAll([{ key: 'nova-ha/a', value: 2, cas: 1 }, { key: 'nova-ha/b', value: 1 }], { minBackoffMs: 1 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KvWriteError);
      expect(error).toMatchObject({ failed: 2, total: 2 });
      expect(consul.calls('txn')).toHaveLength(1);
      expect(consul.peek('nova-ha/b')).toBeUndefined();
      consul.down();
      const down = await kv.writeAll([{ key: 'nova-ha/c', value: 1 }], { attempts: 2, minBackoffMs: 1 }).catch((e: unknown) => e);
      expect((down as Error).message).toBe('1 of 1 KV writes failed after retries (HTTP 500: No cluster leader)');
      expect(consul.calls('txn')).toHaveLength(3);
    });
  });
});
