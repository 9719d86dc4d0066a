/**
 * Issue 16 benchmark: nova-ha's controller handlers against real Consul servers holding N compute
 * hosts. Three Consul clusters on loopback (mgmt, storage, tenant; one server each, or three with
 * --servers 3), the hosts registered as external catalog nodes with the node meta and checks their
 * agents would have (a SIMULATION of the agents: Consul's servers, catalog, health queries, KV and
 * Raft are real), Nova's API simulated for the Nova poller, the power poller's view written as the
 * poller would (no BMCs here). The real bundled handlers run as Consul starts them (with the node
 * options of the agents' fragments): the watch handler with the watch's payload on stdin, the
 * evaluate check, the Nova poller check.
 *
 * For each N it measures (wall s, CPU s, peak RSS, Consul requests and bytes read):
 *   (a) one host's transition in the watch handler (a storage failure),
 *   (b) the periodic evaluation in steady state,
 *   (c) the first evaluation after install (every host's record written),
 *   (d) a mass failure of 5% of the hosts on every network (watch handler on mgmt),
 *   (e) the Nova poller writing its view,
 * and checks in KV that every record each run wrote landed. Consul's leader reaps simulated
 * nodes a minute after its election (test/support/consul-fleet.ts), so every scenario gets a
 * fresh set of clusters and is measured before that.
 *   npx tsx bench/scale.ts [sizes=100,1000,10000] [--servers 1|3] [--runs 1] [--scenarios cbad] [--repo DIR --views single|per-host] [--node-options '...']
 * Needs dist/ (node build.mjs) and the Consul binary (scripts/deps.sh lab).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type Config } from '../lib/config/load.js';
import { fragment, HANDLER_NODE_OPTIONS } from '../lib/systems/consul/fragments.js';
import { NETWORKS, type Network } from '../lib/config/schema.js';
import { ConsulFleet } from '../test/support/consul-fleet.js';
import { CountingProxy } from './scale/counting-proxy.js';
import { cpuSecondsOf, killAll, measure, processesMentioning, type Measured } from './scale/measure.js';
import { NovaSimulation } from './scale/nova-sim.js';
import { seedPowerView, recordsIn, seedRecords, PREFIX, type ViewLayout } from './scale/views.js';
import { dropReportWhenStdoutCloses } from './stats.js';

dropReportWhenStdoutCloses();

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const sizes = (args.find((a) => /^\d[\d,]*$/.test(a)) ?? '100,1000,10000').split(',').map(Number);
const servers = Number(flag('servers', '1')) as 1 | 3;
const runs = Number(flag('runs', '1'));
const log = (m: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${m}\n`);
// --repo runs another checkout's handlers (the code before a change); --views says how its pollers keep their views.
const REPO = flag('repo', process.cwd());
const layout = flag('views', 'per-host') as ViewLayout;
const handler = (name: string): string => join(REPO, 'dist', 'handlers', `${name}.js`);
// The node options the agents' fragments start handlers with; --node-options '' runs them as before those existed.
const nodeOptions = flag('node-options', HANDLER_NODE_OPTIONS.join(' ')).split(' ').filter(Boolean);
if (!existsSync(handler('evaluate'))) throw new Error(`${REPO}/dist/ is missing: run node build.mjs there first`);

// Stopped early (Ctrl-C, timeout): the running attempt's Consul servers, simulation and workers go too.
const cleanups = new Set<() => Promise<void>>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void Promise.allSettled([...cleanups].map((c) => c())).then(() => process.exit(130)));
}

type Scenario = 'a' | 'b' | 'c' | 'd';
const SCENARIOS: Record<Scenario, string> = {
  a: "one host's transition, watch handler",
  b: 'periodic evaluation, steady state',
  c: 'first evaluation after install',
  d: 'mass failure of 5%, watch handler',
};

interface Row {
  readonly n: number;
  readonly what: string;
  readonly m: Measured;
  readonly written: string;
  readonly note: string;
}
const rows: Row[] = [];

function configText(dir: string, proxies: Record<Network, CountingProxy>, nova: NovaSimulation): string {
  return `[DEFAULT]
role = controller
node_name = ctl1
state_dir = ${dir}/state
log_file = ${dir}/nova-ha.log
log_level = info
[consul]
mgmt_address = ${proxies.mgmt.url}
storage_address = ${proxies.storage.url}
tenant_address = ${proxies.tenant.url}
kv_prefix = ${PREFIX}
timeout = 30s
[nova]
auth_url = ${nova.authUrl}
username = nova-ha
password = simulated
[fencing]
method = none
[policy]
startup_quiet_period = 0s
[notifications]
webhook_url = ${nova.webhookUrl}
[remediation]
hmac_key = ${'s'.repeat(40)}
`;
}

/** The state a Consul `checks` watch of this network passes its handler, as install.sh registers it. */
function watchState(config: Config, network: Network): 'any' | 'critical' {
  const watches = fragment('controller', network, config, { node: process.execPath, lib: REPO, config: 'x' })['watches'] as { state?: string }[];
  return watches[0]?.state === 'critical' ? 'critical' : 'any';
}

