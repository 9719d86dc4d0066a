/**
 * The controllers' fence_kdump listener (recovery/kdump-listener.ts) over the simulated Consul
 * clusters: a message is matched to a compute by its source address in any cluster, recorded
 * only while that host is failed on every network, throttled per source, and every other case
 * logged and ignored with the reason an operator reads.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { NETWORKS } from '../../lib/decision/model.js';
import { hostByAddress, kdumpHandler, nextRecord } from '../../lib/recovery/kdump-listener.js';
import { KEYS, type KdumpRecord } from '../../lib/state/records.js';
import { FakeCloud } from '../support/fake-cloud.js';
import { consulError } from '../support/fake-consul.js';

/** A valid fence_kdump message (magic 0x1B302A40, version 1, little-endian). */
const MESSAGE = Buffer.from([0x40, 0x2a, 0x30, 0x1b, 0x01, 0x00, 0x00, 0x00]);
const ADDRESS = '198.18.1.101';
const T0 = 1_800_000_000_000;

let cloud: FakeCloud | undefined;
afterEach(() => cloud?.dispose());

/** A cloud whose cmp1 is registered with ADDRESS in every cluster and failed on every network (unless told otherwise). */
function setUp(config: ConstructorParameters<typeof FakeCloud>[0] = {}): FakeCloud {
  cloud = new FakeCloud(config);
  for (const n of NETWORKS) cloud.consul[n].node('cmp1', { address: ADDRESS, serfHealth: 'critical' });
  for (const n of NETWORKS) cloud.consul[n].node('cmp2', { address: '198.18.1.102' });
  cloud.journal.entries.length = 0;
  return cloud;
}

const stored = (c: FakeCloud, host = 'cmp1'): KdumpRecord | undefined => c.consul.mgmt.peek<KdumpRecord>(c.key(KEYS.kdump(host)));
const consulCalls = (c: FakeCloud): string[] => c.journal.entries.filter((e) => e.system.startsWith('consul:')).map((e) => `${e.system}.${e.method}`);

