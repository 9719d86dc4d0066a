/**
 * lib/nova against the REAL Nova of the lab (Zed, fake driver). The test process stays in the
 * root namespace; the client runs inside the controller namespace through
 * test/lab/support/nova-probe.ts, one process per call, as Consul would run nova-ha.
 *
 * Which lab: NOVA_LAB_PREFIX (a lab you run yourself, e.g. nhn; see own-lab.vitest.config.ts),
 * else the lab the lab project's global setup provides. Nova is started on it when it is not
 * running, and stopped again afterwards in that case.
 *
 * The tests that break a compute (kill nova-compute, force down, evacuate, restart) run only on
 * your own lab, or with NOVA_LAB_DISRUPTIVE=1: in the shared lab nova-ha is installed and would
 * act on the same hosts at the same time (its own recovery tests cover that path there).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { NovaLab, type LabServer } from '../../lab/nova.js';
import { REPO_ROOT } from '../../lab/topology.js';

const PROBE = join(REPO_ROOT, 'test', 'lab', 'support', 'nova-probe.ts');
const SERVERS = 8;

interface ProbeOutput<T> {
  readonly result?: T;
  readonly error?: string;
  readonly name?: string;
  readonly status?: number;
  readonly requestId?: string;
  readonly events: string[];
  readonly ms: number;
}

const ownLab = NovaLab.fromEnv();
const disruptive = ownLab !== undefined || process.env['NOVA_LAB_DISRUPTIVE'] === '1';

let lab: NovaLab;
let startedNova = false;
/** Servers this file booted in a lab it shares: deleted again at the end. */
let booted: readonly string[] = [];

async function probe<T>(args: string[], env: Record<string, string> = {}): Promise<ProbeOutput<T>> {
  const stdout = await lab.runInController([process.execPath, '--import', 'tsx', PROBE, lab.spec.prefix, ...args], { env, timeoutMs: 600_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ProbeOutput<T>;
}

async function probeOk<T>(args: string[], env: Record<string, string> = {}): Promise<T> {
  const output = await probe<T>(args, env);
  if (output.error !== undefined) throw new Error(`probe ${args.join(' ')}: ${output.name}: ${output.error}`);
  return output.result as T;
}

const freshStateDir = (): string => join(lab.dir, `probe-${randomBytes(4).toString('hex')}`);

function byHost(servers: readonly LabServer[]): Map<string, LabServer[]> {
  const hosts = new Map<string, LabServer[]>();
  for (const server of servers) hosts.set(server.host ?? '', [...(hosts.get(server.host ?? '') ?? []), server]);
  return hosts;
}

async function until<T>(what: string, timeoutMs: number, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: last ${JSON.stringify(value).slice(0, 300)}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

beforeAll(async () => {
  lab = ownLab ?? new NovaLab({ prefix: inject('labPrefix'), computes: 4 });
  if (!lab.isUp()) {
    await lab.up();
    startedNova = true;
  }
  await lab.seed();
  await lab.applicationCredential();
  const servers = await lab.servers();
  if (servers.length < SERVERS) {
    const result = await lab.boot(SERVERS - servers.length, 'nova-client');
    if (!ownLab) booted = result.servers;
  }
}, 900_000);

afterAll(async () => {
  if (startedNova) await lab?.down();
  else if (booted.length > 0) await lab.deleteServers(booted);
}, 300_000);

describe('Keystone', () => {
  it('authenticates with the password once; a second process reuses the cached 0600 token', async () => {
    const env = { NOVA_PROBE_STATE_DIR: freshStateDir() };
    const first = await probe(['services'], env);
    expect(first.error).toBeUndefined();
    expect(first.events).toContain('keystone-authenticated');
    const second = await probe(['services'], env);
    expect(second.events).toContain('keystone-token-from-cache');
    expect(second.events).not.toContain('keystone-authenticated');

    const [file] = readdirSync(env.NOVA_PROBE_STATE_DIR);
    const path = join(env.NOVA_PROBE_STATE_DIR, file!);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(env.NOVA_PROBE_STATE_DIR).mode & 0o777).toBe(0o700);
    const token = (JSON.parse(readFileSync(path, 'utf8')) as { token: string }).token;
    const lines = await probeOk<string[]>(['log-lines'], env);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).not.toContain(token);
      expect(line).not.toContain(lab.adminCredentials().password);
    }
  });

  it('authenticates with an application credential', async () => {
    const output = await probe<unknown[]>(['services'], { NOVA_PROBE_AUTH: 'appcred', NOVA_PROBE_STATE_DIR: freshStateDir() });
    expect(output.error).toBeUndefined();
    expect(output.events).toContain('keystone-authenticated');
    expect(output.result).toHaveLength(lab.spec.computes);
  });
});

