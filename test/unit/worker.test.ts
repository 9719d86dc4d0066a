/**
 * The worker's decisions (recovery/worker.ts) over a simulated cloud: it works on a host only
 * while it holds the host's lock, and two live workers exclude each other; it records the
 * decision, every repair before and after it is sent, and resends only a repair that was started
 * and never finished; it reads the BMC itself before deciding on a host that is down everywhere;
 * an isolated controller writes nothing; a host healthy again closes its incident.
 */
import { describe, expect, it } from 'vitest';
import { runWorker } from '../../lib/recovery/worker.js';
import { verifyRequest } from '../../lib/recovery/repair-request.js';
import { Secret } from '../../lib/shared/secret.js';
import { openIncident, withStep, type Incident } from '../../lib/state/incident.js';
import { KEYS } from '../../lib/state/records.js';
import { FakeCloud, HMAC_KEY, cloudsDisposedAfterEach } from '../support/fake-cloud.js';
import { expectInOrder } from '../support/journal.js';

const HOST = 'cmp1';
const cloudOf = cloudsDisposedAfterEach();

const work = (c: FakeCloud, effects = c.effects(), host = HOST) => runWorker(c.runtime, effects, host, c.observer, { pollMs: 10 });
const steps = (i: Incident | undefined): string[] => (i?.timeline ?? []).map((e) => `${e.step}:${e.outcome}`);
const incidentKey = (c: FakeCloud, host = HOST): string => c.key(KEYS.incident(host));
const lockKey = (c: FakeCloud, host = HOST): string => c.key(KEYS.lock(host));
/** Journal labels: calls as system.method, KV writes as "put KEY". */
const labels = (c: FakeCloud): string[] => c.journal.entries.map((e) => (e.method === 'kvPut' ? `put ${e.key}` : `${e.system}.${e.method}`));

describe('one actor per host', () => {
  it('a host whose lock another holds: busy, and nothing is read, written or done about it', async () => {
    const c = cloudOf();
    c.hung(HOST);
    const other = await c.consul.mgmt.sessionCreate({ name: 'other worker', ttl: '10s', lockDelay: '0s', nodeChecks: [], behavior: 'release' });
    await c.consul.mgmt.kvPut(lockKey(c), '{"node":"ctl2"}', { acquire: other });
    c.journal.entries.length = 0;
    expect(await work(c)).toBe('busy');
    expect(c.journal.entries.filter((e) => e.method === 'kvPut' && e.key !== lockKey(c))).toEqual([]);
    expect(c.journal.of('bmc')).toEqual([]);
    expect(c.incident(HOST)).toBeUndefined();
    // The session it made to try is not left behind.
    expect(c.consul.mgmt.sessionIds()).toEqual([other]);
  });

  it('two workers on two controllers at once: one works, the other is busy; every instance evacuated once', async () => {
    const one = cloudOf();
    const two = cloudOf({ node: 'ctl2', sameCloudAs: one });
    for (const id of ['vm1', 'vm2', 'vm3']) one.nova.server(id, HOST);
    one.hung(HOST);
    const outcomes = await Promise.all([work(one), work(two)]);
    expect(outcomes.sort()).toEqual(['busy', 'done']);
    expect(one.incident(HOST)?.phase).toBe('fenced');
    expect(one.nova.callCounts()).toEqual(new Map([['vm1', 1], ['vm2', 1], ['vm3', 1]]));
    expect(one.bmc.calls('powerOffVerified')).toHaveLength(1);
  });

  it('the lock is a session lock tied to the controller, held while working and released after', async () => {
    const c = cloudOf();
    c.hung(HOST);
    let during: ReturnType<typeof c.consul.mgmt.peekEntry>;
    c.bmc.powerOff.set(HOST, 'verifies');
    const effects = c.effects();
    const fence = effects.fence!;
    await work(c, { ...effects, fence: async (run) => ((during = c.consul.mgmt.peekEntry(lockKey(c))), fence(run)) });
    expect(during?.Session).toBeTruthy();
    expect(JSON.parse(during!.Value!)).toMatchObject({ node: 'ctl1', host: HOST, pid: process.pid });
    const [create] = c.consul.mgmt.calls('sessionCreate') as [{ nodeChecks: string[]; behavior: string; ttl: string }][];
    expect(create![0]).toMatchObject({ nodeChecks: ['serfHealth'], behavior: 'release', ttl: '10s' });
    expect(c.consul.mgmt.peekEntry(lockKey(c))?.Session).toBeUndefined();
    expect(c.consul.mgmt.sessionIds()).toEqual([]);
  });

  it('a controller that cannot create a session (its own node failing) does not work', async () => {
    const c = cloudOf();
    c.hung(HOST);
    c.consul.mgmt.node('ctl1', { serfHealth: 'critical' });
    await expect(work(c)).rejects.toThrow(/serfHealth/);
    expect(c.incident(HOST)).toBeUndefined();
    expect(c.journal.of('bmc')).toEqual([]);
  });
});

