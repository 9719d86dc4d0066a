/**
 * Issue 15 benchmark: nova-ha's evacuation side by side with Nova's own floor, on one lab and the
 * same number of instances, alternating so that both meet the same lab:
 *   (a) floor: force down, one evacuate POST per instance back to back, one server list a second
 *       until every instance is ACTIVE elsewhere (lab.py floor, timed from its first call);
 *   (b) nova-ha: `nova-ha evacuate HOST --confirm-fenced` on a controller (timed as the operator
 *       sees it: from starting the command to its exit).
 * Before each run the instances are booted on HOST, the host is put in maintenance (so nova-ha's
 * own recovery leaves it to the run) and powered off through its BMC. Nova API calls and the
 * first-to-last evacuate POST are read from nova-api's own request log, for both alike; the Nova
 * poller's service list and the version document (the pollers' too) are left out.
 *   npx tsx bench/floor.ts [runs=5] [instances=20] [host=cmp1]
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KEYS } from '../lib/state/records.js';
import { runDir } from '../lab/topology.js';
import { bootOn, cliOnController, currentIncident, resetHost, serversById, type NovaHaLab } from '../lab/scenario.js';
import { log, withBenchLab } from './bench-lab.js';
import { dropReportWhenStdoutCloses, header, row } from './stats.js';

dropReportWhenStdoutCloses();

const runs = Number(process.argv[2] ?? 5);
const instances = Number(process.argv[3] ?? 20);
const host = process.argv[4] ?? 'cmp1';

type Mode = 'floor' | 'nova-ha';

interface Run {
  /** ms */
  readonly wall: number;
  /** ms between the first and the last evacuate POST nova-api answered. */
  readonly postSpread: number;
  readonly calls: number;
  /** nova-ha only: from its force-down starting to its incident fenced (its own timeline). */
  readonly inside?: number;
}

const LINE = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) .*osapi_compute\.wsgi\.server .*"(GET|POST|PUT|DELETE) (\S+) HTTP/;
/** The Nova poller's one call per poll, and the version document every process reads. */
const NOT_COUNTED = /^\/v2\.1\/?(os-services)?$/;

function apiRequests(file: string, offset: number): { at: number; method: string; path: string }[] {
  const text = readFileSync(file, 'utf8').slice(offset);
  const out: { at: number; method: string; path: string }[] = [];
  for (const line of text.split('\n')) {
    const match = LINE.exec(line);
    if (!match || NOT_COUNTED.test(match[3]!)) continue;
    out.push({ at: Date.parse(`${match[1]!.replace(' ', 'T')}Z`), method: match[2]!, path: match[3]! });
  }
  return out;
}

async function oneRun(ctx: NovaHaLab, mode: Mode, apiLog: string): Promise<Run> {
  const ids = await bootOn(ctx, host, instances, `floor-${mode}`);
  await ctx.runtime.kv.write(ctx.runtime.kv.key(KEYS.maintenance(host)), { reason: 'benchmark', since: Date.now(), by: 'bench' });
  await ctx.lab.powerOff(host);
  const offset = statSync(apiLog).size;
  let wall: number;
  let inside: number | undefined;
  if (mode === 'floor') {
    const result = await ctx.nova.floor(host);
    if (result.evacuated !== instances) throw new Error(`floor: ${result.evacuated} of ${instances} evacuated, ${result.failed} failed`);
    wall = result.wallSeconds * 1000;
  } else {
    const start = Date.now();
    const result = await cliOnController(ctx, ['evacuate', host, '--confirm-fenced'], 1_800_000);
    wall = Date.now() - start;
    if (result.code !== 0) throw new Error(`nova-ha evacuate failed: ${result.stderr.trim().split('\n').at(-1)}`);
    const incident = await currentIncident(ctx, host);
    const from = incident?.timeline.find((e) => e.step === 'force-down' && e.outcome === 'started')?.at;
    const to = incident?.timeline.find((e) => e.step === 'phase fenced')?.at;
    if (from !== undefined && to !== undefined) inside = to - from;
  }
  // nova-api writes a request's line when it answers; the last list may still be on its way.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const requests = apiRequests(apiLog, offset);
  const posts = requests.filter((r) => r.method === 'POST' && /\/servers\/[^/]+\/action$/.test(r.path)).map((r) => r.at);
  const servers = await serversById(ctx);
  const moved = ids.filter((id) => servers.get(id)?.status === 'ACTIVE' && servers.get(id)?.host !== host).length;
  if (moved !== instances) throw new Error(`${mode}: only ${moved} of ${instances} instances ACTIVE elsewhere`);
  return { wall, postSpread: posts.length ? Math.max(...posts) - Math.min(...posts) : Number.NaN, calls: requests.length, ...(inside !== undefined ? { inside } : {}) };
}

await withBenchLab(async (ctx) => {
  const apiLog = join(runDir(ctx.lab.spec), 'nova', 'log', 'nova-api.log');
  const results: Record<Mode, (Run | undefined)[]> = { floor: [], 'nova-ha': [] };
  for (let i = 0; i < runs; i++) {
    // Alternate which goes first, so neither always meets a lab fresh from the other's cleanup.
    const order: Mode[] = i % 2 === 0 ? ['floor', 'nova-ha'] : ['nova-ha', 'floor'];
    for (const mode of order) {
      try {
        const run = await oneRun(ctx, mode, apiLog);
        results[mode][i] = run;
        log(`run ${i + 1} ${mode}: ${(run.wall / 1000).toFixed(1)} s, POSTs over ${(run.postSpread / 1000).toFixed(1)} s, ${run.calls} Nova API calls${run.inside !== undefined ? `, ${(run.inside / 1000).toFixed(1)} s inside nova-ha` : ''}`);
      } catch (error) {
        // One bad run (a lab hiccup) costs that pair's overhead, not the other figures.
        log(`run ${i + 1} ${mode} failed: ${(error as Error).message}`);
      }
      await resetHost(ctx, host);
      await ctx.nova.deleteServers();
    }
  }
  const ok = (mode: Mode): Run[] => results[mode].filter((r): r is Run => r !== undefined);
  const pairs = [...Array(runs).keys()].flatMap((i) => (results.floor[i] && results['nova-ha'][i] ? [results['nova-ha'][i]!.wall - results.floor[i]!.wall] : []));
  console.log(`\nEvacuation of ${instances} instances from ${host} (powered off through its BMC): Nova's floor vs nova-ha, ${runs} alternating runs each (concurrency ${ctx.runtime.config.evacuation.concurrency})`);
  console.log(header('seconds / calls'));
  for (const mode of ['floor', 'nova-ha'] as const) {
    const r = ok(mode);
    console.log(row(`${mode}: wall time`, r.map((x) => x.wall)));
    console.log(row(`${mode}: first to last evacuate POST`, r.map((x) => x.postSpread)));
    console.log(row(`${mode}: Nova API calls per instance`, r.map((x) => x.calls / instances), (v) => v.toFixed(2)));
  }
  const inside = ok('nova-ha').flatMap((x) => (x.inside !== undefined ? [x.inside] : []));
  if (inside.length) console.log(row('nova-ha: force-down start to fenced (timeline)', inside));
  console.log(row('overhead: nova-ha - floor, per pair', pairs));
});