describe('microversion negotiation', () => {
  it('speaks Zed\'s newest, 2.93, on the catalog\'s internal endpoint', async () => {
    expect(await probeOk(['negotiate'])).toEqual({ microversion: '2.93', endpoint: `http://${lab.controllerAddress}:8774/v2.1` });
  });

  it('stops at the newest microversion nova-ha knows, even when it could go higher', async () => {
    expect(await probeOk(['negotiate'], { NOVA_PROBE_NEWEST: '2.60' })).toMatchObject({ microversion: '2.60' });
  });

  it('refuses a cloud below microversion_floor, clearly', async () => {
    const output = await probe(['services'], { NOVA_PROBE_NEWEST: '2.99', NOVA_PROBE_FLOOR: '2.95' });
    expect(output.name).toBe('NovaConfigError');
    expect(output.error).toBe('Nova offers compute microversions 2.1 to 2.93, below [nova] microversion_floor = 2.95; upgrade Nova (Pike or newer gives 2.53) or lower microversion_floor');
  });
});

describe('reading', () => {
  it('lists every nova-compute service, up and not forced down', async () => {
    const services = await probeOk<{ host: string; binary: string; state: string; status: string; forcedDown: boolean }[]>(['services']);
    const hosts = services.map((s) => s.host).sort();
    expect(hosts).toEqual(Array.from({ length: lab.spec.computes }, (_, i) => `cmp${i + 1}`).sort());
    for (const service of services) expect(service).toMatchObject({ binary: 'nova-compute', state: 'up', status: 'enabled', forcedDown: false });
  });

  it('lists the servers on a host across pages (page size 2), as the lab sees them', async () => {
    // A server that failed to boot has no host: it is on no host's list.
    const [host, expected] = [...byHost(await lab.servers())].filter(([h]) => h !== '').sort((a, b) => b[1].length - a[1].length)[0]!;
    const listed = await probe<{ id: string; host: string; status: string }[]>(['servers', host, '2']);
    expect(listed.result!.map((s) => s.id).sort()).toEqual(expected.map((s) => s.id).sort());
    for (const server of listed.result!) expect(server.host).toBe(host);
    // One request per full page of 2, then the last page: short, or empty after a full one (3 servers: 2 requests, 4: 3).
    expect(listed.events.filter((e) => e === 'nova-request').length).toBeGreaterThanOrEqual(Math.floor(expected.length / 2) + 1);
  });

  it('reports a missing server as a 404 with Nova\'s message and request ID, on one line', async () => {
    const output = await probe(['server', '00000000-0000-0000-0000-000000000000']);
    expect(output.status).toBe(404);
    expect(output.requestId).toMatch(/^req-/);
    expect(output.error).toMatch(/^Nova GET \/v2\.1\/servers\/0{8}-0{4}-0{4}-0{4}-0{12}: HTTP 404 Not Found: Instance .* could not be found\. \(request req-[0-9a-f-]+\); /);
    expect(output.error).not.toContain('\n');
  });
});