describe('fencing a host down everywhere', () => {
  it('reads the BMC itself before deciding, then fences through its effects', async () => {
    const c = cloudOf();
    c.nova.server('vm1', HOST);
    c.hung(HOST);
    expect(await work(c)).toBe('done');
    const incident = c.incident(HOST)!;
    expect(incident.phase).toBe('fenced');
    expect(incident.cause).toBe('node-unreachable');
    expectInOrder(labels(c), 'bmc.readPower', `put ${incidentKey(c)}`, 'bmc.powerOffVerified', 'nova.forceDownAndDisable', 'nova.evacuate');
    expect(steps(incident)).toEqual(expect.arrayContaining(['detected:info', 'decision:info', 'power-off:done']));
  });

  it('the BMC read now wins over the poller: a BMC that does not answer is power-unknown, alerted, never fenced', async () => {
    const c = cloudOf();
    c.hung(HOST);
    c.bmc.power.set(HOST, 'unknown');
    expect(await work(c)).toBe('done');
    const incident = c.incident(HOST)!;
    expect([incident.cause, incident.phase, incident.hold?.needsOperator]).toEqual(['power-unknown', 'held', false]);
    expect(c.bmc.calls('powerOffVerified')).toEqual([]);
    expect(c.journal.of('nova')).toEqual([]);
    expect(c.notes.map((n) => n.event)).toEqual(['power-unknown']);
  });

  it('powered off (not by nova-ha): powers it on, recorded before and after', async () => {
    const c = cloudOf();
    c.hung(HOST, 'off');
    // It comes back once powered on.
    c.bmc.powerOff.set(HOST, 'verifies');
    const effects = c.effects();
    await work(c, { ...effects, powerOn: async (host) => {
      await effects.powerOn!(host);
      c.member(host, 'passing');
    } });
    expectInOrder(labels(c), `put ${incidentKey(c)}`, 'bmc.powerOn', `put ${incidentKey(c)}`);
    const writes = c.incidentWrites(HOST);
    const started = writes.findIndex((i) => steps(i).includes('power-on:started'));
    expect(steps(writes[started]!).at(-1)).toBe('power-on:started');
    expect(writes[started]!.attempts['power-on']).toBeGreaterThan(0);
    expect(c.bmc.calls('powerOffVerified')).toEqual([]);
  });

  it('without a fence method on this controller: held for an operator, with an email, nothing powered off', async () => {
    const c = cloudOf();
    c.hung(HOST);
    const { fence: _fence, ...effects } = c.effects();
    expect(await work(c, effects)).toBe('done');
    const incident = c.incident(HOST)!;
    expect([incident.phase, incident.hold]).toEqual(['held', { reason: 'fencing needed but ctl1 has no fence method ([fencing] method = none)', needsOperator: true }]);
    expect(c.notes.map((n) => n.event)).toEqual(['needs-operator']);
    expect(c.bmc.calls('powerOffVerified')).toEqual([]);
  });

  it('a fence under way is resumed and finished even when the host looks healthy again, never powered on', async () => {
    const c = cloudOf();
    c.nova.server('vm1', HOST);
    c.bmc.power.set(HOST, 'off');
    c.consul.mgmt.seed(incidentKey(c), { ...withStep(openIncident(HOST, 'node-unreachable', 'hung', Date.now() - 60_000, 'ctl2'), { at: Date.now() - 50_000, step: 'power-off', outcome: 'started', by: 'ctl2' }), phase: 'fencing', fenceStarted: true });
    expect(await work(c)).toBe('done');
    expect(c.incident(HOST)!.phase).toBe('fenced');
    expect(c.bmc.calls('powerOn')).toEqual([]);
    expect(c.nova.callCounts()).toEqual(new Map([['vm1', 1]]));
  });
});

