/**
 * Incidents in KV (state/incident-store.ts, state/incident.ts) over a simulated Consul: one open
 * incident per host changed only with check-and-set, closed ones moved to a bounded history, and
 * the pure transitions a resumed worker relies on (lastOutcome).
 */
import { describe, expect, it } from 'vitest';
import { HISTORY_PER_HOST, IncidentStore } from '../../lib/state/incident-store.js';
import { lastOutcome, newIncidentId, openIncident, withPhase, withStep, type Incident } from '../../lib/state/incident.js';
import { JsonKv } from '../../lib/systems/consul/kv.js';
import { FakeConsul } from '../support/fake-consul.js';

const T0 = Date.parse('2026-11-25T09:59:48.123Z');
function storeOf(): { consul: FakeConsul; store: IncidentStore } {
  const consul = new FakeConsul('mgmt', 'ctl1');
  return { consul, store: new IncidentStore(new JsonKv(consul.api, 'nova-ha')) };
}

describe('incident transitions', () => {
  it('an incident ID is the host and the UTC second it opened', () => {
    expect(newIncidentId('cmp7', T0)).toBe('cmp7-20261125T095948Z');
  });

  it('opens detected, with the reason as its first timeline entry', () => {
    expect(openIncident('cmp1', 'storage-network', 'storage down', T0, 'ctl1')).toEqual({
      id: 'cmp1-20261125T095948Z', host: 'cmp1', cause: 'storage-network', phase: 'detected', phaseSince: T0, openedAt: T0, attempts: {}, fenceStarted: false, alerted: false, reason: 'storage down',
      timeline: [{ at: T0, step: 'detected', outcome: 'info', detail: 'storage down', by: 'ctl1' }],
    });
  });

  it('a phase change is a timeline entry; the same phase again changes nothing', () => {
    const opened = openIncident('cmp1', 'storage-network', 'x', T0, 'ctl1');
    const fencing = withPhase(opened, 'fencing', T0 + 5, 'ctl2', 'repair failed');
    expect([fencing.phase, fencing.phaseSince, fencing.timeline.at(-1)]).toEqual(['fencing', T0 + 5, { at: T0 + 5, step: 'phase fencing', outcome: 'info', by: 'ctl2', detail: 'repair failed' }]);
    expect(withPhase(fencing, 'fencing', T0 + 9, 'ctl3')).toBe(fencing);
    expect(withPhase(opened, 'held', T0, 'ctl1').timeline.at(-1)).toEqual({ at: T0, step: 'phase held', outcome: 'info', by: 'ctl1' });
  });

  it('lastOutcome: the latest entry of a step, whatever came after', () => {
    let incident: Incident = openIncident('cmp1', 'storage-network', 'x', T0, 'ctl1');
    expect(lastOutcome(incident, 'power-off')).toBeUndefined();
    incident = withStep(incident, { at: 1, step: 'power-off', outcome: 'started', by: 'a' });
    incident = withStep(incident, { at: 2, step: 'force-down', outcome: 'started', by: 'a' });
    expect(lastOutcome(incident, 'power-off')).toBe('started');
    incident = withStep(incident, { at: 3, step: 'power-off', outcome: 'done', by: 'a' });
    expect(lastOutcome(incident, 'power-off')).toBe('done');
    expect(lastOutcome(incident, 'detected')).toBe('info');
  });
});

