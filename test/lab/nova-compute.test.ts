/**
 * The two nova-compute checks, each driving its policy row end to end: the node-local check (the
 * process is gone: restart it through the remediation event) and Nova's service list (only the
 * API thinks it is down: wait, warn, then restart).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDir } from '../../lab/topology.js';
import { KEYS, type NovaPoll, type NovaServiceState } from '../../lib/state/records.js';
import { scenarioLab } from './lab-context.js';
import { closedIncidents, currentIncident, mailSince, stepsOf, until } from '../../lab/scenario.js';
import { untilFreshEvaluation } from './support/evaluations.js';

const env = scenarioLab({ fencing: 'ipmi' });

describe('nova-compute checks', () => {
  it('dead on the node: restarted through the remediation event, incident recovered', async () => {
    const since = Date.now();
    env.touch('cmp2');
    await env.ctx.nova.stopCompute(2);
    const [closed] = await until('recovered', 120_000, () => closedIncidents(env.ctx, 'cmp2'), (list) => list.some((i) => i.openedAt >= since - 1000));
    expect(closed!.cause).toBe('nova-compute-dead');
    expect(stepsOf(closed!)).toEqual(expect.arrayContaining(['restart-nova-compute:done', 'phase recovered:info']));
    expect(stepsOf(closed!)).not.toContain('power-off:started');
    // Closed only once the restarted nova-compute has reported. Closed on the old process's last
    // report, Nova would mark it down service_down_time (6 s) later and a new incident would open.
    expect((await env.ctx.nova.services()).find((s) => s.host === 'cmp2')?.state).toBe('up');
    // Nova would mark it down service_down_time (6 s) after its last report: wait for a Nova poll past that, then an evaluation of it.
    await until('a Nova poll past service_down_time after the close', 60_000, async () => (await env.ctx.runtime.kv.read<NovaPoll>(env.ctx.runtime.kv.key(KEYS.novaPoll)))?.value.at ?? 0, (at) => at > closed!.closedAt! + 6_000);
    await untilFreshEvaluation(env.ctx);
    expect(await currentIncident(env.ctx, 'cmp2')).toBeUndefined();
  });

  it('only Nova thinks it is down (the process is frozen): a warning, then a restart, incident recovered', async () => {
    const since = Date.now();
    env.touch('cmp3');
    const pid = Number(readFileSync(join(runDir(env.lab.spec), 'nova', 'pid', 'nova-compute-cmp3.pid'), 'utf8').split(/\s+/)[0]);
    process.kill(pid, 'SIGSTOP');
    // When the Nova poller first recorded it down: the API-down wait counts from there.
    let downSince: number | undefined;
    const [closed] = await until('recovered', 180_000, async () => {
      const seen = (await env.ctx.runtime.kv.read<NovaServiceState>(env.ctx.runtime.kv.key(KEYS.novaHost('cmp3'))))?.value;
      if (seen?.state === 'down') downSince ??= seen.since;
      return closedIncidents(env.ctx, 'cmp3');
    }, (list) => list.some((i) => i.openedAt >= since - 1000));
    expect(closed!.cause).toBe('nova-api-only');
    const steps = stepsOf(closed!);
    expect(steps).toContain('restart-nova-compute:done');
    // The restart came only after the API-down wait (10 s in the lab).
    const restartAt = closed!.timeline.find((e) => e.step === 'restart-nova-compute')!.at;
    expect(downSince).toBeDefined();
    expect(restartAt - downSince!).toBeGreaterThanOrEqual(10_000);
    const warning = mailSince(env.ctx, since, 'cmp3').filter((m) => m.subject.includes('Nova reports nova-compute down — waiting before restarting nova-compute'));
    expect(warning).toHaveLength(1);
    expect(mailSince(env.ctx, since, 'cmp3').filter((m) => m.subject.includes('held for an operator'))).toEqual([]);
  });
});