describe('repairs through Consul', () => {
  function storageDown(c: FakeCloud): void {
    c.member(HOST, 'critical', 'storage');
    c.heldSince(HOST);
  }

  it('sends a signed request addressed to the host, recorded before and after; the host recovers and the incident closes with an email', async () => {
    const c = cloudOf();
    storageDown(c);
    c.consul.mgmt.before('eventFire', () => c.member(HOST, 'passing', 'storage'));
    expect(await work(c)).toBe('done');
    expectInOrder(labels(c), `put ${incidentKey(c)}`, 'consul:mgmt.eventFire', `put ${incidentKey(c)}`);
    const [event] = c.consul.mgmt.events;
    expect(event).toMatchObject({ name: 'nova-ha-remediate', node: '^cmp1$' });
    // The first request clears the report key: anything in it afterwards answers this request.
    expect(c.consul.mgmt.calls('kvDelete').flat().filter((key) => String(key).includes('repair-reports'))).toHaveLength(1);
    const verdict = verifyRequest(event!.payload, new Secret(HMAC_KEY), { self: HOST, now: Date.now(), maxAge: 60_000, allowed: new Set(['restart-storage-network']) });
    expect(verdict).toMatchObject({ ok: true, request: { node: HOST, action: 'restart-storage-network' } });
    // The incident is closed and archived: the repair and its outcome in its timeline.
    expect(c.incident(HOST)).toBeUndefined();
    const [closed] = await c.store.history(HOST);
    expect(closed!.phase).toBe('recovered');
    expect(closed!.cause).toBe('storage-network');
    expectInOrder(steps(closed), 'restart-storage-network:started', 'restart-storage-network:done', 'phase recovered:info');
    expect((verdict as { request: { incident: string } }).request.incident).toBe(closed!.id);
    expect(c.notes.map((n) => n.event)).toEqual(['recovered']);
  });

  it('a request that could not be sent is recorded failed, not done', async () => {
    const c = cloudOf();
    storageDown(c);
    c.consul.mgmt.before('eventFire', () => c.member(HOST, 'passing', 'storage'));
    c.consul.mgmt.failNext('eventFire');
    await work(c);
    const [closed] = await c.store.history(HOST);
    expect(steps(closed)).toContain('restart-storage-network:failed');
    expect(steps(closed)).not.toContain('restart-storage-network:done');
    expect(c.logs('repair-failed')).toHaveLength(1);
  });

  it('a repair recorded started but not finished (the worker died) is sent again, once; one recorded done is not', async () => {
    for (const outcome of ['started', 'done'] as const) {
      const c = cloudOf();
      storageDown(c);
      // One clock reading: two could differ by a millisecond and break the equality below.
      const now = Date.now();
      const opened = openIncident(HOST, 'storage-network', 'storage down', now - 30_000, 'ctl2');
      // 8 s ago: before the node's report is due (settle time + grace), so a done request is not resent.
      c.consul.mgmt.seed(incidentKey(c), withStep({ ...opened, phase: 'repairing', attempts: { 'restart-storage-network': now - 8_000 } }, { at: now - 8_000, step: 'restart-storage-network', outcome, by: 'ctl2' }));
      c.consul.mgmt.before('eventFire', () => c.member(HOST, 'passing', 'storage'));
      if (outcome === 'done') c.consul.mgmt.before('kvTree', () => c.member(HOST, 'passing', 'storage'));
      await work(c);
      expect(c.consul.mgmt.events, outcome).toHaveLength(outcome === 'started' ? 1 : 0);
      const [closed] = await c.store.history(HOST);
      // The repair timeout counts from the first try: a resend keeps its time.
      expect(closed!.attempts['restart-storage-network']).toBe(now - 8_000);
      expect(c.logs('repair-resumed'), outcome).toHaveLength(outcome === 'started' ? 1 : 0);
    }
  });

  it('a request with no report when one is due is sent once more, with a new nonce; the first try keeps its time', async () => {
    const c = cloudOf();
    storageDown(c);
    const now = Date.now();
    const opened = openIncident(HOST, 'storage-network', 'storage down', now - 30_000, 'ctl2');
    const first = withStep({ ...opened, phase: 'repairing' as const, attempts: { 'restart-storage-network': now - 12_000 }, repairRequests: { 'restart-storage-network': ['nonce-of-the-first'] } }, { at: now - 12_000, step: 'restart-storage-network', outcome: 'done', by: 'ctl2' });
    c.consul.mgmt.seed(incidentKey(c), first);
    c.consul.mgmt.before('eventFire', () => c.member(HOST, 'passing', 'storage'));
    await work(c);
    expect(c.consul.mgmt.events).toHaveLength(1);
    const verdict = verifyRequest(c.consul.mgmt.events[0]!.payload, new Secret(HMAC_KEY), { self: HOST, now: Date.now(), maxAge: 60_000, allowed: new Set(['restart-storage-network']) });
    const [closed] = await c.store.history(HOST);
    expect(closed!.repairRequests!['restart-storage-network']).toEqual(['nonce-of-the-first', (verdict as { request: { nonce: string } }).request.nonce]);
    expect(closed!.attempts['restart-storage-network']).toBe(now - 12_000);
    expect(closed!.timeline.find((e) => e.step === 'restart-storage-network' && e.outcome === 'started' && e.at >= now)?.detail).toMatch(/asked again/);
    // A late answer to the first request still counts: the report key is left as it is.
    expect(c.consul.mgmt.calls('kvDelete').flat().filter((key) => String(key).includes('repair-reports'))).toEqual([]);
  });

  it('no third request: after the resend, only the repair timeout is left', async () => {
    const c = cloudOf();
    storageDown(c);
    const now = Date.now();
    const opened = openIncident(HOST, 'storage-network', 'storage down', now - 40_000, 'ctl2');
    c.consul.mgmt.seed(incidentKey(c), withStep({ ...opened, phase: 'repairing' as const, attempts: { 'restart-storage-network': now - 25_000 }, repairRequests: { 'restart-storage-network': ['first', 'second'] } }, { at: now - 14_000, step: 'restart-storage-network', outcome: 'done', by: 'ctl2' }));
    c.consul.mgmt.before('kvTree', () => c.member(HOST, 'passing', 'storage'));
    await work(c);
    expect(c.consul.mgmt.events).toHaveLength(0);
  });
});

