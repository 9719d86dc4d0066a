/**
 * The storm record and its two emails (recovery/storm.ts): which hosts count as failing, what
 * the operators read when a storm begins and ends, and that only the controller whose
 * check-and-set wins tells them, once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { announceStorm, failingNow, stormBegan, stormEnded } from '../../lib/recovery/storm.js';
import type { Decision } from '../../lib/decision/policy.js';
import type { Snapshot } from '../../lib/decision/model.js';
import { openIncident, type Incident } from '../../lib/state/incident.js';
import { KEYS, type StormFlag } from '../../lib/state/records.js';
import { NOW, ago, cluster, host, type HostShape } from '../support/observations.js';
import { FakeCloud } from '../support/fake-cloud.js';

const hung: HostShape = { mgmt: 'failed', storage: 'failed', tenant: 'failed' };

describe('failingNow', () => {
  it.each([
    ['healthy', {}, false],
    ['mgmt failed', { mgmt: 'failed' }, true],
    ['storage failed', { storage: 'failed' }, true],
    ['tenant failed', { tenant: 'failed' }, true],
    ['a network unknown is not failing', { storage: 'unknown' }, false],
    ['Nova\'s API reports nova-compute down', { api: 'down' }, true],
    ['nova-compute dead on the node only', { node: 'down' }, false],
    ['failed but in maintenance', { ...hung, maintenance: 'on' }, false],
    ['failed, maintenance unknown', { ...hung, maintenance: 'unknown' }, true],
    ['failed and already fenced', { ...hung, incident: { phase: 'fenced' } }, false],
    ['failed and being fenced', { ...hung, incident: { phase: 'fencing' } }, true],
    ['failed, its incident unknown', { ...hung, incident: 'unknown' }, true],
    ['API down and fenced', { api: 'down', incident: { phase: 'fenced' } }, false],
  ] as const)('%s: %s', (_name, shape, expected) => {
    expect(failingNow(host(shape as HostShape))).toBe(expected);
  });
});

const decision = (over: Partial<Decision>): Decision => ({ action: 'fence', cause: 'node-unreachable', reason: 'why', ...over });
const running = (h: string, phase: Incident['phase'], since: number): Incident => ({ ...openIncident(h, 'storage-network', 'x', Date.parse('2026-11-25T09:00:00Z'), 'ctl1'), phase, phaseSince: since });

describe('stormBegan', () => {
  it('names each failing host, its incident and what is held, the incidents running, and what happens after', () => {
    const snapshot: Snapshot = {
      context: cluster({ hosts: 4 }),
      hosts: [host(hung, 'cmp1'), host({ ...hung, incident: { id: 'inc-2', phase: 'confirming' } }, 'cmp2'), host({}, 'cmp3'), host({ storage: 'failed', incident: 'unknown' }, 'cmp4'), host({ ...hung, incident: { phase: 'fenced' } }, 'cmp5')],
    };
    const decisions = new Map<string, Decision>([['cmp1', decision({ action: 'hold', guard: 'storm', reason: 'would fence cmp1' })], ['cmp2', decision({ action: 'wait', guard: 'confirming', reason: 'confirming' })], ['cmp3', decision({ action: 'none' })]]);
    const incidents = new Map([
      ['cmp6', running('cmp6', 'repairing', Date.parse('2026-11-25T09:10:00Z'))],
      ['cmp7', running('cmp7', 'held', 0)],
      ['cmp8', running('cmp8', 'fencing', Date.parse('2026-11-25T09:20:00Z'))],
      ['cmp9', running('cmp9', 'forcing-down', Date.parse('2026-11-25T09:30:00Z'))],
      ['cmpa', running('cmpa', 'evacuating', Date.parse('2026-11-25T09:40:00Z'))],
      ['cmpb', running('cmpb', 'fenced', 0)],
    ]);
    const n = stormBegan('storm: 3 hosts failed on the mgmt network (limit 1 of 4)', 1234, snapshot, decisions, incidents, 1);
    expect({ ...n, reason: undefined }).toEqual({ host: 'cluster', event: 'storm', occurrence: '1234', summary: 'many hosts failing at once', action: 'new repairs and fences held while it lasts', reason: undefined, timeline: [] });
    expect(n.reason.split('\n')).toEqual([
      'storm: 3 hosts failed on the mgmt network (limit 1 of 4).',
      'Hosts failing now:',
      '  cmp1: HELD by the storm: would fence cmp1',
      '  cmp2 (incident inc-2, phase confirming): wait: confirming',
      '  cmp4: not decided',
      'Incidents already running (a fence under way is finished, never held):',
      `  cmp6: incident ${incidents.get('cmp6')!.id}, phase repairing since 2026-11-25T09:10:00.000Z (storage-network); it runs to its end`,
      `  cmp8: incident ${incidents.get('cmp8')!.id}, phase fencing since 2026-11-25T09:20:00.000Z (storage-network); it runs to its end`,
      `  cmp9: incident ${incidents.get('cmp9')!.id}, phase forcing-down since 2026-11-25T09:30:00.000Z (storage-network); it runs to its end`,
      `  cmpa: incident ${incidents.get('cmpa')!.id}, phase evacuating since 2026-11-25T09:40:00.000Z (storage-network); it runs to its end`,
      'When no more than 1 hosts are failing at once on any network, nova-ha acts on the held hosts by itself, each as its line says ("would ..."), after confirming its failure again; an email says when. Meanwhile look for the common cause (a switch, a power feed, the message bus), or stop everything with: nova-ha pause',
    ]);
  });

  it('with nothing running it says none; with the incidents unreadable it says so', () => {
    const snapshot: Snapshot = { context: cluster(), hosts: [] };
    expect(stormBegan('s', 1, snapshot, new Map(), new Map([['cmp7', running('cmp7', 'held', 0)]]), 2).reason.split('\n').slice(1, 4)).toEqual(['Hosts failing now:', 'Incidents already running (a fence under way is finished, never held):', '  none']);
    expect(stormBegan('s', 1, snapshot, new Map(), 'unknown', 2).reason.split('\n')[3]).toBe('  (incidents could not be read)');
  });
});

describe('stormEnded', () => {
  const flag: StormFlag = { since: NOW - 90_400, by: 'ctl2', detail: 'storm: 3 hosts failed on the storage network (limit 1 of 4)' };
  it('says how long it lasted and what nova-ha does now about each host still failing', () => {
    const snapshot: Snapshot = { context: cluster(), hosts: [host({ storage: 'failed', since: { storage: ago(60) } }, 'cmp1'), host({}, 'cmp2')] };
    const n = stormEnded(flag, snapshot, new Map([['cmp1', decision({ action: 'repair', reason: 'restart its storage network' })]]), NOW);
    expect({ ...n, reason: undefined }).toEqual({ host: 'cluster', event: 'storm-ended', occurrence: String(flag.since), summary: 'storm over', action: 'acting on held hosts again', reason: undefined, timeline: [] });
    expect(n.reason.split('\n')).toEqual([
      'The storm that began at 2026-11-25T09:58:29.600Z (storm: 3 hosts failed on the storage network (limit 1 of 4)) is over after 90 s: no more hosts are failing at once than the limit allows.',
      'Hosts still failing, and what nova-ha does about each now:',
      '  cmp1: repair: restart its storage network',
    ]);
  });
  it('with no host failing it says so', () => {
    expect(stormEnded(flag, { context: cluster(), hosts: [host({}, 'cmp1')] }, new Map(), NOW).reason.split('\n').slice(1)).toEqual(['No host is failing now.']);
  });
});

describe('announceStorm', () => {
  let cloud: FakeCloud | undefined;
  afterEach(() => cloud?.dispose());
  function cloudOf(...args: ConstructorParameters<typeof FakeCloud>): FakeCloud {
    cloud = new FakeCloud(...args);
    return cloud;
  }
  const snapshot: Snapshot = { context: cluster({ hosts: 4 }), hosts: [host(hung, 'cmp1'), host(hung, 'cmp2')] };
  const held = new Map<string, Decision>([['cmp1', decision({ action: 'hold', guard: 'storm' })], ['cmp2', decision({ action: 'hold', guard: 'storm' })]]);
  const flagOf = (c: FakeCloud): StormFlag | undefined => c.consul.mgmt.peek<StormFlag>(c.key(KEYS.storm));

  it('a storm holding a host begins the record and sends one email; a second controller sends none', async () => {
    const c = cloudOf();
    const other = new FakeCloud({ sameCloudAs: c, node: 'ctl2' });
    try {
      await announceStorm(c.runtime, 'storm: x', snapshot, held, new Map());
      await announceStorm(other.runtime, 'storm: x', snapshot, held, new Map());
      expect(flagOf(c)).toEqual({ since: NOW, by: 'ctl1', detail: 'storm: x' });
      expect(c.notes.map((n) => [n.event, n.occurrence])).toEqual([['storm', String(NOW)]]);
      expect(c.notes[0]!.reason).toContain('When no more than 1 hosts are failing');
      expect(other.notes).toEqual([]);
      expect(c.logs('storm-began')).toEqual([expect.objectContaining({ detail: 'storm: x', level: 'warning', step: 'storm' })]);
      expect(c.journal.of('consul:mgmt', 'kvPut').map((e) => e.args[2])).toEqual([{ cas: 0 }]);
    } finally {
      other.dispose();
    }
  });

  it('no record and no email while no host is held by the storm yet (failures still being confirmed)', async () => {
    const c = cloudOf();
    await announceStorm(c.runtime, 'storm: x', snapshot, new Map([['cmp1', decision({ action: 'wait', guard: 'confirming' })]]), new Map());
    expect(flagOf(c)).toBeUndefined();
    expect(c.notes).toEqual([]);
  });

  it('a controller that loses the check-and-set to begin it sends nothing', async () => {
    const c = cloudOf();
    c.consul.mgmt.before('kvPut', () => c.consul.mgmt.seed(c.key(KEYS.storm), { since: 1, by: 'ctl3', detail: 'theirs' }));
    await announceStorm(c.runtime, 'storm: x', snapshot, held, new Map());
    expect(flagOf(c)).toEqual({ since: 1, by: 'ctl3', detail: 'theirs' });
    expect(c.notes).toEqual([]);
    expect(c.logs('storm-began')).toEqual([]);
  });

  it('the end is written over the record with check-and-set, with who ended it, and told once', async () => {
    const c = cloudOf();
    const begun: StormFlag = { since: NOW - 60_000, by: 'ctl2', detail: 'storm: y' };
    c.consul.mgmt.seed(c.key(KEYS.storm), begun);
    const index = c.consul.mgmt.peekEntry(c.key(KEYS.storm))!.ModifyIndex;
    await announceStorm(c.runtime, undefined, snapshot, new Map(), new Map());
    expect(flagOf(c)).toEqual({ ...begun, endedAt: NOW, endedBy: 'ctl1' });
    expect(c.journal.of('consul:mgmt', 'kvPut').map((e) => e.args[2])).toEqual([{ cas: index }]);
    expect(c.notes.map((n) => [n.event, n.occurrence])).toEqual([['storm-ended', String(begun.since)]]);
    expect(c.notes[0]!.reason).toMatch(/^The storm that began at .* \(storm: y\) is over after 60 s/);
    expect(c.logs('storm-ended')).toEqual([expect.objectContaining({ detail: 'storm: y', lasted_ms: 60_000, level: 'info', step: 'storm' })]);
    // Ended: nothing more to say while calm.
    await announceStorm(c.runtime, undefined, snapshot, new Map(), new Map());
    expect(c.notes).toHaveLength(1);
  });

  it('a controller that loses the check-and-set to end it sends nothing', async () => {
    const c = cloudOf();
    c.consul.mgmt.seed(c.key(KEYS.storm), { since: 1, by: 'ctl2', detail: 'y' });
    c.consul.mgmt.before('kvPut', () => c.consul.mgmt.seed(c.key(KEYS.storm), { since: 1, by: 'ctl2', detail: 'y', endedAt: 2, endedBy: 'ctl3' }));
    await announceStorm(c.runtime, undefined, snapshot, new Map(), new Map());
    expect(c.notes).toEqual([]);
    expect(c.logs('storm-ended')).toEqual([]);
  });

  it('a storm still on is not begun again; one that ended is begun anew over the old record', async () => {
    const c = cloudOf();
    c.consul.mgmt.seed(c.key(KEYS.storm), { since: 1, by: 'ctl2', detail: 'old' });
    await announceStorm(c.runtime, 'storm: x', snapshot, held, new Map());
    expect(c.notes).toEqual([]);
    expect(c.journal.of('consul:mgmt', 'kvPut')).toEqual([]);
    c.consul.mgmt.seed(c.key(KEYS.storm), { since: 1, by: 'ctl2', detail: 'old', endedAt: 5, endedBy: 'ctl2' });
    const index = c.consul.mgmt.peekEntry(c.key(KEYS.storm))!.ModifyIndex;
    await announceStorm(c.runtime, 'storm: x', snapshot, held, new Map());
    expect(flagOf(c)).toEqual({ since: NOW, by: 'ctl1', detail: 'storm: x' });
    expect(c.journal.of('consul:mgmt', 'kvPut').map((e) => e.args[2])).toEqual([{ cas: index }]);
    expect(c.notes.map((n) => n.event)).toEqual(['storm']);
  });
});
