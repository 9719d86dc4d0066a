/**
 * What the handlers cost per run. Consul starts a new process for every check run and every watch
 * call, so start-up is paid every few seconds on every node. For each handler, complete real runs
 * on an idle cluster (a real Consul dev agent on loopback for the controllers' handlers, a
 * simulated Keystone and Nova API on loopback for the Nova poller),
 * timed by bash's `time`: median CPU (user + system, including what the handler waits for, such
 * as a command it runs) and median wall time over N rounds, and both as a ratio to `node -e 0`.
 * Every case runs once per round, so a machine's changing load falls on all of them alike.
 * Children get the environment a Consul agent gives its checks (PATH and LANG; the lab's agents
 * get exactly that): an inherited NODE_EXTRA_CA_CERTS alone makes every node process parse a CA
 * bundle at start-up, which would hide the handlers' own cost in a larger baseline.
 * Then nova-ha's CPU per minute on an idle compute and on an idle controller: per-run CPU times
 * runs per minute at the check intervals of the defaults, or of --intervals-from FILE (a lab
 * node's nova-ha.conf, say). Idle means no health transition: no watch call, no worker.
 *   npx tsx bench/cold-start.ts [--runs 20] [--node PATH] [--dist DIR] [--intervals-from FILE]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigFile, parseConfig, type Config } from '../lib/config/load.js';
import { HANDLER_NODE_OPTIONS } from '../lib/systems/consul/fragments.js';
import { startDevConsul } from '../test/support/consul-dev.js';
import { dropReportWhenStdoutCloses, summary } from './stats.js';

dropReportWhenStdoutCloses();

const { values: opts } = parseArgs({ options: { runs: { type: 'string', default: '20' }, node: { type: 'string', default: process.execPath }, dist: { type: 'string', default: 'dist' }, 'intervals-from': { type: 'string' } } });
const runs = Number(opts.runs);
const node = opts.node;
const handlers = resolve(opts.dist, 'handlers');
const dir = mkdtempSync(join(tmpdir(), 'nova-ha-bench-'));
const log = (m: string): void => void process.stderr.write(`${m}\n`);
const AGENT_ENV = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

interface Case {
  readonly name: string;
  readonly argv: readonly string[];
  readonly stdin?: string;
  /** The exit code a correct run gives here: a case that fails would time its error path. */
  readonly exit: number;
  /** Handler and setting whose interval makes this run periodic, for the per-minute totals. */
  readonly every?: (config: Config) => number;
}

interface Sample {
  readonly cpu: number;
  readonly wall: number;
}