describe('an isolated controller', () => {
  it('records nothing and does nothing (its view of the hosts cannot be trusted)', async () => {
    const c = cloudOf();
    c.member(HOST, 'critical', 'storage');
    c.consul.storage.node('ctl1', { serfHealth: 'critical' });
    expect(await work(c)).toBe('done');
    expect(c.journal.entries.filter((e) => e.method === 'kvPut' && e.key !== lockKey(c))).toEqual([]);
    expect(c.incident(HOST)).toBeUndefined();
    expect(c.consul.mgmt.events).toEqual([]);
  });

  it('a healthy controller records the host transitions it sees, with its decision as an evaluation records it', async () => {
    const c = cloudOf();
    c.member(HOST, 'critical', 'tenant');
    c.consul.mgmt.before('kvPut', ([key]) => {
      if (key === c.key(KEYS.host(HOST))) c.member(HOST, 'passing', 'tenant');
    });
    await work(c);
    const record = c.journal.of('consul:mgmt', 'kvPut').find((e) => e.key === c.key(KEYS.host(HOST)));
    expect(record?.value).toMatchObject({ networks: { tenant: { state: 'failed' }, mgmt: { state: 'alive' } }, by: 'ctl1', decision: { action: 'wait', cause: 'tenant-network', guard: 'confirming' } });
  });
});

describe('closing', () => {
  it('a failure that cleared within the confirmation window closes its incident silently', async () => {
    const c = cloudOf();
    c.consul.mgmt.seed(incidentKey(c), { ...openIncident(HOST, 'storage-network', 'storage down', Date.now() - 5000, 'ctl2'), phase: 'confirming' });
    expect(await work(c)).toBe('done');
    const [closed] = await c.store.history(HOST);
    expect([closed!.phase, closed!.closedAt! > 0]).toEqual(['recovered', true]);
    expect(c.notes).toEqual([]);
  });

  it('a healthy host with no incident: nothing written, nothing done', async () => {
    const c = cloudOf();
    c.heldSince(HOST);
    expect(await work(c)).toBe('done');
    expect(c.journal.entries.filter((e) => e.method === 'kvPut' && e.key !== lockKey(c))).toEqual([]);
    expect(c.notes).toEqual([]);
  });

  it('a host nova-ha no longer knows: gone', async () => {
    const c = cloudOf();
    expect(await work(c, c.effects(), 'cmp99')).toBe('gone');
  });
});