/** Worker processes the evaluations since `since` started (their "workers-dispatched" lines); "worker-spawn" is the line of the code before issue 16 (--repo). */
const countSpawned = (logFile: string, since: number): number => {
  if (!existsSync(logFile)) return 0;
  let started = 0;
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('"workers-dispatched"') && !line.includes('"worker-spawn"')) continue;
    const entry = JSON.parse(line) as { ts: string; event: string; started?: number };
    if (Date.parse(entry.ts) >= since) started += entry.event === 'worker-spawn' ? 1 : (entry.started ?? 0);
  }
  return started;
};

async function attempt(n: number, scenario: Scenario): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'nova-ha-scale-'));
  const fleet = await ConsulFleet.start({ serversPerNetwork: servers, log });
  const proxies = Object.fromEntries(await Promise.all(NETWORKS.map(async (net) => [net, await new CountingProxy(new URL(fleet.clusters[net].httpAddr)).start()]))) as Record<Network, CountingProxy>;
  const all = NETWORKS.map((net) => proxies[net]);
  const nova = await new NovaSimulation(() => fleet.hosts).start();
  // install.sh creates the state dir (0700, owned by the agents' user).
  mkdirSync(join(dir, 'state'), { mode: 0o700 });
  const configFile = join(dir, 'nova-ha.conf');
  writeFileSync(configFile, configText(dir, proxies, nova), { mode: 0o600 });
  const config = parseConfig(readFileSync(configFile, 'utf8')).config as Config;
  const run = (name: string, extra: string[] = [], stdin?: string): Promise<Measured> => measure([...nodeOptions, handler(name), '--config', configFile, ...extra], { proxies: all, timeFile: join(dir, 'time.out'), ...(stdin === undefined ? {} : { stdin, env: { CONSUL_INDEX: '1' } }) });
  const stopWorkers = async (): Promise<void> => killAll(processesMentioning(dir));
  const cleanup = async (): Promise<void> => {
    await stopWorkers();
    await nova.stop();
    for (const p of all) await p.stop();
    await fleet.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  cleanups.add(cleanup);
  try {
    const t = Date.now();
    await fleet.register(n);
    log(`N=${n} (${scenario}): ${n} simulated hosts registered in 3 clusters in ${((Date.now() - t) / 1000).toFixed(1)} s; ${(fleet.reapDueIn() / 1000).toFixed(0)} s until the leader reaps them`);

    // The pollers' views: the real Nova poller against the simulated API; the power view as the power poller writes it.
    const poll = await run('nova-services-check');
    if (scenario === 'c') rows.push({ n, what: "(e) Nova poller, service list into KV", m: poll, written: '', note: poll.stdout.split('\n')[0]!.slice(0, 70) });
    await seedPowerView(fleet, layout);

    // Steady state: every host's record as an earlier evaluation wrote it, then one evaluation to settle.
    const evaluateUntilSteady = async (): Promise<void> => {
      await seedRecords(fleet, Date.now() - 3_600_000);
      await run('evaluate');
      await stopWorkers();
    };

    let m: Measured;
    let whole: boolean | undefined;
    let written = '';
    let note = '';
    if (scenario === 'c') {
      m = await run('evaluate');
      const records = await recordsIn(fleet);
      written = `${records.size}/${n}`;
      note = m.stdout.split('\n')[0]!.slice(0, 70);
    } else if (scenario === 'b') {
      await evaluateUntilSteady();
      const before = await recordsIn(fleet);
      m = await run('evaluate');
      const after = await recordsIn(fleet);
      const changed = [...after].filter(([host, v]) => before.get(host)?.index !== v.index).length;
      written = `${changed} (steady: 0)`;
      note = m.stdout.split('\n')[0]!.slice(0, 70);
    } else if (scenario === 'a') {
      await evaluateUntilSteady();
      const host = fleet.hosts[Math.min(6, n - 1)]!;
      await fleet.setSerfHealth('storage', [host], 'critical');
      const since = Date.now();
      m = await run('watch-checks', ['--network', 'storage'], await fleet.watchPayload('storage', watchState(config, 'storage')));
      const record = (await recordsIn(fleet)).get(host)?.value as { networks?: { storage?: { state?: string } } } | undefined;
      written = `${record?.networks?.storage?.state === 'failed' ? 1 : 0}/1`;
      note = `workers spawned ${countSpawned(join(dir, 'nova-ha.log'), since)}; exit ${m.code}`;
    } else {
      await evaluateUntilSteady();
      const failing = fleet.hosts.filter((_, i) => i % 20 === 7);
      for (const net of NETWORKS) await fleet.setSerfHealth(net, failing, 'critical');
      const since = Date.now();
      m = await run('watch-checks', ['--network', 'mgmt'], await fleet.watchPayload('mgmt', watchState(config, 'mgmt')));
      const records = await recordsIn(fleet);
      const landed = failing.filter((h) => {
        const r = records.get(h)?.value as { networks?: Record<string, { state?: string }> } | undefined;
        return NETWORKS.every((net) => r?.networks?.[net]?.state === 'failed');
      }).length;
      written = `${landed}/${failing.length}`;
      whole = await fleet.whole();
      await new Promise((resolve) => setTimeout(resolve, 5000));
      const workers = processesMentioning(dir);
      const cpu = workers.reduce((s, pid) => s + cpuSecondsOf(pid), 0);
      note = `workers spawned ${countSpawned(join(dir, 'nova-ha.log'), since)}, running 5 s later ${workers.length} (${cpu.toFixed(1)} CPU-s so far); exit ${m.code}`;
    }
    await stopWorkers();
    if (!(whole ?? (await fleet.whole()))) {
      log(`N=${n} (${scenario}): the leader reaped the simulated hosts during the run; measuring again on fresh clusters`);
      return false;
    }
    rows.push({ n, what: `(${scenario}) ${SCENARIOS[scenario]}`, m, written, note });
    log(`N=${n} (${scenario}): ${m.wallS.toFixed(2)} s wall, ${m.cpuS.toFixed(2)} CPU-s, ${m.rssMiB.toFixed(0)} MiB, ${m.requests} requests, ${(m.bytes / 2 ** 20).toFixed(2)} MiB read; written ${written}; ${note}`);
    return true;
  } finally {
    cleanups.delete(cleanup);
    await cleanup();
  }
}

