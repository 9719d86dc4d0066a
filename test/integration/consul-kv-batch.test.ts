/**
 * JsonKv.writeAll against a real Consul agent (dev mode, loopback): every change of a batch far
 * larger than one transaction lands; a refused check-and-set is reported with its count, never
 * dropped; a Consul that does not answer is a failure after the retries, not a silent success.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulApi } from '../../lib/systems/consul/api.js';
import { connect } from '../../lib/systems/consul/connect.js';
import { JsonKv, KvWriteError } from '../../lib/systems/consul/kv.js';
import { Secret } from '../../lib/shared/secret.js';
import { startDevConsul, type DevConsul } from '../support/consul-dev.js';

let consul: DevConsul;
beforeAll(async () => void (consul = await startDevConsul()), 30_000);
afterAll(async () => consul?.stop());

describe('JsonKv.writeAll (a real Consul)', () => {
  it('writes 1,000 documents in transactions of at most 64, and deletes them again', async () => {
    const kv = new JsonKv(consul.api, 'batch');
    const changes = Array.from({ length: 1000 }, (_, i) => ({ key: kv.key('hosts', `cmp${i}`), value: { i } }));
    await kv.writeAll(changes);
    const tree = await kv.tree<{ i: number }>(kv.key('hosts'));
    expect(tree.size).toBe(1000);
    expect(tree.get('cmp999')?.value).toEqual({ i: 999 });
    await kv.writeAll(changes.map((c) => ({ key: c.key, value: undefined })));
    expect((await kv.tree(kv.key('hosts'))).size).toBe(0);
  });

  it('reports a refused check-and-set with the count of writes that did not land', async () => {
    const kv = new JsonKv(consul.api, 'cas');
    await kv.write(kv.key('a'), 1);
    const stale = (await kv.read<number>(kv.key('a')))!.index;
    await kv.write(kv.key('a'), 2);
    const error = await kv.writeAll([{ key: kv.key('a'), value: 3, cas: stale }, { key: kv.key('b'), value: 1 }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KvWriteError);
    expect((error as KvWriteError).failed).toBe(2);
    expect((error as Error).message).toMatch(/2 of 2 KV writes failed.*cas\/a/);
    // All or nothing: the other write of the same transaction did not land either.
    expect(await kv.read(kv.key('b'))).toBeUndefined();
    expect((await kv.read<number>(kv.key('a')))!.value).toBe(2);
  });

  it('fails after its retries when Consul does not answer', async () => {
    const dead = new ConsulApi(connect({ url: new URL('http://127.0.0.1:9'), token: new Secret('') }, 500));
    const kv = new JsonKv(dead, 'x');
    const error = await kv.writeAll([{ key: 'x/a', value: 1 }], { attempts: 2, minBackoffMs: 10 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KvWriteError);
    expect((error as Error).message).toMatch(/1 of 1 KV writes failed after retries \(.*ECONNREFUSED/);
  });
});
