/**
 * The Consul half end to end, in the lab with real Consul, Nova and BMCs: failures are injected
 * into lab hosts and nova-ha, installed with install.sh, must do what design.md says by itself.
 * Fencing is off here ([fencing] method = none): an incident that would need fencing is held.
 */
import { describe, expect, it } from 'vitest';
import { addressOf } from '../../lab/topology.js';
import { rejoin } from '../../lib/systems/consul/rejoin.js';
import { agentApi, scenarioLab } from './lab-context.js';
import { configureControllers, currentIncident, closedIncidents, mailSince, stepsOf, until, untilHealthy } from '../../lab/scenario.js';
import { LAB_CONFIRMATION_WINDOW, untilFreshEvaluation } from './support/evaluations.js';

// After a management cut, nova-compute's message-bus connection recovers in its own time (TCP
// retransmission backoff: 9 s measured after a 40 s cut, longer after longer cuts); a lab-short
// API-down wait would restart it. The default wait (60 s) gives it that time, as in a real cloud.
const POLICY = { api_down_wait: '60s' };
const env = scenarioLab({ fencing: 'none', overrides: { policy: POLICY } });

describe('storage network', () => {
  it('a storage link cut on the host is repaired through Consul: incident recovered and an email', async () => {
    const since = Date.now();
    env.touch('cmp1');
    await env.lab.cutLink('cmp1', 'storage', 'host');
    // The remediation handler on cmp1 runs "ip link set dev stor0 up" through sudo: the link comes back by itself.
    await until('cmp1 storage link repaired by nova-ha', 60_000, () => env.lab.linkState('cmp1', 'storage', 'host'), (state) => state === 'up');
    const [closed] = await until('incident closed', 60_000, () => closedIncidents(env.ctx, 'cmp1'), (list) => list.some((i) => i.openedAt >= since - 1000));
    expect(closed!.phase).toBe('recovered');
    expect(closed!.cause).toBe('storage-network');
    expect(stepsOf(closed!)).toEqual(expect.arrayContaining(['restart-storage-network:started', 'restart-storage-network:done', 'phase recovered:info']));
    const mails = await until('recovery email', 30_000, () => mailSince(env.ctx, since, 'cmp1'), (m) => m.some((x) => x.subject.includes('recovered')));
    expect(mails.find((m) => m.subject.includes('recovered'))!.text).toContain('restart-storage-network');
  });

  it('a storage cut the repair cannot fix (at the switch) is held for an operator, with an email', async () => {
    const since = Date.now();
    env.touch('cmp2');
    await env.lab.cutLink('cmp2', 'storage', 'switch');
    const held = await until('incident held', 90_000, () => currentIncident(env.ctx, 'cmp2'), (i) => i?.phase === 'held' && i.hold?.needsOperator === true);
    expect(held!.cause).toBe('storage-network');
    expect(held!.hold!.reason).toMatch(/method = none/);
    expect(stepsOf(held!)).toContain('restart-storage-network:done');
    const mails = await until('held email', 30_000, () => mailSince(env.ctx, since, 'cmp2'), (m) => m.some((x) => x.subject.includes('held for an operator')));
    expect(mails[0]!.to).toEqual(['ops@lab.example']);
  });
});

/** Every incident of host (open and closed) that started at or after since. */
async function incidentsSince(host: string, since: number) {
  const open = await currentIncident(env.ctx, host);
  const closed = await closedIncidents(env.ctx, host);
  return [...(open ? [open] : []), ...closed].filter((i) => i.openedAt >= since - 1000);
}
/** The output of a controller's nova-ha-evaluate check, as the mgmt cluster's leader has it. */
async function evaluateCheckOf(controller: string): Promise<string> {
  const checks = await env.ctx.runtime.clusters.mgmt.healthChecks(`Node == "${controller}" and CheckID == "nova-ha-evaluate"`).catch(() => []);
  return checks[0]?.Output ?? '';
}
const acted = (incident: { timeline: readonly { step: string }[] }): string[] => incident.timeline.map((e) => e.step).filter((s) => /^(restart-|power-|force-down|evacuate|drain)/.test(s));