describe('kdump listener: which messages are recorded', () => {
  it('a valid message from a host failed on every network is recorded as the first of a dump, with who saw it, and logged as a dump in progress', async () => {
    const c = setUp();
    const outcome = await kdumpHandler(c.runtime)({ payload: MESSAGE, from: ADDRESS, at: T0 });
    const record = { from: ADDRESS, first: T0, last: T0, count: 1, by: 'ctl1' };
    expect(outcome).toEqual({ outcome: 'recorded', host: 'cmp1', record });
    expect(stored(c)).toEqual(record);
    const started = c.logs('kdump-started');
    expect(started).toEqual([expect.objectContaining({ level: 'info', step: 'kdump', host: 'cmp1', from: ADDRESS, detail: `fence_kdump message from cmp1 (${ADDRESS}), failed on every network: a crash dump is in progress` })]);
    expect(c.logs('kdump-message')).toEqual([]);
  });

  it('the next messages of the same dump add to the record and are logged at debug level with the count and the first message', async () => {
    const c = setUp();
    const handle = kdumpHandler(c.runtime);
    await handle({ payload: MESSAGE, from: ADDRESS, at: T0 });
    const second = await handle({ payload: MESSAGE, from: ADDRESS, at: T0 + 10_000 });
    expect(second).toEqual({ outcome: 'recorded', host: 'cmp1', record: { from: ADDRESS, first: T0, last: T0 + 10_000, count: 2, by: 'ctl1' } });
    expect(stored(c)).toMatchObject({ first: T0, last: T0 + 10_000, count: 2 });
    expect(c.logs('kdump-started')).toHaveLength(1);
    expect(c.logs('kdump-message')).toEqual([expect.objectContaining({ level: 'debug', host: 'cmp1', from: ADDRESS, detail: `message 2 since ${new Date(T0).toISOString()}` })]);
  });

  it('a message after a silence longer than [kdump] timeout starts a new dump', async () => {
    const c = setUp({ config: { kdump: { timeout: '60s' } } });
    const handle = kdumpHandler(c.runtime);
    await handle({ payload: MESSAGE, from: ADDRESS, at: T0 });
    expect((await handle({ payload: MESSAGE, from: ADDRESS, at: T0 + 60_000 }))).toMatchObject({ record: { first: T0, count: 2 } });
    expect((await handle({ payload: MESSAGE, from: ADDRESS, at: T0 + 120_001 }))).toMatchObject({ record: { first: T0 + 120_001, count: 1 } });
    expect(c.logs('kdump-started')).toHaveLength(2);
  });

  it('a payload that is not a fence_kdump message is discarded without asking Consul, and says why', async () => {
    const c = setUp();
    const outcome = await kdumpHandler(c.runtime)({ payload: Buffer.from('hello'), from: ADDRESS, at: T0 });
    expect(outcome).toEqual({ outcome: 'invalid', why: '5 bytes, not 8' });
    expect(consulCalls(c)).toEqual([]);
    expect(c.logs('kdump-discarded')).toEqual([expect.objectContaining({ level: 'debug', from: ADDRESS, detail: 'not a fence_kdump message: 5 bytes, not 8' })]);
    expect(stored(c)).toBeUndefined();
  });

  it('an address no compute is registered with is ignored and logged as a warning naming the address', async () => {
    const c = setUp();
    const outcome = await kdumpHandler(c.runtime)({ payload: MESSAGE, from: '203.0.113.9', at: T0 });
    expect(outcome).toEqual({ outcome: 'unknown-address' });
    expect(c.logs('kdump-ignored')).toEqual([expect.objectContaining({ level: 'warning', from: '203.0.113.9', detail: 'a fence_kdump message from 203.0.113.9, which no compute host is registered with in Consul; ignored' })]);
    expect(c.consul.mgmt.keys(c.key('kdump'))).toEqual([]);
  });

  it("a controller's address is not a compute's: ignored", async () => {
    const c = setUp();
    for (const n of NETWORKS) c.consul[n].node('ctl2', { address: '198.18.1.12', serfHealth: 'critical' });
    expect(await kdumpHandler(c.runtime)({ payload: MESSAGE, from: '198.18.1.12', at: T0 })).toEqual({ outcome: 'unknown-address' });
    expect(c.consul.mgmt.keys(c.key('kdump'))).toEqual([]);
  });

  it.each([
    ['alive on one network', { mgmt: 'passing' }, 'it is alive on mgmt'],
    ['a warning on storage', { storage: 'warning' }, 'it is warning on storage'],
    ['alive on two networks', { mgmt: 'passing', tenant: 'passing' }, 'it is alive on mgmt, alive on tenant'],
  ] as const)('a host %s is not dumping: ignored, with where it is not failed', async (_name, serf, why) => {
    const c = setUp();
    for (const [n, status] of Object.entries(serf)) c.consul[n as 'mgmt'].node('cmp1', { serfHealth: status });
    const outcome = await kdumpHandler(c.runtime)({ payload: MESSAGE, from: ADDRESS, at: T0 });
    expect(outcome).toEqual({ outcome: 'not-failed', host: 'cmp1', why });
    expect(c.logs('kdump-ignored')).toEqual([expect.objectContaining({ level: 'warning', host: 'cmp1', from: ADDRESS, detail: `a fence_kdump message from cmp1's address while ${why}; ignored (only a host failed on every network can be dumping)` })]);
    expect(stored(c)).toBeUndefined();
  });

  it('a host not registered in one cluster is not failed everywhere: ignored as "not registered" there', async () => {
    const c = setUp();
    c.consul.storage.nodes.get('cmp1')!.serfHealth = undefined;
    const outcome = await kdumpHandler(c.runtime)({ payload: MESSAGE, from: ADDRESS, at: T0 });
    expect(outcome).toEqual({ outcome: 'not-failed', host: 'cmp1', why: 'it is not registered on storage' });
    expect(stored(c)).toBeUndefined();
  });

  it("a host whose serfHealth is missing in one cluster is not failed there, whatever its other checks say", async () => {
    const c = setUp();
    // Only Consul's node maintenance check (critical) is left for it in storage.
    c.consul.storage.node('cmp1', { serfHealth: undefined, maintenance: true });
    expect(await kdumpHandler(c.runtime)({ payload: MESSAGE, from: ADDRESS, at: T0 })).toEqual({ outcome: 'not-failed', host: 'cmp1', why: 'it is not registered on storage' });
  });

  it('clusters that cannot be read: an error, logged with the fix, nothing recorded', async () => {
    const c = setUp();
    c.consul.tenant.failNext('catalogNodes', consulError(500, 'No cluster leader'));
    const outcome = await kdumpHandler(c.runtime)({ payload: MESSAGE, from: ADDRESS, at: T0 });
    expect(outcome).toEqual({ outcome: 'error', error: 'HTTP 500: No cluster leader' });
    expect(c.logs('kdump-ignored')).toEqual([expect.objectContaining({ level: 'error', from: ADDRESS, error: 'HTTP 500: No cluster leader', fix: 'the clusters could not be read; the next message is tried again' })]);
    expect(stored(c)).toBeUndefined();
  });

  it('a record that cannot be written: an error, logged as record-failed with the fix', async () => {
    const c = setUp();
    c.consul.mgmt.failNext('kvGet', consulError(500, 'rpc error: EOF'));
    const outcome = await kdumpHandler(c.runtime)({ payload: MESSAGE, from: ADDRESS, at: T0 });
    expect(outcome).toMatchObject({ outcome: 'error', error: expect.stringContaining('rpc error: EOF') });
    expect(c.logs('kdump-record-failed')).toEqual([expect.objectContaining({ level: 'error', host: 'cmp1', from: ADDRESS, error: expect.stringContaining('rpc error: EOF'), fix: 'the next message is recorded again' })]);
    expect(c.logs('kdump-started')).toEqual([]);
  });
});

