/**
 * Safety where nova-ha meets real operations (issue 13), end to end with real Consul, Nova and
 * BMCs: HA goes on after its first fence, a held incident does not hide a worse failure, a
 * resumed fence sees the power off again, a check that cannot run is not a dead service, a short
 * mgmt blip during a storage repair does not fence, a fenced host powered on again is news, and
 * a clean shutdown without maintenance is said plainly.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scenarioLab } from './lab-context.js';
import { bootOn, closedIncidents, configureControllers, configureNode, currentIncident, hang, mailSince, novaHaLab, serversById, stepsOf, until } from '../../lab/scenario.js';
import { consulAccount } from '../../lab/consul-agents.js';
import { CONSUL_NETWORKS, nodeDir } from '../../lab/topology.js';
import type { Incident } from '../../lib/state/incident.js';
import { KEYS } from '../../lib/state/records.js';

const env = scenarioLab({ fencing: 'ipmi' });

/** The index of the first "step:outcome" in the incident's steps; fails when it is missing. */
function at(incident: Incident, step: string, from = 0): number {
  const steps = stepsOf(incident);
  const index = steps.indexOf(step, from);
  expect(index, `${step} in ${steps.join(', ')}`).toBeGreaterThanOrEqual(0);
  return index;
}

async function expectEvacuated(ids: readonly string[], from: string): Promise<void> {
  const servers = await serversById(env.ctx);
  for (const id of ids) {
    expect(servers.get(id)?.status, id).toBe('ACTIVE');
    expect(servers.get(id)?.host, id).not.toBe(from);
  }
  const migrations = await env.ctx.nova.migrations(from, 'evacuation');
  for (const id of ids) expect(migrations.filter((m) => m.instance_uuid === id), id).toHaveLength(1);
}

/** The PID of the worker holding host's lock (it runs in a controller's namespace, visible from here). */
async function workerPid(host: string): Promise<number> {
  const lock = await env.ctx.runtime.clusters.mgmt.kvGet(env.ctx.runtime.kv.key(`locks/${host}`));
  return (JSON.parse(lock!.Value!) as { pid: number }).pid;
}

