/**
 * Storm alerts (issue 13, item 2) against a real Consul: one email when a hold begins and one
 * when it ends, however many controllers evaluate at once; the first names every failing host,
 * what is done about it, the incidents still running, and what happens when the storm ends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Snapshot } from '../../lib/decision/model.js';
import { decide, stormOf } from '../../lib/decision/policy.js';
import { announceStorm } from '../../lib/recovery/storm.js';
import type { Runtime } from '../../lib/recovery/runtime.js';
import type { Incident } from '../../lib/state/incident.js';
import { silentLogger } from '../../lib/shared/log.js';
import { JsonKv } from '../../lib/systems/consul/kv.js';
import type { Notification } from '../../lib/systems/notify/index.js';
import { SETTINGS, ago, cluster, host, NOW } from '../support/observations.js';
import { startDevConsul, type DevConsul } from '../support/consul-dev.js';

let consul: DevConsul;
beforeAll(async () => void (consul = await startDevConsul()), 30_000);
afterAll(async () => consul?.stop());

const settings = { ...SETTINGS, stormLimit: { percent: 25 } };
const hung = { mgmt: 'failed', storage: 'failed', tenant: 'failed' } as const;

function runtime(node: string, sent: Notification[]): Runtime {
  return { node, kv: new JsonKv(consul.api, 'storm-test'), logger: silentLogger, settings, notifier: { notify: (n: Notification) => void sent.push(n), flush: async () => ({ sent: 0, abandoned: 0 }), pending: 0 } } as unknown as Runtime;
}

function picture(failing: readonly string[]): Snapshot {
  const hosts = ['cmp1', 'cmp2', 'cmp3', 'cmp4'].map((name) => (failing.includes(name) ? host(hung, name) : name === 'cmp4' ? host({ incident: { id: 'cmp4-1', cause: 'storage-network', phase: 'evacuating', fenceStarted: true } }, 'cmp4') : host({}, name)));
  return { context: cluster({ hosts: 4, failed: { mgmt: failing.length, storage: failing.length, tenant: failing.length } }), hosts };
}

const running = new Map<string, Incident>([['cmp4', { id: 'cmp4-1', host: 'cmp4', cause: 'storage-network', phase: 'evacuating', phaseSince: ago(30), openedAt: ago(120), attempts: {}, fenceStarted: true, alerted: true, reason: 'storage down', timeline: [] }]]);

describe('storm alerts (a real Consul)', () => {
  it('three controllers at once: one email when the hold begins, one when it ends', async () => {
    const sent: Notification[] = [];
    const storming = picture(['cmp1', 'cmp2']);
    const storm = stormOf(storming.context, settings.stormLimit);
    expect(storm).toBeDefined();
    const decisions = new Map(storming.hosts.map((h) => [h.host, decide(h, storming.context, settings)]));
    await Promise.all(['ctl1', 'ctl2', 'ctl3'].map((node) => announceStorm(runtime(node, sent), storm, storming, decisions, running)));
    await announceStorm(runtime('ctl1', sent), storm, storming, decisions, running);
    expect(sent.map((n) => n.event)).toEqual(['storm']);
    const began = sent[0]!;
    expect(began.reason).toMatch(/^ {2}cmp1: HELD by the storm: storm: 2 hosts failed/m);
    expect(began.reason).toMatch(/^ {2}cmp2: HELD by the storm/m);
    expect(began.reason).toMatch(/^ {2}cmp4: incident cmp4-1, phase evacuating since .* it runs to its end$/m);
    expect(began.reason).toMatch(/When no more than 1 hosts are failing at once on any network, nova-ha acts on the held hosts by itself/);

    const calm = picture(['cmp1']);
    const calmDecisions = new Map(calm.hosts.map((h) => [h.host, decide(h, calm.context, settings)]));
    await Promise.all(['ctl1', 'ctl2', 'ctl3'].map((node) => announceStorm(runtime(node, sent), undefined, calm, calmDecisions, running)));
    expect(sent.map((n) => n.event)).toEqual(['storm', 'storm-ended']);
    expect(sent[1]!.reason).toMatch(/^ {2}cmp1: fence: /m);
    expect(sent[1]!.occurrence).toBe(began.occurrence);
  });

  it('no email while failures are still being confirmed: a hold has not begun', async () => {
    const sent: Notification[] = [];
    const fresh: Snapshot = { ...picture([]), hosts: ['cmp1', 'cmp2'].map((name) => host({ ...hung, netSince: NOW - 1000 }, name)), context: cluster({ hosts: 4, failed: { mgmt: 2, storage: 2, tenant: 2 } }) };
    const decisions = new Map(fresh.hosts.map((h) => [h.host, decide(h, fresh.context, settings)]));
    await announceStorm({ ...runtime('ctl1', sent), kv: new JsonKv(consul.api, 'storm-test-2') } as Runtime, stormOf(fresh.context, settings.stormLimit), fresh, decisions, new Map());
    expect(sent).toEqual([]);
  });
});