describe('management and tenant networks: email only', () => {
  it.each([
    ['mgmt', 'management network down', 'mgmt-network'],
    ['tenant', 'tenant network down', 'tenant-network'],
  ] as const)('%s cut: an email, no repair, no fence; closed when it returns', async (network, subject, cause) => {
    const since = Date.now();
    env.touch('cmp3');
    await env.lab.cutLink('cmp3', network, 'host');
    const held = await until(`${network} incident held`, 60_000, () => currentIncident(env.ctx, 'cmp3'), (i) => i?.phase === 'held' && i.cause === cause);
    expect(held!.hold!.needsOperator).toBe(false);
    const mails = await until('alert email', 30_000, () => mailSince(env.ctx, since, 'cmp3'), (m) => m.some((x) => x.subject.includes(subject)));
    expect(mails.filter((m) => m.subject.includes(subject))).toHaveLength(1);
    await env.lab.restoreLink('cmp3', network, 'host');
    const [closed] = await until('incident closed', 90_000, () => closedIncidents(env.ctx, 'cmp3'), (list) => list.some((i) => i.id === held!.id));
    expect(acted(closed!)).toEqual([]);
    expect(closed!.phase).toBe('recovered');
  });
});

describe('guards', () => {
  it.each(['host', 'switch'] as const)('a controller that loses its own storage link (%s side) opens no incident for any host', async (side) => {
    const since = Date.now();
    await env.lab.cutLink('ctl2', 'storage', side);
    try {
      // ctl2's own evaluation finds itself isolated; then every controller evaluates again, past the confirmation window.
      await until('ctl2 reporting itself isolated', 60_000, () => evaluateCheckOf('ctl2'), (output) => /isolated on storage/.test(output));
      await until('the confirmation window passed', 30_000, () => Date.now(), (now) => now > since + LAB_CONFIRMATION_WINDOW);
      await untilFreshEvaluation(env.ctx);
      for (const host of env.lab.computes) expect(await incidentsSince(host, since), host).toEqual([]);
    } finally {
      await env.lab.restoreLink('ctl2', 'storage', side);
    }
    // As nova-ha's workers do for a compute: without a join, serf retries the failed member only
    // every 30 s, and the next test would wait on that.
    await rejoin(agentApi(env.lab, 'ctl1', 'storage'), 'ctl2');
    await env.lab.waitForHealthy(120_000);
  });

  it("the storage cluster's leader isolated while a compute's storage fails: the failure is still handled", async () => {
    const leaderAddress = (await env.lab.leader('storage'))!.split(':')[0];
    const leader = env.lab.controllers.find((c) => addressOf(c, 'storage') === leaderAddress)!;
    const since = Date.now();
    env.touch('cmp4');
    await env.lab.cutLink(leader, 'storage', 'switch');
    await env.lab.cutLink('cmp4', 'storage', 'host');
    try {
      const [closed] = await until('incident recovered', 120_000, () => closedIncidents(env.ctx, 'cmp4'), (list) => list.some((i) => i.openedAt >= since - 1000));
      expect(closed!.cause).toBe('storage-network');
      expect(acted(closed!)).toContain('restart-storage-network');
    } finally {
      await env.lab.restoreLink(leader, 'storage', 'switch');
    }
    await env.lab.waitForHealthy(120_000);
  });

  it('half the hosts cut at once: storm hold, nothing repaired; one email when it begins naming the held hosts, one when it ends', async () => {
    const since = Date.now();
    env.touch('cmp1', 'cmp2');
    await Promise.all([env.lab.cutLink('cmp1', 'storage', 'switch'), env.lab.cutLink('cmp2', 'storage', 'switch')]);
    await until('both held by the storm guard', 60_000, async () => Promise.all([currentIncident(env.ctx, 'cmp1'), currentIncident(env.ctx, 'cmp2')]), (list) => list.every((i) => i?.phase === 'held' && /storm/.test(i.hold?.reason ?? '')));
    const began = (await until('storm email', 30_000, () => mailSince(env.ctx, since).filter((m) => m.subject.includes('many hosts failing at once')), (m) => m.length > 0))[0]!;
    expect(began.subject).toMatch(/new repairs and fences held while it lasts/);
    // Sent when the first host is held: each failing host is named with what is done about it now.
    // Each host on a line of its own under "Why:"; phrases read with the mail's line wrapping undone.
    for (const host of ['cmp1', 'cmp2']) expect(began.text).toMatch(new RegExp(`^ +${host}( \\(incident [^)]+\\))?:\\s`, 'm'));
    const prose = began.text.replace(/\s+/g, ' ');
    expect(prose).toMatch(/: HELD by the storm: /);
    expect(prose).toMatch(/When no more than 1 hosts are failing at once/);
    // Every controller evaluates the storm again: none sends a second alert, none acts.
    await untilFreshEvaluation(env.ctx);
    for (const host of ['cmp1', 'cmp2']) expect(acted((await currentIncident(env.ctx, host))!)).toEqual([]);
    await Promise.all([env.lab.restoreLink('cmp1', 'storage', 'switch'), env.lab.restoreLink('cmp2', 'storage', 'switch')]);
    await until('storm over email', 60_000, () => mailSince(env.ctx, since).filter((m) => m.subject.includes('storm over')), (m) => m.length > 0);
    expect(mailSince(env.ctx, since).filter((m) => m.subject.includes('many hosts failing at once'))).toHaveLength(1);
    expect(mailSince(env.ctx, since).filter((m) => m.subject.includes('storm over'))).toHaveLength(1);
  });

  it('a link that flaps faster than the confirmation window leads to no action and no email', async () => {
    // Consul alone sees a link back 1-27 s late (lab-notes), which would make this flapping link
    // look failed throughout; the worker's rejoin requests (every 3 s) bring that down to seconds.
    // Each failure is still seen for longer than the link is down: a 20 s window leaves room.
    configureControllers(env.lab, { fencing: 'none', overrides: { policy: { ...POLICY, confirmation_window: '20s' } } });
    const since = Date.now();
    env.touch('cmp3');
    try {
      for (let i = 0; i < 6; i++) {
        await env.lab.cutLink('cmp3', 'storage', 'switch');
        await new Promise((resolve) => setTimeout(resolve, 2500));
        await env.lab.restoreLink('cmp3', 'storage', 'switch');
        await new Promise((resolve) => setTimeout(resolve, 5000));
      }
      await untilHealthy(env.ctx, 'cmp3', 60_000);
    } finally {
      configureControllers(env.lab, { fencing: 'none', overrides: { policy: POLICY } });
    }
    const incidents = await incidentsSince('cmp3', since);
    expect(incidents.length).toBeGreaterThan(0);
    for (const incident of incidents) expect(acted(incident)).toEqual([]);
    expect(mailSince(env.ctx, since, 'cmp3')).toEqual([]);
  });
});

