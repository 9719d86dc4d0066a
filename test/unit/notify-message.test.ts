import { describe, expect, it } from 'vitest';
import { composeMessage, PAUSED_BANNER, webhookPayload, type Notification } from '../../lib/systems/notify/index.js';
import { Secret } from '../../lib/shared/secret.js';

const T0 = Date.UTC(2026, 4, 1, 10, 0, 0);

const fenced: Notification = {
  host: 'compute-12',
  event: 'evacuated',
  summary: 'hung or cut off (failed on every network, power on)',
  action: 'fenced, forced down, 2 of 3 instances evacuated',
  reason: 'failed on every network while its power is on (hung or cut off): fencing it and evacuating its instances',
  incidentId: 'inc-20260501-100000-compute-12',
  at: T0 + 95_000,
  timeline: [
    { at: T0 + 12_000, step: 'confirming', outcome: 'confirmed', detail: 'down on mgmt, storage, tenant for 10s', by: 'ctl2' },
    { at: T0, step: 'detected', outcome: 'failed on every network', by: 'ctl1' },
    { at: T0 + 14_000, step: 'fencing', outcome: 'power off verified', by: 'ctl1' },
    { at: T0 + 16_500, step: 'forcing-down', outcome: 'forced_down = true', by: 'ctl1' },
    { at: T0 + 95_000, step: 'evacuating', outcome: '2 of 3 evacuated', by: 'ctl1' },
  ],
  instances: [
    { id: '5d8f6a52-0000-4000-8000-000000000001', name: 'db-primary', outcome: 'evacuated', from: 'compute-12', to: 'compute-03' },
    { id: '5d8f6a52-0000-4000-8000-000000000002', name: 'web-1', outcome: 'evacuated', from: 'compute-12', to: 'compute-07' },
    { id: '5d8f6a52-0000-4000-8000-000000000003', name: 'batch-9', outcome: 'failed', from: 'compute-12' },
  ],
};

