/**
 * Issue 6 benchmark: time to recovery, from the failure injected to every instance ACTIVE
 * elsewhere (or, for a power loss that a power-on repairs, to the host healthy again), for a host
 * with N instances, per failure path, over R runs each; split into detection, confirmation,
 * repair, fence, force-down and evacuation, read from the incident's own timeline.
 *   npx tsx bench/recovery.ts [runs=5] [instances=20] [paths=storage,hang,power,nova-compute]
 * NOVA_HA_BENCH_TIMERS=default runs with the policy's default timers (confirmation 10 s, repair
 * timeout 60 s, ...) instead of the lab's short ones, as an operator's cloud would.
 */
import { SCHEMA } from '../lib/config/schema.js';
import type { Incident } from '../lib/state/incident.js';
import { bootOn, closedIncidents, configureControllers, configureNode, currentIncident, hang, resetHost, serversById, setBootFails, until, type NovaHaLab } from '../lab/scenario.js';
import { log, withBenchLab } from './bench-lab.js';
import { dropReportWhenStdoutCloses, header, row } from './stats.js';

dropReportWhenStdoutCloses();

const runs = Number(process.argv[2] ?? 5);
const instances = Number(process.argv[3] ?? 20);
const paths = (process.argv[4] ?? 'storage,hang,power,nova-compute').split(',');
const host = 'cmp2';
/** The policy timers a recovery waits on, at their defaults (the quiet period and storm limit stay the lab's). */
const DEFAULT_TIMERS = Object.fromEntries((['confirmation_window', 'api_down_wait', 'repair_timeout', 'boot_timeout'] as const).map((k) => [k, SCHEMA.policy[k].defaultText!]));
const timers = process.env['NOVA_HA_BENCH_TIMERS'] === 'default' ? DEFAULT_TIMERS : undefined;

interface Split {
  total: number;
  detection: number;
  confirmation: number;
  repair: number;
  /** From the repair request to the node's report recorded (NaN when none came). */
  report: number;
  fence: number;
  forceDown: number;
  evacuation: number;
}

const at = (incident: Incident, step: string, outcome: string): number | undefined => incident.timeline.find((e) => e.step === step && e.outcome === outcome)?.at;
const span = (from: number | undefined, to: number | undefined): number => (from !== undefined && to !== undefined ? to - from : Number.NaN);

function split(incident: Incident, injected: number, end: number): Split {
  const firstAction = incident.timeline.find((e) => e.step === 'decision' && !e.detail?.startsWith('wait (confirming)'))?.at;
  const repairStart = incident.timeline.find((e) => /^(restart-|power-on)/.test(e.step) && e.outcome === 'started')?.at;
  const fenceStart = at(incident, 'power-off', 'started');
  return {
    total: end - injected,
    detection: incident.openedAt - injected,
    confirmation: span(incident.openedAt, firstAction),
    repair: span(repairStart, fenceStart ?? incident.closedAt),
    report: span(repairStart, at(incident, 'repair-report', 'failed') ?? at(incident, 'repair-report', 'done')),
    fence: span(fenceStart, at(incident, 'power-off', 'done')),
    forceDown: span(at(incident, 'force-down', 'started'), at(incident, 'force-down', 'done')),
    evacuation: span(at(incident, 'evacuate', 'started'), at(incident, 'evacuate', 'done')),
  };
}

async function inject(ctx: NovaHaLab, path: string): Promise<void> {
  if (path === 'storage') await ctx.lab.cutLink(host, 'storage', 'switch');
  else if (path === 'hang') await hang(ctx, host);
  else if (path === 'power') await ctx.lab.powerOff(host);
  else if (path === 'power-noboot') {
    setBootFails(ctx, host, true);
    await ctx.lab.powerOff(host);
  } else if (path === 'nova-compute') {
    configureNode(ctx.lab, host, { fencing: 'ipmi', overrides: { remediation: { restart_nova_compute: '/usr/bin/false' } } });
    await ctx.nova.stopCompute(Number(host.replace('cmp', '')));
  } else throw new Error(`unknown path ${path}`);
}

async function oneRun(ctx: NovaHaLab, path: string): Promise<Split> {
  const ids = await bootOn(ctx, host, instances, `bench-${path}`);
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const injected = Date.now();
  await inject(ctx, path);
  if (path === 'power') {
    const [incident] = (await until('recovered', 600_000, () => closedIncidents(ctx, host), (list) => list.some((x) => x.openedAt >= injected - 1000))) as [Incident];
    return split(incident, injected, incident.closedAt!);
  }
  const incident = (await until('fenced', 900_000, () => currentIncident(ctx, host), (x) => x?.phase === 'fenced'))!;
  const servers = await serversById(ctx);
  const active = ids.filter((id) => servers.get(id)?.status === 'ACTIVE' && servers.get(id)?.host !== host).length;
  if (active !== ids.length) throw new Error(`${path}: ${active} of ${ids.length} ACTIVE elsewhere`);
  return split(incident, injected, at(incident, 'evacuate', 'done')!);
}

await withBenchLab(async (ctx) => {
  if (timers) configureControllers(ctx.lab, { fencing: 'ipmi', overrides: { policy: timers } });
  const results = new Map<string, Split[]>();
  for (const path of paths) {
    const splits: Split[] = [];
    results.set(path, splits);
    for (let i = 0; i < runs; i++) {
      try {
        splits.push(await oneRun(ctx, path));
        log(`${path} run ${i + 1}: ${JSON.stringify(splits.at(-1))}`);
      } catch (error) {
        // One bad run (a lab hiccup) costs that run, not the figures of the others.
        log(`${path} run ${i + 1} failed: ${(error as Error).message}`);
      }
      setBootFails(ctx, host, false);
      configureNode(ctx.lab, host, { fencing: 'ipmi' });
      if (timers) configureControllers(ctx.lab, { fencing: 'ipmi', overrides: { policy: timers } });
      await resetHost(ctx, host);
      await ctx.nova.deleteServers();
    }
  }
  const settings = ctx.runtime.config;
  const policy = timers ? `default timers: confirmation ${timers['confirmation_window']}, repair timeout ${timers['repair_timeout']}, boot timeout ${timers['boot_timeout']}` : `lab timings: confirmation ${settings.policy.confirmation_window / 1000} s, repair timeout ${settings.policy.repair_timeout / 1000} s, boot timeout ${settings.policy.boot_timeout / 1000} s`;
  console.log(`\nnova-ha time to recovery, ${instances} instances on ${host}, ${runs} runs per path (${policy}, evacuation concurrency ${settings.evacuation.concurrency})`);
  console.log(header('seconds'));
  for (const [path, splits] of results) {
    for (const key of ['total', 'detection', 'confirmation', 'repair', 'report', 'fence', 'forceDown', 'evacuation'] as const) {
      const values = splits.map((s) => s[key]).filter(Number.isFinite);
      if (values.length) console.log(row(`${path}: ${key === 'total' ? 'TOTAL (failure -> recovered)' : key}`, values));
    }
  }
});