for (const n of sizes) {
  for (const scenario of (['c', 'b', 'a', 'd'] as const).filter((x) => flag('scenarios', 'cbad').includes(x))) {
    for (let r = 0; r < runs; r++) {
      let done = false;
      for (let tries = 0; tries < 3 && !done; tries++) done = await attempt(n, scenario);
      if (!done) log(`N=${n} (${scenario}): no run finished before the reaper; skipped`);
    }
  }
}

const ld = (await import('node:os')).loadavg()[0]!.toFixed(1);
console.log(`\nnova-ha at scale: ${servers} Consul server(s) per network on loopback, hosts simulated as external catalog nodes (their agents are a simulation; Consul is real), Nova's API simulated; node ${process.version}; load average ${ld} at the end`);
console.log(`${'N'.padStart(6)}  ${'run'.padEnd(44)} ${'wall s'.padStart(7)} ${'CPU s'.padStart(6)} ${'RSS MiB'.padStart(8)} ${'requests'.padStart(8)} ${'MiB read'.padStart(9)}  ${'records landed'.padEnd(16)} note`);
for (const r of rows) {
  console.log(`${String(r.n).padStart(6)}  ${r.what.padEnd(44)} ${r.m.wallS.toFixed(2).padStart(7)} ${r.m.cpuS.toFixed(2).padStart(6)} ${r.m.rssMiB.toFixed(0).padStart(8)} ${String(r.m.requests).padStart(8)} ${(r.m.bytes / 2 ** 20).toFixed(2).padStart(9)}  ${r.written.padEnd(16)} ${r.note}`);
}
