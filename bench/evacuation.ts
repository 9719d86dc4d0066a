/**
 * Issue 5 benchmark: evacuation wall time for 5, 20 and 50 instances of one host, and the Nova
 * API calls it makes. The host is powered off at its BMC and put in maintenance (so nova-ha
 * leaves it alone), then `nova-ha evacuate HOST --confirm-fenced` runs on a controller: force
 * down, evacuate with bounded concurrency, confirm each instance ACTIVE elsewhere, disable.
 * API calls are counted from nova-api's own request log (the pollers' service list excluded).
 *   npx tsx bench/evacuation.ts [runs=2] [sizes=5,20,50]
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KEYS } from '../lib/state/records.js';
import { runDir } from '../lab/topology.js';
import { bootOn, cliOnController, resetHost, serversById } from '../lab/scenario.js';
import { log, withBenchLab } from './bench-lab.js';
import { dropReportWhenStdoutCloses, header, row } from './stats.js';

dropReportWhenStdoutCloses();

const runs = Number(process.argv[2] ?? 2);
const sizes = (process.argv[3] ?? '5,20,50').split(',').map(Number);
const host = 'cmp1';

await withBenchLab(async (ctx) => {
  const apiLog = join(runDir(ctx.lab.spec), 'nova', 'log', 'nova-api.log');
  const results = new Map<number, { wall: number[]; calls: number[] }>();
  for (const size of sizes) {
    const r = { wall: [] as number[], calls: [] as number[] };
    results.set(size, r);
    for (let i = 0; i < runs; i++) {
      const ids = await bootOn(ctx, host, size, `bench-${size}`);
      await ctx.runtime.kv.write(ctx.runtime.kv.key(KEYS.maintenance(host)), { reason: 'benchmark', since: Date.now(), by: 'bench' });
      await ctx.lab.powerOff(host);
      const offset = statSync(apiLog).size;
      const start = Date.now();
      const result = await cliOnController(ctx, ['evacuate', host, '--confirm-fenced'], 1_800_000);
      const wall = Date.now() - start;
      if (result.code !== 0) throw new Error(`evacuate failed: ${result.stderr.trim().split('\n').at(-1)}`);
      const calls = readFileSync(apiLog, 'utf8').slice(offset).split('\n').filter((l) => l.includes('osapi_compute.wsgi.server') && !/"GET \/v2\.1(\/os-services)? HTTP/.test(l)).length;
      const servers = await serversById(ctx);
      const moved = ids.filter((id) => servers.get(id)?.status === 'ACTIVE' && servers.get(id)?.host !== host).length;
      if (moved !== size) throw new Error(`only ${moved} of ${size} instances ACTIVE elsewhere`);
      r.wall.push(wall);
      r.calls.push(calls);
      log(`${size} instances: ${(wall / 1000).toFixed(1)} s, ${calls} Nova API calls`);
      await resetHost(ctx, host);
      await ctx.nova.deleteServers();
    }
  }
  console.log(`\nnova-ha evacuation (operator evacuate of ${host}, concurrency ${ctx.runtime.config.evacuation.concurrency}), ${runs} runs per size`);
  console.log(header('seconds / calls'));
  for (const [size, r] of results) {
    console.log(row(`${size} instances: wall time`, r.wall));
    console.log(row(`${size} instances: Nova API calls`, r.calls, (v) => String(Math.round(v))));
    console.log(row(`${size} instances: API calls per instance`, r.calls.map((c) => c / size), (v) => v.toFixed(1)));
  }
});