describe.skipIf(!disruptive)('draining a healthy compute', () => {
  it('live-migrates a server away, confirmed by host change and a completed live-migration record', async () => {
    const [host, servers] = [...byHost(await lab.servers())].find(([h]) => h.startsWith('cmp'))!;
    const id = servers[0]!.id;
    const [result] = await probeOk<{ confirmedBy: string; requestId: string }[]>(['live-migrate', host, id]);
    expect(result).toMatchObject({ confirmedBy: 'response', requestId: expect.stringMatching(/^req-/) });
    const settled = await probeOk<Record<string, { host: string }>>(['wait-evacuated', host, '300', id]);
    expect(settled[id]!.host).not.toBe(host);
    const migrations = await until('the live migration completed', 60_000, () => probeOk<{ instanceUuid: string; status: string; destCompute: string }[]>(['migrations', host, 'live-migration']), (m) => m.some((x) => x.instanceUuid === id && x.status === 'completed'));
    expect(migrations.filter((m) => m.instanceUuid === id && m.status === 'completed').at(-1)!.destCompute).toBe(settled[id]!.host);
    // The fake driver keeps a live-migrated guest in the source's memory (a real hypervisor
    // cleans it up): evacuating the server back there later would fail with "Instance ...
    // already exists". A restart empties that memory.
    await lab.restartCompute(Number(host.slice(3)));
    await lab.waitReportedByRunning(Number(host.slice(3)), 120);
  });
});

describe.skipIf(!disruptive)('a compute whose nova-compute died', () => {
  let victim: string | undefined;
  let victimIndex = 0;

  afterAll(async () => {
    if (!victim) return;
    // Back to healthy for whoever comes next: restart, let Nova clean up, un-force, enable.
    await lab.startCompute(victimIndex);
    await until(`evacuation migrations from ${victim} completed`, 180_000, () => lab.migrations(victim, 'evacuation'), (m) => m.every((x) => x.status !== 'done'));
    await probeOk(['force-down', victim, 'false']);
    await probeOk(['enable', victim]);
    await lab.waitReportedByRunning(victimIndex, 120);
  }, 600_000);

  it('is refused evacuation while its service still counts as up', async () => {
    const [host, servers] = [...byHost(await lab.servers())].find(([h]) => h.startsWith('cmp'))!;
    const output = await probe(['evacuate', host, servers[0]!.id]);
    expect(output.status).toBe(400);
    expect(output.error).toContain(`Compute service of ${host} is still in use.`);
  });

  it('is forced down, its servers evacuated and confirmed by host change and migration records', async () => {
    const [host, servers] = [...byHost(await lab.servers())].filter(([h]) => h.startsWith('cmp')).sort((a, b) => b[1].length - a[1].length)[0]!;
    victim = host;
    victimIndex = Number(host.slice(3));
    const ids = servers.map((s) => s.id);

    await lab.stopCompute(victimIndex);
    const forced = await probeOk<{ forcedDown: boolean; state: string }>(['force-down', host, 'true']);
    expect(forced).toMatchObject({ forcedDown: true, state: 'down' });

    const evacuated = await probeOk<{ id: string; requestId: string; attempts: number; confirmedBy: string }[]>(['evacuate', host, ...ids]);
    for (const result of evacuated) expect(result).toMatchObject({ confirmedBy: 'response', attempts: 1, requestId: expect.stringMatching(/^req-/) });

    const settled = await probeOk<Record<string, { host: string; status: string; seconds: number }>>(['wait-evacuated', host, '300', ...ids]);
    for (const id of ids) {
      expect(settled[id]!.host).not.toBe(host);
      expect(settled[id]!.host).toMatch(/^cmp\d+$/);
    }

    const migrations = await probeOk<{ instanceUuid: string; migrationType: string; status: string; sourceCompute: string; destCompute: string; uuid: string }[]>(['migrations', host, 'evacuation']);
    for (const id of ids) {
      const mine = migrations.filter((m) => m.instanceUuid === id && m.status === 'done');
      expect(mine, `one done evacuation migration for ${id}`).toHaveLength(1);
      expect(mine[0]).toMatchObject({ migrationType: 'evacuation', sourceCompute: host, destCompute: settled[id]!.host, uuid: expect.any(String) });
    }

    const actions = await probeOk<{ action: string; requestId: string }[]>(['actions', ids[0]!]);
    const requestId = evacuated.find((r) => r.id === ids[0])!.requestId;
    expect(actions).toContainEqual(expect.objectContaining({ action: 'evacuate', requestId }));
  });

  it('cannot be un-forced before its nova-compute restarted and cleaned up', async () => {
    expect(victim).toBeDefined();
    const output = await probe(['force-down', victim!, 'false']);
    expect(output.status).toBe(400);
    expect(output.error).toContain('`done` evacuation migration records remain associated with the host');
  });
});
