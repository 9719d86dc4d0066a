/**
 * The compute's half of a repair (recovery/node-repair.ts): which of its storage agent's members
 * count as the storage cluster's servers, what its check after a repair finds and says, and the
 * signed report it writes into its KV key. The storage and mgmt agents are a small HTTP stand-in
 * for Consul's API on 127.0.0.1; the storage servers are TCP listeners on 127.0.0.1; nova-compute
 * is this test's own process through a PID file, or a sequence of looks where time matters.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig, type Config } from '../../lib/config/load.js';
import { checkAfterRepair, checkNovaComputeStays, checkStoragePath, sendReport, storageVerdict } from '../../lib/recovery/node-repair.js';
import { verifyReport } from '../../lib/recovery/repair-request.js';
import { createLogger } from '../../lib/shared/log.js';
import type { NovaComputeOnNode } from '../../lib/systems/nova/compute-on-node.js';

/** Looks at nova-compute handed out in order before the real look is asked (empty: the real one). */
const looks = vi.hoisted(() => ({ queue: [] as NovaComputeOnNode[] }));
vi.mock('../../lib/systems/nova/compute-on-node.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../lib/systems/nova/compute-on-node.js')>();
  return { ...actual, novaComputeOnNode: async (options: Config['nova_compute']) => looks.queue.shift() ?? actual.novaComputeOnNode(options) };
});

const KEY = 'r'.repeat(64);
const dir = mkdtempSync(join(tmpdir(), 'nova-ha-node-repair-'));

/** The agent stand-in: what /v1/agent/members answers, and every KV write with what it answered. */
const agent = {
  members: [] as unknown[] | 'fail',
  putAnswers: [] as string[],
  puts: [] as { url: string; body: string }[],
};
let http: HttpServer;
let agentUrl = '';
const listeners: Server[] = [];
const open: number[] = [];
let closedPort = 0;

async function listen(): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
const portOf = (s: Server): number => (s.address() as { port: number }).port;