describe('safety in real operations (issue 13)', () => {
  it('HA goes on after its first success: cmp1 hung and fenced, then cmp2 hung is fenced and evacuated too (storm limit 25% of 4); cmp1 powered on by hand is news and stays fenced', async () => {
    const since = Date.now();
    const first = await bootOn(env.ctx, 'cmp1', 2, 'storm-first');
    const second = await bootOn(env.ctx, 'cmp2', 2, 'storm-second');
    env.touch('cmp1', 'cmp2');
    await hang(env.ctx, 'cmp1');
    await until('cmp1 fenced', 180_000, () => currentIncident(env.ctx, 'cmp1'), (i) => i?.phase === 'fenced');
    await hang(env.ctx, 'cmp2');
    const fenced = await until('cmp2 fenced', 180_000, () => currentIncident(env.ctx, 'cmp2'), (i) => i?.phase === 'fenced' || /storm/.test(i?.hold?.reason ?? ''));
    expect(fenced!.phase, fenced!.hold?.reason).toBe('fenced');
    expect(stepsOf(fenced!).some((s) => s.includes('storm'))).toBe(false);
    await expectEvacuated(first, 'cmp1');
    await expectEvacuated(second, 'cmp2');
    expect(mailSince(env.ctx, since).filter((m) => /many hosts failing/.test(m.subject))).toEqual([]);

    // Someone powers the fenced cmp1 on at its BMC: recorded, told at once, still forced down and disabled.
    await env.lab.powerOn('cmp1');
    const noted = await until('cmp1 seen on while fenced', 90_000, () => currentIncident(env.ctx, 'cmp1'), (i) => i?.seenOnWhileFenced !== undefined);
    expect(noted!.phase).toBe('fenced');
    at(noted!, 'host-on-while-fenced:info');
    const mail = await until('fenced-host-on email', 30_000, () => mailSince(env.ctx, since, 'cmp1'), (m) => m.some((x) => /still forced down and disabled/.test(x.subject)));
    expect(mail.find((x) => /still forced down and disabled/.test(x.subject))!.text).toMatch(/nova-ha unfence cmp1/);
    const service = (await env.ctx.nova.services()).find((s) => s.host === 'cmp1')!;
    expect([service.forced_down, service.status]).toEqual([true, 'disabled']);
  });

  it('a held incident does not hide a worse failure: tenant cut (email only), then the host hangs: escalated, fenced and evacuated', async () => {
    const since = Date.now();
    const ids = await bootOn(env.ctx, 'cmp3', 2, 'escalate');
    env.touch('cmp3');
    await env.lab.cutLink('cmp3', 'tenant', 'switch');
    await until('tenant incident held', 60_000, () => currentIncident(env.ctx, 'cmp3'), (i) => i?.phase === 'held' && i.cause === 'tenant-network');
    await until('tenant email', 30_000, () => mailSince(env.ctx, since, 'cmp3'), (m) => m.some((x) => x.subject.includes('tenant network down')));
    await hang(env.ctx, 'cmp3');
    const fenced = await until('fenced', 180_000, () => currentIncident(env.ctx, 'cmp3'), (i) => i?.phase === 'fenced');
    expect(fenced!.cause).toBe('node-unreachable');
    expect(at(fenced!, 'escalated:info')).toBeLessThan(at(fenced!, 'power-off:started'));
    await expectEvacuated(ids, 'cmp3');
    await until('escalation email', 30_000, () => mailSince(env.ctx, since, 'cmp3'), (m) => m.some((x) => x.subject.includes('escalated')));
  });

  it('a resumed fence sees the power off again: worker killed after the power-off, host powered on by hand, powered off again before anything is evacuated', async () => {
    const ids = await bootOn(env.ctx, 'cmp4', 2, 'resume-power');
    env.touch('cmp4');
    await hang(env.ctx, 'cmp4');
    await until('fence started', 180_000, () => currentIncident(env.ctx, 'cmp4'), (i) => i?.fenceStarted === true, 100);
    // Nova's API stopped: the worker's force-down cannot finish, so it is killed between the two.
    await env.ctx.nova.stopApi();
    try {
      const stuck = await until('power-off done, force-down started', 120_000, () => currentIncident(env.ctx, 'cmp4'), (i) => i !== undefined && stepsOf(i).includes('power-off:done') && stepsOf(i).includes('force-down:started'), 100);
      expect(stepsOf(stuck!)).not.toContain('force-down:done');
      process.kill(await workerPid('cmp4'), 'SIGKILL');
      await env.lab.powerOn('cmp4');
      expect(await env.lab.powerStatus('cmp4')).toBe('on');
    } finally {
      await env.ctx.nova.startApi();
    }
    const fenced = await until('fenced by a resumed worker', 240_000, () => currentIncident(env.ctx, 'cmp4'), (i) => i?.phase === 'fenced' || i?.phase === 'held');
    expect(fenced!.phase, fenced!.hold?.reason).toBe('fenced');
    const again = at(fenced!, 'power-off-again:done');
    expect(again).toBeGreaterThan(at(fenced!, 'power-off:done'));
    expect(again).toBeLessThan(at(fenced!, 'force-down:done'));
    expect(again).toBeLessThan(at(fenced!, 'evacuate:started'));
    expect(await env.lab.powerStatus('cmp4')).toBe('off');
    await expectEvacuated(ids, 'cmp4');
  });

  it('a nova-compute check that times out is unknown: nothing restarted, the operators told which check', async () => {
    const since = Date.now();
    env.touch('cmp2');
    // Reading a FIFO with no writer blocks: the check runs past Consul's 10 s timeout, as a hung /proc or systemd would make it.
    const fifo = join(nodeDir(env.lab.spec, 'cmp2'), 'nova-compute.fifo');
    rmSync(fifo, { force: true });
    mkdirSync(nodeDir(env.lab.spec, 'cmp2'), { recursive: true });
    execFileSync('mkfifo', ['-m', '0644', fifo]);
    const { uid, gid } = consulAccount();
    execFileSync('chown', [`${uid}:${gid}`, fifo]);
    try {
      configureNode(env.lab, 'cmp2', { fencing: 'ipmi', overrides: { nova_compute: { pid_file: fifo } } });
      const mail = await until('check-not-run email', 90_000, () => mailSince(env.ctx, since, 'cmp2'), (m) => m.some((x) => x.subject.includes('could not run')));
      expect(mail.find((x) => x.subject.includes('could not run'))!.text).toMatch(/nova-ha-nova-compute[\s\S]*Timed out/);
      // Evaluations go on meanwhile (one every 10 s in the lab): none may act on the timed-out check.
      const evaluated = Date.now();
      const evaluateChecks = `/v1/health/state/any?consistent&filter=${encodeURIComponent('CheckID == "nova-ha-evaluate"')}`;
      await until('two more evaluations', 60_000, async () => (await env.lab.consul('ctl1', 'mgmt').getOk<{ Output: string }[]>(evaluateChecks)).map((c) => c.Output), (outputs) => outputs.some((o) => /check nova-ha-nova-compute could not run/.test(o)) && Date.now() - evaluated > 20_000, 2000);
      const incident = await currentIncident(env.ctx, 'cmp2');
      expect(incident === undefined || !stepsOf(incident).some((s) => s.startsWith('restart-nova-compute'))).toBe(true);
      expect((await closedIncidents(env.ctx, 'cmp2')).filter((i) => i.openedAt >= since)).toEqual([]);
    } finally {
      configureNode(env.lab, 'cmp2', { fencing: 'ipmi' });
      rmSync(fifo, { force: true });
    }
  });

  it('a short mgmt blip during a storage repair is confirmed before it can fence: the fence comes only after the repair timeout', async () => {
    // A window long enough to hold a detected blip: the lab's 4 s is shorter than Consul takes to see a cut.
    configureControllers(env.lab, { fencing: 'ipmi', overrides: { policy: { confirmation_window: '8s' } } });
    env.touch('cmp3');
    // The timeout path: a node that checks nothing after the repair reports only that it ran (its
    // report that storage is still unreachable would fence before the blip: repair-reports.test.ts).
    configureNode(env.lab, 'cmp3', { fencing: 'ipmi', overrides: { remediation: { settle_time: '0s' } } });
    try {
      await env.lab.cutLink('cmp3', 'storage', 'switch');
      const repairing = await until('storage repair sent', 90_000, () => currentIncident(env.ctx, 'cmp3'), (i) => i !== undefined && stepsOf(i).includes('restart-storage-network:done'), 200);
      const repairAt = repairing!.attempts['restart-storage-network']!;
      await env.lab.cutLink('cmp3', 'mgmt', 'switch');
      await until('cmp3 failed on mgmt', 20_000, () => env.lab.memberHealth('cmp3', 'mgmt'), (h) => h === 'critical', 200);
      await env.lab.restoreLink('cmp3', 'mgmt', 'switch');
      const fenced = await until('fenced once the repair timed out', 180_000, () => currentIncident(env.ctx, 'cmp3'), (i) => i?.phase === 'fenced');
      const fenceAt = fenced!.timeline.find((e) => e.step === 'power-off' && e.outcome === 'started')!.at;
      // The lab's repair_timeout is 20 s: a fence on the blip would have come a few seconds after the repair.
      expect(fenceAt - repairAt).toBeGreaterThanOrEqual(20_000);
      expect(fenced!.cause).toBe('storage-network');
    } finally {
      await env.lab.restoreAllLinks('cmp3');
      configureControllers(env.lab, { fencing: 'ipmi' });
    }
  });

  it('the pollers\' controller dies: another takes the Nova and power pollers over within two intervals, and a host that hangs then is fenced and evacuated', async () => {
    const holderOf = async (api: typeof env.ctx.runtime.clusters.mgmt, name: string): Promise<string | undefined> => {
      const entry = await api.kvGet(env.ctx.runtime.kv.key(KEYS.poller(name)));
      return entry?.Session ? (JSON.parse(entry.Value!) as { node: string }).node : undefined;
    };
    const pollerNode = (await until('a Nova poller', 60_000, () => holderOf(env.ctx.runtime.clusters.mgmt, 'nova'), (n) => n !== undefined))!;
    // The test reads through a controller that stays.
    const watcher = novaHaLab(env.lab, env.lab.controllers.find((c) => c !== pollerNode));
    const mgmt = watcher.runtime.clusters.mgmt;
    const viewBy = async (key: string): Promise<{ by: string; at: number } | undefined> => (await watcher.runtime.kv.read<{ by: string; at: number }>(watcher.runtime.kv.key(key)).catch(() => undefined))?.value;
    const ids = await bootOn(env.ctx, 'cmp2', 2, 'poller-failover');
    env.touch('cmp2');
    const killedAt = Date.now();
    for (const network of CONSUL_NETWORKS) await env.lab.killAgent(pollerNode, network);
    try {
      // The lab polls Nova every 5 s and the BMCs every 10 s; views count as unknown after three intervals.
      const nova = await until('Nova view written by another controller', 60_000, () => viewBy(KEYS.novaPoll), (v) => v !== undefined && v.by !== pollerNode && v.at > killedAt, 1000);
      const power = await until('power view written by another controller', 60_000, () => viewBy(KEYS.powerPoll), (v) => v !== undefined && v.by !== pollerNode && v.at > killedAt, 1000);
      expect(await holderOf(mgmt, 'nova')).not.toBe(pollerNode);
      expect(await holderOf(mgmt, 'power')).not.toBe(pollerNode);
      process.stderr.write(`poller takeover after the controller died: Nova view ${((nova!.at - killedAt) / 1000).toFixed(1)} s, power view ${((power!.at - killedAt) / 1000).toFixed(1)} s\n`);
      await hang(env.ctx, 'cmp2');
      const fenced = await until('cmp2 fenced with the poller controller dead', 240_000, () => currentIncident(watcher, 'cmp2').catch(() => undefined), (i) => i?.phase === 'fenced' || i?.phase === 'held');
      expect(fenced!.phase, fenced!.hold?.reason).toBe('fenced');
      expect(new Set(fenced!.timeline.map((e) => e.by)).has(pollerNode)).toBe(false);
    } finally {
      for (const network of CONSUL_NETWORKS) await env.lab.startAgent(pollerNode, network);
      await env.lab.waitForMemberEverywhere(pollerNode, 'alive', 120_000);
    }
    await expectEvacuated(ids, 'cmp2');
  });

  it('a clean shutdown without maintenance: powered back on, and the email says so and names nova-ha maintenance', async () => {
    const since = Date.now();
    env.touch('cmp1');
    for (const network of CONSUL_NETWORKS) await env.lab.consul('cmp1', network).put('/v1/agent/leave');
    await env.lab.powerOff('cmp1');
    const mail = await until('shut-down email', 120_000, () => mailSince(env.ctx, since, 'cmp1'), (m) => m.some((x) => x.subject.includes('shut down without nova-ha maintenance')));
    expect(mail.find((x) => x.subject.includes('shut down without nova-ha maintenance'))!.text).toMatch(/nova-ha maintenance on cmp1/);
    const [closed] = await until('recovered', 180_000, () => closedIncidents(env.ctx, 'cmp1'), (list) => list.some((i) => i.openedAt >= since - 1000));
    expect(closed!.cause).toBe('shut-down');
    expect(stepsOf(closed!)).toContain('power-on:done');
  });
});
