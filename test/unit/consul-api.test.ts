/**
 * What nova-ha's Consul client puts on the wire, read by a small HTTP server on 127.0.0.1 that
 * records every request: every read of state the policy acts on asks for a consistent read (the
 * leader's view, never one agent's possibly stale one: invariant 2), and writes carry their
 * check-and-set and lock conditions. A real Consul cannot show whether a read was consistent.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulApi, TxnRefusedError } from '../../lib/systems/consul/api.js';
import { connect } from '../../lib/systems/consul/connect.js';
import { Secret } from '../../lib/shared/secret.js';

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: string;
}

const seen: Seen[] = [];
let reply: (request: Seen) => { status: number; body: unknown } = () => ({ status: 200, body: [] });
let server: Server;
let api: ConsulApi;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const request = { method: req.method ?? '', path: decodeURIComponent(url.pathname), query: url.searchParams, body };
      seen.push(request);
      const { status, body: out } = reply(request);
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(out));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  api = new ConsulApi(connect({ url: new URL(`http://127.0.0.1:${port}`), token: new Secret('') }, 5000));
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function last(call: () => Promise<unknown>): Promise<Seen> {
  seen.length = 0;
  await call();
  expect(seen).toHaveLength(1);
  return seen[0]!;
}

describe('consistent reads', () => {
  it.each([
    ['the catalog', () => api.catalogNodes(), '/v1/catalog/nodes'],
    ['health checks', () => api.healthChecks('CheckID == "serfHealth"'), '/v1/health/state/any'],
    ['one KV key', () => api.kvGet('nova-ha/incidents/cmp1'), '/v1/kv/nova-ha/incidents/cmp1'],
    ['a KV folder', () => api.kvTree('nova-ha/incidents/'), '/v1/kv/nova-ha/incidents/'],
    ['a session', () => api.sessionInfo('s1'), '/v1/session/info/s1'],
  ] as const)('%s is read from the leader (?consistent)', async (_what, call, path) => {
    reply = () => ({ status: 200, body: [] });
    const request = await last(call);
    expect(request.path).toBe(path);
    expect(request.query.has('consistent')).toBe(true);
    expect(request.query.has('stale')).toBe(false);
  });

  it('the health filter is passed on', async () => {
    const request = await last(() => api.healthChecks('CheckID == "serfHealth"'));
    expect(request.query.get('filter')).toBe('CheckID == "serfHealth"');
  });

  it('a folder is read recursively', async () => {
    const request = await last(() => api.kvTree('nova-ha/hosts/'));
    expect(request.query.has('recurse')).toBe(true);
  });

  it("a folder's values come back decoded from Consul's base64, one entry at a time, a folder key's null kept", async () => {
    const b64 = (text: string): string => Buffer.from(text).toString('base64');
    reply = () => ({ status: 200, body: [{ Key: 'nova-ha/hosts/', Value: null, ModifyIndex: 1, CreateIndex: 1, LockIndex: 0 }, { Key: 'nova-ha/hosts/cmp1', Value: b64('{"at":1,"by":"ctl1 ü"}'), ModifyIndex: 7, CreateIndex: 2, LockIndex: 0, Session: 's1' }] });
    const entries = [...(await api.kvTree('nova-ha/hosts/'))];
    expect(entries).toEqual([
      { Key: 'nova-ha/hosts/', Value: null, ModifyIndex: 1, CreateIndex: 1, LockIndex: 0 },
      { Key: 'nova-ha/hosts/cmp1', Value: '{"at":1,"by":"ctl1 ü"}', ModifyIndex: 7, CreateIndex: 2, LockIndex: 0, Session: 's1' },
    ]);
  });

  it('a folder Consul has nothing under (404) is empty; an answer that is no list is an error', async () => {
    reply = () => ({ status: 404, body: '' });
    expect([...(await api.kvTree('nova-ha/locks/'))]).toEqual([]);
    reply = () => ({ status: 200, body: { Key: 'x' } });
    await expect(api.kvTree('nova-ha/locks/')).rejects.toThrow('Consul answered a read of nova-ha/locks/ with no list of entries');
    reply = () => ({ status: 200, body: [] });
  });
});

describe('writes and locks', () => {
  it('check-and-set, acquire and release reach Consul as its query parameters', async () => {
    reply = () => ({ status: 200, body: true });
    expect((await last(() => api.kvPut('k', 'v', { cas: 7 }))).query.get('cas')).toBe('7');
    expect((await last(() => api.kvPut('k', 'v', { cas: 0 }))).query.get('cas')).toBe('0');
    expect((await last(() => api.kvPut('k', 'v', { acquire: 's1' }))).query.get('acquire')).toBe('s1');
    expect((await last(() => api.kvPut('k', 'v', { release: 's1' }))).query.get('release')).toBe('s1');
    expect((await last(() => api.kvDelete('k', 9))).query.get('cas')).toBe('9');
  });

  it('a session is tied to the node checks, with its TTL, lock-delay and behaviour', async () => {
    reply = () => ({ status: 200, body: { ID: 'sess-1' } });
    const request = await last(() => api.sessionCreate({ name: 'nova-ha lock', ttl: '10s', lockDelay: '5s', nodeChecks: ['serfHealth'], behavior: 'release' }));
    expect(JSON.parse(request.body)).toMatchObject({ Name: 'nova-ha lock', TTL: '10s', LockDelay: '5s', Checks: ['serfHealth'], Behavior: 'release' });
  });

  it('a renewal of a session Consul no longer has is false, not an error', async () => {
    reply = () => ({ status: 404, body: 'Session id not found' });
    expect(await api.sessionRenew('gone')).toBe(false);
    reply = () => ({ status: 200, body: [{ ID: 's1' }] });
    expect(await api.sessionRenew('s1')).toBe(true);
    reply = () => ({ status: 500, body: 'rpc error' });
    await expect(api.sessionRenew('s1')).rejects.toThrow();
  });

  it('a transaction is sent whole, values base64, and a refused one says which key', async () => {
    reply = () => ({ status: 200, body: { Results: [] } });
    const request = await last(() => api.txn([{ verb: 'cas', key: 'a', value: '{"x":1}', index: 4 }, { verb: 'delete', key: 'b' }]));
    expect(JSON.parse(request.body)).toEqual([{ KV: { Verb: 'cas', Key: 'a', Value: Buffer.from('{"x":1}').toString('base64'), Index: 4 } }, { KV: { Verb: 'delete', Key: 'b' } }]);
    reply = () => ({ status: 409, body: { Errors: [{ OpIndex: 0, What: 'failed to set key "a", index is stale' }] } });
    await expect(api.txn([{ verb: 'cas', key: 'a', value: '1', index: 4 }])).rejects.toThrow(new TxnRefusedError('Consul refused the transaction: a: failed to set key "a", index is stale'));
    await expect(api.txn(Array.from({ length: 65 }, (_, i) => ({ verb: 'delete' as const, key: `k${i}` })))).rejects.toThrow(RangeError);
    seen.length = 0;
    await api.txn([]);
    expect(seen).toEqual([]);
  });
});