describe('IncidentStore', () => {
  it('changes the open incident with check-and-set, and reads it back', async () => {
    const { consul, store } = storeOf();
    const opened = await store.change('cmp1', (current) => current ?? openIncident('cmp1', 'storage-network', 'x', T0, 'ctl1'));
    expect(consul.calls('kvPut').at(-1)).toEqual(['nova-ha/incidents/cmp1', JSON.stringify(opened), { cas: 0 }]);
    const held = await store.change('cmp1', (current) => withPhase(current!, 'held', T0 + 1, 'ctl1'));
    expect((await store.current('cmp1'))?.value).toEqual(held);
    expect(await store.change('cmp2', () => undefined)).toBeUndefined();
    expect(consul.peek('nova-ha/incidents/cmp2')).toBeUndefined();
  });

  it('a writer that read before another wrote does not overwrite it', async () => {
    const { consul, store } = storeOf();
    await store.change('cmp1', () => openIncident('cmp1', 'storage-network', 'x', T0, 'ctl1'));
    let raced = false;
    consul.before('kvPut', () => {
      if (raced) return;
      raced = true;
      consul.seed('nova-ha/incidents/cmp1', withStep(consul.peek<Incident>('nova-ha/incidents/cmp1')!, { at: 5, step: 'other', outcome: 'info', by: 'ctl2' }));
    });
    const after = await store.change('cmp1', (i) => withStep(i!, { at: 6, step: 'mine', outcome: 'info', by: 'ctl1' }));
    expect(after!.timeline.map((e) => e.step)).toEqual(['detected', 'other', 'mine']);
  });

  it('archive moves a closed incident to the history; the host has no open incident afterwards', async () => {
    const { consul, store } = storeOf();
    const opened = (await store.change('cmp1', () => openIncident('cmp1', 'storage-network', 'x', T0, 'ctl1')))!;
    const closed = { ...withPhase(opened, 'recovered', T0 + 10, 'ctl1'), closedAt: T0 + 10 };
    await store.archive(closed);
    expect(await store.current('cmp1')).toBeUndefined();
    expect(consul.peek('nova-ha/history/cmp1/cmp1-20261125T095948Z')).toEqual(closed);
    expect(await store.history('cmp1')).toEqual([closed]);
    expect(await store.find(closed.id)).toEqual(closed);
  });

  it('archiving an older incident leaves a newer open one alone', async () => {
    const { store } = storeOf();
    const old = openIncident('cmp1', 'storage-network', 'x', T0, 'ctl1');
    const current = (await store.change('cmp1', () => openIncident('cmp1', 'mgmt-network', 'y', T0 + 60_000, 'ctl1')))!;
    await store.archive({ ...old, phase: 'recovered', closedAt: T0 + 1 });
    expect((await store.current('cmp1'))?.value).toEqual(current);
    expect(await store.find(current.id)).toEqual(current);
    expect(await store.find('cmp1-20200101T000000Z')).toBeUndefined();
  });

  it(`keeps the newest ${HISTORY_PER_HOST} closed incidents of each host`, async () => {
    const { consul, store } = storeOf();
    for (let i = 0; i < HISTORY_PER_HOST + 2; i++) await store.archive({ ...openIncident('cmp1', 'storage-network', 'x', T0 + i * 1000, 'ctl1'), phase: 'recovered' });
    await store.archive({ ...openIncident('cmp2', 'storage-network', 'x', T0, 'ctl1'), phase: 'recovered' });
    const kept = consul.keys('nova-ha/history/cmp1/');
    expect(kept).toHaveLength(HISTORY_PER_HOST);
    expect(kept[0]).toBe('nova-ha/history/cmp1/cmp1-20261125T095950Z');
    expect(consul.keys('nova-ha/history/cmp2/')).toHaveLength(1);
    const history = await store.history();
    expect(history).toHaveLength(HISTORY_PER_HOST + 1);
    expect(history[0]!.openedAt).toBeGreaterThan(history[1]!.openedAt);
  });

  it('open(): every host\'s open incident', async () => {
    const { store } = storeOf();
    await store.change('cmp1', () => openIncident('cmp1', 'storage-network', 'x', T0, 'ctl1'));
    await store.change('cmp2', () => openIncident('cmp2', 'mgmt-network', 'x', T0, 'ctl1'));
    expect((await store.open()).map((i) => i.host).sort()).toEqual(['cmp1', 'cmp2']);
  });
});