describe('composeMessage', () => {
  it('says in the subject which host, what happened and what was done', () => {
    const { subject } = composeMessage(fenced, { subjectPrefix: '[nova-ha]' });
    expect(subject).toBe('[nova-ha] compute-12: hung or cut off (failed on every network, power on) — fenced, forced down, 2 of 3 instances evacuated');
  });

  it('keeps the subject on one line even when a field spans lines', () => {
    const { subject } = composeMessage({ ...fenced, summary: 'management\nnetwork down', action: 'alerted;\r\nnot evacuated' }, { subjectPrefix: '[ha]' });
    expect(subject).toBe('[ha] compute-12: management network down — alerted; not evacuated');
  });

  it('puts the summary, the reason and where it stands at the top of the body', () => {
    const { body } = composeMessage(fenced, { subjectPrefix: '[nova-ha]', node: 'ctl1' });
    const lines = body.split('\n');
    expect(lines[0]).toBe('What happened: hung or cut off (failed on every network, power on)');
    expect(lines[1]).toBe('What was done: fenced, forced down, 2 of 3 instances evacuated');
    expect(body).toContain('Why:           failed on every network while its power is on (hung or cut\n               off): fencing it');
    expect(body).toContain('Host:          compute-12');
    expect(body).toContain('Event:         evacuated');
    expect(body).toContain('Incident:      inc-20260501-100000-compute-12');
    expect(body).toContain('When:          2026-05-01 10:01:35 UTC');
    expect(body).not.toContain(PAUSED_BANNER.slice(0, 20));
  });

  it('keeps a reason\'s own lines (a list of hosts): each wrapped by itself, under the field, indented as given', () => {
    const reason = 'storm: 2 hosts failed on the storage network (limit 1 of 4).\nHosts failing now:\n  cmp1 (incident cmp1-1, phase confirming): wait: its storage network is down for 3.7s; confirming for 4.0s before acting\n  cmp2: HELD by the storm';
    const { body } = composeMessage({ ...fenced, reason }, { subjectPrefix: '' });
    const lines = body.split('\n');
    const start = lines.findIndex((l) => l.startsWith('Why:'));
    expect(lines.slice(start, start + 6)).toEqual([
      'Why:           storm: 2 hosts failed on the storage network (limit 1 of 4).',
      '               Hosts failing now:',
      '                 cmp1 (incident cmp1-1, phase confirming): wait: its storage',
      '                   network is down for 3.7s; confirming for 4.0s before acting',
      '                 cmp2: HELD by the storm',
      'Host:          compute-12',
    ]);
  });

  it('lays the timeline out as a table in time order, with elapsed and step durations', () => {
    const { body } = composeMessage(fenced, { subjectPrefix: '[nova-ha]' });
    const table = body.split('\n').filter((l) => l.startsWith('  2026-05-01'));
    expect(table).toHaveLength(5);
    expect(table[0]).toMatch(/^ {2}2026-05-01 10:00:00 +\+0s +- +detected +failed on every network +ctl1$/);
    expect(table[1]).toMatch(/^ {2}2026-05-01 10:00:12 +\+12s +12s +confirming +confirmed +ctl2 +down on mgmt, storage, tenant for 10s$/);
    expect(table[2]).toMatch(/10:00:14 +\+14s +2\.0s +fencing +power off verified/);
    expect(table[3]).toMatch(/10:00:16 +\+17s +2\.5s +forcing-down +forced_down = true/);
    expect(table[4]).toMatch(/10:01:35 +\+1m35s +1m19s +evacuating +2 of 3 evacuated/);
    const header = body.split('\n').find((l) => l.includes('time (UTC)'));
    expect(header).toMatch(/time \(UTC\) +elapsed +took +step +outcome +by +detail/);
    // Columns line up: every row starts its step at the same position as the header.
    const stepColumn = header!.indexOf('step');
    for (const row of table) expect(row.slice(stepColumn)).toMatch(/^(detected|confirming|fencing|forcing-down|evacuating)/);
  });

  it('tabulates the instances with a tally of their outcomes', () => {
    const { body } = composeMessage(fenced, { subjectPrefix: '[nova-ha]' });
    expect(body).toContain('Instances (3: 2 evacuated, 1 failed)');
    expect(body).toMatch(/instance +name +outcome +from +to/);
    expect(body).toMatch(/5d8f6a52-0000-4000-8000-000000000001 +db-primary +evacuated +compute-12 +compute-03/);
    expect(body).toMatch(/5d8f6a52-0000-4000-8000-000000000003 +batch-9 +failed +compute-12 +-\n/);
  });

  it('says where each priority came from, as a last column, only when a source set one', () => {
    expect(composeMessage(fenced, { subjectPrefix: '[nova-ha]' }).body).not.toMatch(/ priority\n/);
    const withPriority: Notification = { ...fenced, instances: fenced.instances!.map((i, n) => (n === 0 ? { ...i, priority: 'priority 80 from image db-ha' } : i)) };
    const { body } = composeMessage(withPriority, { subjectPrefix: '[nova-ha]' });
    expect(body).toMatch(/instance +name +outcome +from +to +(why +)?priority\n/);
    expect(body).toMatch(/db-primary +evacuated +compute-12 +compute-03 +priority 80 from image db-ha\n/);
  });

  it("says why an instance failed, in Nova's words, and the exact command to try again", () => {
    const noRoom: Notification = {
      ...fenced,
      event: 'evacuation-failed',
      retry: 'nova-ha evacuate compute-12',
      instances: [
        fenced.instances![0]!,
        { id: '5d8f6a52-0000-4000-8000-000000000003', name: 'batch-9', outcome: 'failed', from: 'compute-12', detail: 'ERROR on compute-12 after the evacuation: No valid host was found. There are not enough hosts available. (see: openstack server show 5d8f6a52-0000-4000-8000-000000000003)' },
      ],
    };
    const { body } = composeMessage(noRoom, { subjectPrefix: '[nova-ha]' });
    expect(body).toMatch(/instance +name +outcome +from +to +why/);
    expect(body).toMatch(/batch-9 +failed +compute-12 +- +ERROR on compute-12 after the evacuation: No valid host was found\. There are not enough hosts available\./);
    // An evacuated instance's row carries no detail: only what needs acting on does.
    expect(body).toMatch(/db-primary +evacuated +compute-12 +compute-03\n/);
    expect(body).toContain('To try again what failed, once its cause is fixed, run:\n  nova-ha evacuate compute-12\n');
    expect(composeMessage(fenced, { subjectPrefix: '[nova-ha]' }).body).not.toContain('To try again');
    expect(webhookPayload(noRoom, composeMessage(noRoom, { subjectPrefix: '' }))).toMatchObject({ retry: 'nova-ha evacuate compute-12' });
  });

  it('ends with the incident id and how to see it', () => {
    const { body } = composeMessage(fenced, { subjectPrefix: '[nova-ha]', node: 'ctl1' });
    expect(body).toMatch(/\n-- \nIncident inc-20260501-100000-compute-12\. To see it: nova-ha incident inc-20260501-100000-compute-12\nSent by nova-ha on ctl1\.\n$/);
  });

  it('points at nova-ha status when the event has no incident, and copes with an empty timeline', () => {
    const storm: Notification = { host: 'cluster', event: 'storm', summary: '14 hosts failed on the storage network', action: 'holding, nothing fenced', reason: 'storm: limit 5 of 50', timeline: [] };
    const { subject, body } = composeMessage(storm, { subjectPrefix: '[nova-ha]' });
    expect(subject).toBe('[nova-ha] cluster: 14 hosts failed on the storage network — holding, nothing fenced');
    expect(body).toContain('Timeline: no steps recorded yet.');
    expect(body).not.toContain('Instances');
    expect(body).toContain('To see every host and incident: nova-ha status');
  });

  it('starts with a banner when the cluster is paused', () => {
    const { body } = composeMessage({ ...fenced, event: 'paused-action', paused: true }, { subjectPrefix: '[nova-ha]' });
    expect(body.startsWith('PAUSED: nova-ha is paused cluster-wide.')).toBe(true);
  });

  it('never shows a secret, even one quoted in a reason, a step or an instance name', () => {
    const password = new Secret('smtp-Pa55word-that-leaked');
    const token = new Secret('keystone-token-gAAAAAB-leaked');
    const leaky: Notification = {
      ...fenced,
      summary: `auth failed with ${password.reveal()}`,
      reason: `Keystone said: invalid token ${token.reveal()} (and again ${token.reveal()})`,
      timeline: [{ at: T0, step: 'fencing', outcome: 'failed', detail: `ipmitool -P ${password.reveal()}` }],
      instances: [{ id: 'x', name: `vm-${token.reveal()}`, outcome: 'failed', from: 'compute-12' }],
    };
    const { subject, body } = composeMessage(leaky, { subjectPrefix: '[nova-ha]' });
    const payload = JSON.stringify(webhookPayload(leaky, { subject, body }));
    for (const text of [subject, body, payload]) {
      expect(text).not.toContain(password.reveal());
      expect(text).not.toContain(token.reveal());
      expect(text).toContain('***');
    }
  });

  it('does not change the notification it was given', () => {
    const copy = structuredClone(fenced);
    composeMessage(fenced, { subjectPrefix: '[nova-ha]' });
    expect(fenced).toEqual(copy);
  });
});