describe('kdump listener: at most four lookups per source address and second', () => {
  it('a second message from the same address within 250 ms is throttled without asking Consul; at 250 ms it is looked up again', async () => {
    const c = setUp();
    const handle = kdumpHandler(c.runtime);
    await handle({ payload: MESSAGE, from: ADDRESS, at: T0 });
    const calls = consulCalls(c).length;
    expect(await handle({ payload: MESSAGE, from: ADDRESS, at: T0 + 249 })).toEqual({ outcome: 'throttled' });
    expect(consulCalls(c)).toHaveLength(calls);
    expect(await handle({ payload: MESSAGE, from: ADDRESS, at: T0 + 250 })).toMatchObject({ outcome: 'recorded', record: { count: 2, last: T0 + 250 } });
  });

  it('the throttle counts from the last lookup, not the last message, and is kept per address', async () => {
    const c = setUp();
    const handle = kdumpHandler(c.runtime);
    await handle({ payload: MESSAGE, from: ADDRESS, at: T0 });
    expect(await handle({ payload: MESSAGE, from: ADDRESS, at: T0 + 200 })).toEqual({ outcome: 'throttled' });
    // 200 ms after the throttled message, but 400 ms after the lookup.
    expect(await handle({ payload: MESSAGE, from: ADDRESS, at: T0 + 400 })).toMatchObject({ outcome: 'recorded' });
    expect(await handle({ payload: MESSAGE, from: '198.18.1.102', at: T0 + 401 })).toEqual({ outcome: 'not-failed', host: 'cmp2', why: 'it is alive on mgmt, alive on storage, alive on tenant' });
  });

  it('an invalid payload does not use up the lookup of its address', async () => {
    const c = setUp();
    const handle = kdumpHandler(c.runtime);
    await handle({ payload: Buffer.from([1, 2]), from: ADDRESS, at: T0 });
    expect(await handle({ payload: MESSAGE, from: ADDRESS, at: T0 + 1 })).toMatchObject({ outcome: 'recorded' });
  });

  it('a lookup that failed still counts: the next message within 250 ms is throttled', async () => {
    const c = setUp();
    const handle = kdumpHandler(c.runtime);
    c.consul.mgmt.failNext('catalogNodes');
    expect((await handle({ payload: MESSAGE, from: ADDRESS, at: T0 })).outcome).toBe('error');
    expect(await handle({ payload: MESSAGE, from: ADDRESS, at: T0 + 100 })).toEqual({ outcome: 'throttled' });
  });
});

describe('hostByAddress', () => {
  it("finds a compute registered with the address in any one cluster and reads its serfHealth in each, by network", async () => {
    const c = setUp();
    c.consul.storage.node('cmp3', { address: '198.18.2.103' });
    c.consul.mgmt.node('cmp3', { serfHealth: 'critical' });
    c.consul.tenant.node('cmp3', { serfHealth: 'warning' });
    expect(await hostByAddress(c.runtime, '198.18.2.103')).toEqual({ host: 'cmp3', serf: { mgmt: 'critical', storage: 'passing', tenant: 'warning' } });
    expect(await hostByAddress(c.runtime, '198.18.9.9')).toBeUndefined();
  });

  it('asks each cluster for the health of the host found, not of another', async () => {
    const c = setUp();
    await hostByAddress(c.runtime, ADDRESS);
    expect(NETWORKS.map((n) => c.consul[n].calls('healthNode'))).toEqual([[['cmp1']], [['cmp1']], [['cmp1']]]);
  });
});

describe('nextRecord', () => {
  const first = nextRecord(undefined, ADDRESS, 1000, 'ctl1', 600_000);
  it.each([
    ['a message exactly the timeout after the last is the same dump', first, ADDRESS, 601_000, { first: 1000, last: 601_000, count: 2 }],
    ['one more millisecond is a new dump', first, ADDRESS, 601_001, { first: 601_001, last: 601_001, count: 1 }],
    ['another sender starts a new dump', first, '198.18.1.102', 2000, { from: '198.18.1.102', first: 2000, count: 1 }],
    ['an earlier message keeps the last one', { ...first, last: 5000 }, ADDRESS, 3000, { first: 1000, last: 5000, count: 2 }],
  ] as const)('%s', (_name, previous, from, at, expected) => {
    expect(nextRecord(previous, from, at, 'ctl2', 600_000)).toMatchObject({ ...expected, by: 'ctl2' });
  });
});