/** Runs argv to its end; asynchronous, so the simulated Nova in this process keeps answering. */
function run(argv: readonly string[], stdin = ''): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: AGENT_ENV });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('close', (status) => done({ status, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/**
 * One run under bash's `time`: getrusage of the finished child, so its own children count too.
 * Its output goes to a pipe, as a Consul agent reads it (a file or /dev/null costs Node less).
 */
async function timed(c: Case): Promise<Sample> {
  const result = await run(['bash', '-c', 'TIMEFORMAT="%3R %3U %3S"; time "$@" 2>&1', 'timed', ...c.argv], c.stdin);
  const [wall, user, sys] = result.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  if (![wall, user, sys].every((n) => Number.isFinite(n))) throw new Error(`${c.name}: no timing from bash: ${result.stderr}`);
  return { cpu: (user! + sys!) * 1000, wall: wall! * 1000 };
}

/** Runs a case once in the open: it must exit as a correct run does, else the numbers mean nothing. */
async function verify(c: Case): Promise<string> {
  const result = await run(c.argv, c.stdin);
  const line = result.stdout.split('\n')[0] ?? '';
  if (result.status !== c.exit) throw new Error(`${c.name}: exit ${result.status}, expected ${c.exit}: ${line} ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return line;
}

const ini = (sections: Record<string, Record<string, string>>): string => `${Object.entries(sections).map(([name, o]) => [`[${name}]`, ...Object.entries(o).map(([k, v]) => `${k} = ${v}`)].join('\n')).join('\n\n')}\n`;
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
};

/** A simulated Keystone and Nova on loopback: a token with a catalog, the version document, a scheduler up. */
async function simulatedNova(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}): void => void res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v3/auth/tokens') {
        const now = Date.now();
        reply(201, { token: { issued_at: new Date(now).toISOString(), expires_at: new Date(now + 3_600_000).toISOString(), user: { id: 'u1', name: 'nova-ha' }, project: { id: 'p1', name: 'admin' }, catalog: [{ type: 'compute', name: 'nova', endpoints: [{ interface: 'public', region_id: 'RegionOne', url: `${base}/v2.1` }] }] } }, { 'X-Subject-Token': `bench-token-${now}` });
      } else if (req.url === '/v2.1' || req.url === '/v2.1/') {
        reply(200, { version: { id: 'v2.1', status: 'CURRENT', version: '2.93', min_version: '2.1' } });
      } else if (req.url?.startsWith('/v2.1/os-services')) {
        const service = (id: number, binary: string, host: string): Record<string, unknown> => ({ id, binary, host, zone: 'nova', status: 'enabled', state: 'up', forced_down: false, disabled_reason: null, updated_at: new Date().toISOString().slice(0, 19) });
        reply(200, { services: [service(1, 'nova-scheduler', 'ctl1')] });
      } else reply(404, { itemNotFound: { code: 404, message: `bench: no route for ${req.method} ${req.url}` } });
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v3`, server };
}

const consul = await startDevConsul();
const nova = await simulatedNova();
try {
  const key = 'k'.repeat(40);
  // install.sh creates the state dirs; the pollers keep their session there.
  for (const state of ['compute-state', 'controller-state', 'standby-state']) mkdirSync(join(dir, state), { mode: 0o700 });
  const pidFile = file('nova-compute.pid', `${process.pid}\n`);
  const compute = (extra: Record<string, string>): Record<string, Record<string, string>> => ({
    DEFAULT: { role: 'compute', node_name: 'cmp1', state_dir: join(dir, 'compute-state'), log_file: join(dir, 'compute.log') },
    remediation: { hmac_key: key },
    nova_compute: { systemd_unit: '', process_name: 'node', ...extra },
  });
  const computeConfig = file('compute.conf', ini(compute({ pid_file: pidFile })));
  const scanConfig = file('compute-scan.conf', ini(compute({})));
  const controller = (name: string, kvPrefix: string): string => file(`${name}.conf`, ini({
    // The dev agent's node is "dev": the controller finds its own serfHealth there (not isolated).
    DEFAULT: { role: 'controller', node_name: 'dev', state_dir: join(dir, `${name}-state`), log_file: join(dir, `${name}.log`) },
    consul: { mgmt_address: consul.httpAddr, storage_address: consul.httpAddr, tenant_address: consul.httpAddr, kv_prefix: kvPrefix },
    nova: { auth_url: nova.url, username: 'nova-ha', password: 'bench-password', project_name: 'admin', region_name: 'RegionOne', interface: 'public' },
    remediation: { hmac_key: key },
    policy: { startup_quiet_period: '0s' },
    notifications: { smtp_host: '127.0.0.1', to: 'ops@bench.example' },
  }));
  const holderConfig = controller('controller', 'nova-ha');
  // A second nova-ha tree whose poller locks another controller holds: what two of three controllers run.
  const standbyConfig = controller('standby', 'nova-ha-standby');
  const session = (await (await fetch(`${consul.httpAddr}/v1/session/create`, { method: 'PUT', body: JSON.stringify({ Name: 'bench: the other controller', Checks: ['serfHealth'] }) })).json() as { ID: string }).ID;
  for (const poller of ['nova', 'power']) {
    await fetch(`${consul.httpAddr}/v1/kv/nova-ha-standby/pollers/${poller}?acquire=${session}`, { method: 'PUT', body: JSON.stringify({ node: 'ctl2', since: new Date().toISOString() }) });
  }

  // As the agents start them (their node options decide whether V8 takes the build's code cache).
  const handler = (name: string, config: string, ...extra: string[]): string[] => [node, ...HANDLER_NODE_OPTIONS, join(handlers, `${name}.js`), '--config', config, ...extra];
  const cases: Case[] = [
    { name: 'node -e 0 (baseline)', argv: [node, '-e', '0'], exit: 0 },
    { name: 'nova-compute-check, PID file (the lab)', argv: handler('nova-compute-check', computeConfig), exit: 0, every: (c) => c.nova_compute.check_interval },
    { name: 'nova-compute-check, /proc scan', argv: handler('nova-compute-check', scanConfig), exit: 0, every: (c) => c.nova_compute.check_interval },
    { name: 'remediate, no new event', argv: handler('remediate', computeConfig), stdin: '[]', exit: 0 },
    { name: 'evaluate', argv: handler('evaluate', holderConfig), exit: 0, every: (c) => c.policy.evaluate_interval },
    { name: 'nova-services-check, poller', argv: handler('nova-services-check', holderConfig), exit: 0, every: (c) => c.nova.poll_interval },
    { name: 'nova-services-check, standby', argv: handler('nova-services-check', standbyConfig), exit: 0, every: (c) => c.nova.poll_interval },
    { name: 'power-check, poller', argv: handler('power-check', holderConfig), exit: 0, every: (c) => c.ipmi.poll_interval },
    { name: 'power-check, standby', argv: handler('power-check', standbyConfig), exit: 0, every: (c) => c.ipmi.poll_interval },
    { name: 'watch-checks --network mgmt', argv: handler('watch-checks', holderConfig, '--network', 'mgmt'), stdin: '[]', exit: 0 },
  ];

  log(`node ${spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()}, ${handlers}, ${runs} rounds`);
  for (const c of cases) log(`  ${c.name}: ${await verify(c)}`);
  const samples = new Map(cases.map((c) => [c.name, [] as Sample[]]));
  for (let round = 0; round < runs; round++) for (const c of cases) samples.get(c.name)!.push(await timed(c));

  const med = (name: string): Sample => ({ cpu: summary(samples.get(name)!.map((s) => s.cpu)).median, wall: summary(samples.get(name)!.map((s) => s.wall)).median });
  const base = med(cases[0]!.name);
  console.log(`cold start, median of ${runs} runs, node ${spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()} (ms; ratio to node -e 0)`);
  console.log(`${'run'.padEnd(42)} ${'CPU'.padStart(7)} ${'ratio'.padStart(6)} ${'wall'.padStart(7)} ${'ratio'.padStart(6)}`);
  for (const c of cases) {
    const m = med(c.name);
    console.log(`${c.name.padEnd(42)} ${m.cpu.toFixed(1).padStart(7)} ${(m.cpu / base.cpu).toFixed(2).padStart(6)} ${m.wall.toFixed(1).padStart(7)} ${(m.wall / base.wall).toFixed(2).padStart(6)}`);
  }

  const source = opts['intervals-from'];
  const loaded = source ? loadConfigFile(source) : parseConfig('[DEFAULT]\nrole = controller\n', 'defaults');
  if (!loaded.config) throw new Error(`${source}: ${loaded.problems.map((p) => p.message).join('; ')}`);
  const config = loaded.config;
  const perMinute = (names: readonly string[]): string => {
    const parts = names.map((name) => {
      const every = cases.find((x) => x.name === name)!.every!(config);
      return { name, cpu: (med(name).cpu * 60_000) / every, every };
    });
    const total = parts.reduce((sum, p) => sum + p.cpu, 0);
    return `${(total / 1000).toFixed(2)} CPU-s/min (${((total / 60_000) * 100).toFixed(1)} % of a core): ${parts.map((p) => `${p.name} every ${p.every / 1000} s`).join(' + ')}`;
  };
  console.log(`CPU per minute, idle, per-run CPU x runs per minute at the intervals of ${source ?? 'the defaults'}:`);
  console.log(`  compute:                   ${perMinute(['nova-compute-check, PID file (the lab)'])}`);
  console.log(`  controller holding pollers: ${perMinute(['evaluate', 'nova-services-check, poller', 'power-check, poller'])}`);
  console.log(`  controller on standby:      ${perMinute(['evaluate', 'nova-services-check, standby', 'power-check, standby'])}`);
  console.log('  (the power poller also runs one ipmitool per compute host per interval, not counted here)');
} finally {
  nova.server.close();
  await consul.stop();
  rmSync(dir, { recursive: true, force: true });
}