describe('one actor, resumed', () => {
  it('a worker killed mid-incident is resumed by another and no step runs twice', async () => {
    env.touch('cmp4');
    await env.lab.cutLink('cmp4', 'storage', 'switch');
    // Wait until the repair was sent and the worker waits for its timeout: then kill it.
    const repairing = await until('repair sent', 60_000, () => currentIncident(env.ctx, 'cmp4'), (i) => i !== undefined && i.timeline.some((e) => e.step === 'restart-storage-network' && e.outcome === 'done'));
    const lock = await env.ctx.runtime.clusters.mgmt.kvGet(env.ctx.runtime.kv.key(`locks/cmp4`));
    const holder = JSON.parse(lock!.Value!) as { node: string; pid: number };
    expect(lock!.Session).toBeTruthy();
    process.kill(holder.pid, 'SIGKILL');
    const held = await until('another worker finishes the incident', 120_000, () => currentIncident(env.ctx, 'cmp4'), (i) => i?.phase === 'held' && i.hold?.needsOperator === true);
    expect(held!.id).toBe(repairing!.id);
    // One request from the killed worker, not repeated by the resuming one (a resend for an overdue
    // report, when a Consul event is lost, says so and is not a repeat).
    expect(held!.timeline.filter((e) => e.step === 'restart-storage-network' && e.outcome === 'started' && !e.detail?.includes('asked again'))).toHaveLength(1);
    const after = held!.timeline.filter((e) => e.at > Date.parse(new Date(repairing!.timeline.at(-1)!.at).toISOString()));
    expect(after.some((e) => e.step === 'decision')).toBe(true);
  });
});