beforeAll(async () => {
  http = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET' && req.url?.startsWith('/v1/agent/members')) {
        if (agent.members === 'fail') {
          res.statusCode = 500;
          res.setHeader('content-type', 'text/plain');
          res.end('agent is sad');
        } else res.end(JSON.stringify(agent.members));
        return;
      }
      if (req.method === 'PUT' && req.url?.startsWith('/v1/kv/')) {
        agent.puts.push({ url: req.url, body });
        res.end(agent.putAnswers.shift() ?? 'true');
        return;
      }
      res.statusCode = 404;
      res.end('no such endpoint');
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  agentUrl = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
  for (let i = 0; i < 3; i++) listeners.push(await listen());
  open.push(...listeners.map(portOf));
  const closed = await listen();
  closedPort = portOf(closed);
  await new Promise<void>((resolve) => closed.close(() => resolve()));
});
afterAll(async () => {
  await new Promise<void>((resolve) => http.close(() => resolve()));
  await Promise.all(listeners.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  agent.members = [];
  agent.putAnswers = [];
  agent.puts = [];
  looks.queue = [];
});

function computeConfig(over: { iface?: string; settle?: string; pidFile?: string; mgmt?: string } = {}): Config {
  const text = [
    '[DEFAULT]', 'role = compute', 'node_name = cmp1',
    '[consul]', `mgmt_address = ${over.mgmt ?? agentUrl}`, `storage_address = ${agentUrl}`, `tenant_address = ${agentUrl}`, 'timeout = 2s',
    '[remediation]', `hmac_key = ${KEY}`, `storage_interface = ${over.iface ?? 'lo'}`, `settle_time = ${over.settle ?? '0s'}`,
    '[nova_compute]', 'systemd_unit =', 'process_name =', `pid_file = ${over.pidFile ?? join(dir, 'nova-compute.pid')}`,
  ].join('\n');
  const { config, problems } = parseConfig(text);
  if (!config) throw new Error(`test config refused: ${JSON.stringify(problems)}`);
  return config as Config;
}

const server = (name: string, port: number | string | undefined, extra: Record<string, unknown> = {}) => ({ Name: name, Addr: '127.0.0.1', Port: 8301, Status: 1, Tags: { role: 'consul', ...(port === undefined ? {} : { port: String(port) }) }, ...extra });
const self = (addr = '127.0.0.1') => ({ Name: 'cmp1', Addr: addr, Port: 8301, Status: 1, Tags: { role: 'node' } });

describe('the storage check counts only live servers with an RPC port, from the node\'s own address', () => {
  it('two of three servers answer: works at once, with the interface and the count', async () => {
    // A left server, one without a port, one with port 0, and a client with a port are not servers that count.
    agent.members = [server('s1', open[0]), server('s2', open[1]), server('s3', closedPort), server('gone', open[2], { Status: 3 }), server('noport', undefined), server('zero', 0), { ...server('client', open[2]), Tags: { role: 'node', port: String(open[2]) } }, self()];
    const finding = await checkStoragePath(computeConfig(), 'cmp1', 5000);
    expect(finding.result).toBe('works');
    expect(finding.detail).toMatch(/^lo up with 127\.0\.0\.1, 2 of 3 storage servers reachable after \d+\.\d s$/);
  });

  it('a failed server (not left) still counts against the majority', async () => {
    agent.members = [server('s1', open[0]), server('s2', closedPort, { Status: 4 }), server('s3', closedPort, { Status: 4 }), self()];
    const finding = await checkStoragePath(computeConfig(), 'cmp1', 0);
    expect(finding).toEqual({ result: 'still-broken', detail: expect.stringMatching(/^lo up with 127\.0\.0\.1, 1 of 3 storage servers reachable after \d+\.\d s$/) });
  });

  it('no storage interface configured: the count alone, and a majority is works', async () => {
    agent.members = [server('s1', open[0]), self()];
    expect(await checkStoragePath(computeConfig({ iface: '' }), 'cmp1', 5000)).toEqual({ result: 'works', detail: expect.stringMatching(/^1 of 1 storage servers reachable after \d+\.\d s$/) });
  });

  it('a node its agent does not list: the interface only has to be up', async () => {
    agent.members = [server('s1', open[0])];
    expect(await checkStoragePath(computeConfig(), 'cmp1', 5000)).toEqual({ result: 'works', detail: expect.stringMatching(/^lo up, 1 of 1 storage servers reachable/) });
  });

  it('servers reached but the interface lacks the node\'s storage address: no verdict, once the settle time is over', async () => {
    // 127.0.0.2 is local (all of 127/8 is), but not an address lo lists.
    agent.members = [server('s1', open[0]), self('127.0.0.2')];
    const finding = await checkStoragePath(computeConfig(), 'cmp1', 50);
    expect(finding).toEqual({ result: 'ran', detail: expect.stringMatching(/^lo up without 127\.0\.0\.2, 1 of 1 storage servers reachable after \d+\.\d s; the servers answer but the interface does not look right, so no verdict$/) });
  });

  it('no server reached: looks again until the settle time is over, then still broken', async () => {
    agent.members = [server('s1', closedPort), server('s2', closedPort), self()];
    const started = Date.now();
    const finding = await checkStoragePath(computeConfig(), 'cmp1', 120);
    expect(finding).toEqual({ result: 'still-broken', detail: expect.stringMatching(/^lo up with 127\.0\.0\.1, 0 of 2 storage servers reachable after \d+\.\d s$/) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(120);
  });

  it('an agent that does not list its members: the command ran, the path could not be checked, and why', async () => {
    agent.members = 'fail';
    expect(await checkStoragePath(computeConfig(), 'cmp1', 5000)).toEqual({ result: 'ran', detail: expect.stringMatching(/^the storage path could not be checked: this node's storage agent did not list its members \(HTTP 500: .*\)$/) });
  });

  it('an agent that lists no server: the command ran, and the likely fix is named', async () => {
    agent.members = [self(), server('noport', undefined)];
    expect(await checkStoragePath(computeConfig(), 'cmp1', 5000)).toEqual({ result: 'ran', detail: 'the storage path could not be checked: this node\'s storage agent lists no server (its [consul] storage_token may not read nodes: docs/consul-acl/compute-storage.hcl)' });
  });
});

describe("the node's verdict on one look at its storage path", () => {
  const iface = (ok: boolean) => ({ line: ok ? 'stor0 up with 10.0.2.21' : 'stor0 up without 10.0.2.21', ok });
  it.each([
    ['1 of 1, settling: works', { reached: 1, servers: 1, afterMs: 0 }, false, { result: 'works', detail: '1 of 1 storage servers reachable after 0.0 s' }],
    ['0 of 1, settling: look again', { reached: 0, servers: 1, afterMs: 0 }, false, undefined],
    ['0 of 1, settled: still broken', { reached: 0, servers: 1, afterMs: 5000 }, true, { result: 'still-broken', detail: '0 of 1 storage servers reachable after 5.0 s' }],
    ['3 of 5, 1234 ms: works, time to a tenth', { reached: 3, servers: 5, afterMs: 1234 }, false, { result: 'works', detail: '3 of 5 storage servers reachable after 1.2 s' }],
    ['2 of 5, settled: still broken', { reached: 2, servers: 5, afterMs: 1250 }, true, { result: 'still-broken', detail: '2 of 5 storage servers reachable after 1.3 s' }],
    ['1 of 2, settled: no majority', { reached: 1, servers: 2, afterMs: 0 }, true, { result: 'still-broken', detail: '1 of 2 storage servers reachable after 0.0 s' }],
    ['2 of 2 with the interface fine: works', { reached: 2, servers: 2, afterMs: 0, iface: iface(true) }, false, { result: 'works', detail: 'stor0 up with 10.0.2.21, 2 of 2 storage servers reachable after 0.0 s' }],
    ['2 of 2 with the interface wrong, settling: look again', { reached: 2, servers: 2, afterMs: 0, iface: iface(false) }, false, undefined],
    ['2 of 2 with the interface wrong, settled: no verdict', { reached: 2, servers: 2, afterMs: 0, iface: iface(false) }, true, { result: 'ran', detail: 'stor0 up without 10.0.2.21, 2 of 2 storage servers reachable after 0.0 s; the servers answer but the interface does not look right, so no verdict' }],
    ['0 of 2 with the interface wrong, settled: still broken', { reached: 0, servers: 2, afterMs: 0, iface: iface(false) }, true, { result: 'still-broken', detail: 'stor0 up without 10.0.2.21, 0 of 2 storage servers reachable after 0.0 s' }],
  ] as const)('%s', (_name, sample, settled, finding) => {
    expect(storageVerdict(sample, settled)).toEqual(finding);
  });
});

describe('the nova-compute check after its restart', () => {
  const pidFile = join(dir, 'nova-compute.pid');
  const up = (facts = ['process 1 running']): NovaComputeOnNode => ({ state: 'up', facts, problems: [], pids: [1] });
  const down = (problems = ['no nova-compute process']): NovaComputeOnNode => ({ state: 'down', facts: [], problems, pids: [] });
  const repeated = (look: NovaComputeOnNode): NovaComputeOnNode[] => Array.from({ length: 10 }, () => look);

  it('running when the settle time is over: works, with what was seen', async () => {
    writeFileSync(pidFile, `${process.pid}\n`);
    expect(await checkNovaComputeStays(computeConfig(), 0)).toEqual({ result: 'works', detail: `nova-compute running 0.0 s after the restart (process ${process.pid} running)` });
  });

  it('not running: still broken, since when, and why', async () => {
    const missing = join(dir, 'missing.pid');
    expect(await checkNovaComputeStays(computeConfig({ pidFile: missing }), 0)).toEqual({ result: 'still-broken', detail: `nova-compute not running 0.0 s after the restart (down since 0.0 s): no PID in ${missing}` });
  });

  it('could not be told (a PID file it cannot read): the command ran, no verdict', async () => {
    const unreadable = join(dir, 'a-directory.pid');
    mkdirSync(unreadable, { recursive: true });
    expect(await checkNovaComputeStays(computeConfig({ pidFile: unreadable }), 0)).toEqual({ result: 'ran', detail: `whether nova-compute runs 0.0 s after the restart could not be told: cannot read ${unreadable} (EISDIR); make it readable by the Consul agent's user` });
  });

  // With a settle time of 2 s it looks five times: at once, then every 500 ms. The last answer is
  // repeated past the fifth look, and the settle time is long, so that a busy machine (a look a
  // few hundred ms late) still ends on it.
  it('down at first and up at the end: works, and says it was down, since the first look that saw it down', async () => {
    looks.queue = [down(), down(), ...repeated(up(['a', 'b']))];
    const finding = await checkNovaComputeStays(computeConfig(), 2000);
    expect(finding.result).toBe('works');
    expect(finding.detail).toMatch(/^nova-compute running \d\.\d s after the restart \(a, b\), though it was down 0\.0 s after it$/);
  });

  it('up at first and down at the end: still broken, down since the first look that saw it down, every problem named', async () => {
    looks.queue = [up(), down(['p1', 'p2']), ...repeated(down(['p3', 'p4']))];
    const finding = await checkNovaComputeStays(computeConfig(), 2000);
    expect(finding.result).toBe('still-broken');
    const [, at, since] = /^nova-compute not running (\d\.\d) s after the restart \(down since (\d\.\d) s\): p3; p4$/.exec(finding.detail) ?? [];
    // Down since the second look (about 0.5 s), not the last (2 s or later).
    expect(Number(since)).toBeGreaterThan(0);
    expect(Number(since)).toBeLessThan(Number(at));
  });

  it('up at both looks: works, without a word about being down', async () => {
    looks.queue = [up(), ...repeated(up(['last']))];
    expect((await checkNovaComputeStays(computeConfig(), 1000)).detail).toMatch(/^nova-compute running \d\.\d s after the restart \(last\)$/);
  });

  it('looks again until the settle time is over, not longer', async () => {
    looks.queue = [up(), up(), up(), up(), up()];
    const finding = await checkNovaComputeStays(computeConfig(), 100);
    expect(finding.detail).toMatch(/^nova-compute running \d\.\d s after the restart \(process 1 running\)$/);
    // At once, and when the settle time is over (100 ms, shorter than the 500 ms between looks);
    // a timer that fires a millisecond early may add one look, never more.
    expect(looks.queue.length).toBeGreaterThanOrEqual(2);
  });
});

describe('which check follows which repair', () => {
  it('settle time 0: nothing checked, the report says only that the command ran', async () => {
    looks.queue = [{ state: 'down', facts: [], problems: ['x'], pids: [] }];
    expect(await checkAfterRepair(computeConfig({ settle: '0s' }), 'cmp1', 'restart-nova-compute')).toEqual({ result: 'ran', detail: 'the command exited 0; nothing checked after it ([remediation] settle_time = 0)' });
    expect(await checkAfterRepair(computeConfig({ settle: '0s' }), 'cmp1', 'restart-storage-network')).toEqual({ result: 'ran', detail: 'the command exited 0; nothing checked after it ([remediation] settle_time = 0)' });
    expect(looks.queue).toHaveLength(1);
  });

  it('after a storage repair, the storage path', async () => {
    agent.members = [server('s1', open[0]), self()];
    expect(await checkAfterRepair(computeConfig({ settle: '1ms' }), 'cmp1', 'restart-storage-network')).toMatchObject({ result: 'works', detail: expect.stringMatching(/storage servers reachable/) });
  });

  it('after a nova-compute restart, nova-compute', async () => {
    const seen: NovaComputeOnNode = { state: 'up', facts: ['seen'], pids: [1], problems: [] };
    looks.queue = [seen, seen, seen, seen, seen];
    expect(await checkAfterRepair(computeConfig({ settle: '1ms' }), 'cmp1', 'restart-nova-compute')).toMatchObject({ result: 'works', detail: expect.stringMatching(/^nova-compute running .* \(seen\)$/) });
  });
});

describe("the node's report into its KV key", () => {
  const fields = { node: 'cmp1', incident: 'cmp1-20261125T100000Z', action: 'restart-storage-network', request: 'nonce-1', result: 'works' as const, detail: 'lo up with 127.0.0.1, 1 of 1 storage servers reachable after 0.0 s' };
  const logged = () => {
    const lines: string[] = [];
    return { lines, log: createLogger({ component: 'test', level: 'debug', stream: { write: (l: string) => lines.push(l) } }), records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
  };

  it('lands signed in repair-reports/NODE under the prefix, verifies on the controller side, and is logged without the key', async () => {
    const { log, lines, records } = logged();
    expect(await sendReport(computeConfig(), fields, log)).toBe(true);
    expect(agent.puts).toHaveLength(1);
    expect(decodeURIComponent(agent.puts[0]!.url.split('?')[0]!)).toBe('/v1/kv/nova-ha/repair-reports/cmp1');
    const verdict = verifyReport(agent.puts[0]!.body, computeConfig().remediation.hmac_key, { host: 'cmp1', incident: fields.incident, requests: { 'restart-storage-network': ['nonce-1'] }, now: Date.now(), maxAge: 60_000 });
    expect(verdict).toMatchObject({ ok: true, report: fields });
    expect(records()).toEqual([expect.objectContaining({ event: 'repair-report-sent', incident: fields.incident, step: fields.action, result: 'works', detail: fields.detail, key: 'nova-ha/repair-reports/cmp1' })]);
    expect(lines.join('')).not.toContain(KEY);
  });

  it('a write Consul did not store is tried again, and then lands', async () => {
    agent.putAnswers = ['false'];
    const { log, records } = logged();
    expect(await sendReport(computeConfig(), fields, log)).toBe(true);
    expect(agent.puts).toHaveLength(2);
    expect(records().map((r) => r['event'])).toEqual(['repair-report-sent']);
  });

  it('a write Consul never stores: four tries, then false, logged with the error and the fix', async () => {
    agent.putAnswers = ['false', 'false', 'false', 'false', 'true'];
    const { log, records } = logged();
    expect(await sendReport(computeConfig(), fields, log)).toBe(false);
    expect(agent.puts).toHaveLength(4);
    expect(records()).toEqual([expect.objectContaining({
      event: 'repair-report-failed',
      incident: fields.incident,
      step: fields.action,
      result: 'works',
      key: 'nova-ha/repair-reports/cmp1',
      error: 'Consul did not store it',
      fix: 'the controller waits out its repair_timeout instead; check [consul] mgmt_address and that [consul] mgmt_token may write nova-ha/repair-reports/cmp1 (docs/consul-acl/compute-node-mgmt.hcl)',
    })]);
  });
});
