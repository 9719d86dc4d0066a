/**
 * Which effects a controller has, from its config (recovery/controller-effects.ts), and the
 * Consul effect every controller has (recovery/effects.ts): the power read, power-on and fence
 * only where a BMC or fence levels are configured, each going to the device the config names;
 * the drain (live migration off a host whose tenant network is down) and its undoing only with
 * [evacuation] live_migrate_on_tenant_failure, recorded before and after, the host disabled
 * meanwhile, and what the operators are told. The BMC is a small ipmitool stand-in on PATH and
 * the fence agent a shell script (the real ones need a BMC: the lab tests give them one); Nova is
 * test/support/fake-nova.ts, handed out by NovaClient.fromConfig.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { controllerEffects, fencePower } from '../../lib/recovery/controller-effects.js';
import { consulEffects, exactNode, type FenceRun } from '../../lib/recovery/effects.js';
import { verifyRequest } from '../../lib/recovery/repair-request.js';
import { openIncident, type Incident } from '../../lib/state/incident.js';
import { KEYS, type KdumpRecord } from '../../lib/state/records.js';
import { REMEDIATION_EVENT } from '../../lib/systems/consul/names.js';
import { NovaClient } from '../../lib/systems/nova/index.js';
import { Secret } from '../../lib/shared/secret.js';
import { FakeCloud, HMAC_KEY, type FakeCloudOptions } from '../support/fake-cloud.js';
import { NovaRefused } from '../support/fake-nova.js';

const HOST = 'cmp1';
const dir = mkdtempSync(join(tmpdir(), 'nova-ha-effects-'));
const savedPath = process.env['PATH'];
const savedPassword = process.env['IPMI_PASSWORD'];

// An ipmitool stand-in: each host's power in the file named after its BMC address; "<address>.silent" makes
// the BMC unreachable, "<address>.refuse" makes it refuse power on. Every call is appended to "ipmitool.calls".
const IPMITOOL = `#!/bin/sh
echo "$*" >> '${dir}/ipmitool.calls'
address=''; prev=''
for a in "$@"; do if [ "$prev" = -H ]; then address=$a; fi; prev=$a; done
f='${dir}/'"$address"
if [ -e "$f.silent" ]; then echo 'Error: Unable to establish IPMI v2 / RMCP+ session' >&2; exit 1; fi
case "$prev" in
  status) echo "Chassis Power is $(cat "$f" 2>/dev/null || echo on)" ;;
  on) if [ -e "$f.refuse" ]; then echo 'Set Chassis Power Control to Up/On failed: Command not supported in present state' >&2; exit 1; fi; echo on > "$f"; echo 'Chassis Power Control: Up/On' ;;
  off) echo off > "$f"; echo 'Chassis Power Control: Down/Off' ;;
esac
`;
// A fence agent stand-in: the power of the node in "agent-<node>", every stdin appended to "agent.calls".
const AGENT = `#!/bin/sh
input=$(cat)
printf '%s\\n--\\n' "$input" >> '${dir}/agent.calls'
node=$(printf '%s\\n' "$input" | sed -n 's/^nodename=//p')
f='${dir}/agent-'"$node"
case "$input" in
  *action=status*) if [ "$(cat "$f" 2>/dev/null)" = off ]; then echo 'Status: OFF'; exit 2; else echo 'Status: ON'; exit 0; fi ;;
  *action=off*) echo off > "$f"; echo 'Success: Powered OFF' ;;
  *action=on*) echo on > "$f"; echo 'Success: Powered ON' ;;
esac
`;
const agentPath = join(dir, 'fence_standin');
const agentPassword = join(dir, 'standin.pw');

beforeAll(() => {
  writeFileSync(join(dir, 'ipmitool'), IPMITOOL);
  chmodSync(join(dir, 'ipmitool'), 0o755);
  writeFileSync(agentPath, AGENT);
  chmodSync(agentPath, 0o755);
  writeFileSync(agentPassword, 'Standin-Secret-7\n', { mode: 0o600 });
  process.env['PATH'] = `${dir}:${savedPath ?? ''}`;
  process.env['IPMI_PASSWORD'] = 'Ipmi-Secret-9';
});
afterAll(() => {
  process.env['PATH'] = savedPath;
  if (savedPassword === undefined) delete process.env['IPMI_PASSWORD'];
  else process.env['IPMI_PASSWORD'] = savedPassword;
  rmSync(dir, { recursive: true, force: true });
});

let cloud: FakeCloud | undefined;
afterEach(() => {
  cloud?.dispose();
  cloud = undefined;
  vi.restoreAllMocks();
  for (const f of ['ipmitool.calls', 'agent.calls', `${HOST}-bmc.test`, `${HOST}-bmc.test.silent`, `${HOST}-bmc.test.refuse`, `agent-${HOST}`]) rmSync(join(dir, f), { force: true });
});

/** A controller with these config sections over the fake cloud's (method ipmi, [ipmi] address_template {host}-bmc.test). */
function controller(config: FakeCloudOptions['config'] = {}): FakeCloud {
  cloud = new FakeCloud({ config });
  return cloud;
}

const NO_IPMI = { address_template: '' };
const AGENT_ONLY = { fencing: { method: 'agent', levels: 'standin' }, ipmi: NO_IPMI, 'fence_agent:standin': { agent: agentPath, options: 'ip={host}-pdu.test', password_file: agentPassword } };
const ipmitoolCalls = (): string[] => (existsSync(join(dir, 'ipmitool.calls')) ? readFileSync(join(dir, 'ipmitool.calls'), 'utf8').trim().split('\n') : []);
const agentCalls = (): string[] => (existsSync(join(dir, 'agent.calls')) ? readFileSync(join(dir, 'agent.calls'), 'utf8').split('--\n').filter((c) => c.trim()).map((c) => c.trim()) : []);
const bmcPower = (state: 'on' | 'off'): void => writeFileSync(join(dir, `${HOST}-bmc.test`), `${state}\n`);

describe('exactNode: the Consul event node filter matches exactly one node', () => {
  const cases: { node: string; filter: string; matches: string[]; misses: string[] }[] = [
    { node: 'cmp1', filter: '^cmp1$', matches: ['cmp1'], misses: ['cmp10', 'xcmp1', 'cmp'] },
    { node: 'cmp-1.example.com', filter: '^cmp-1\\.example\\.com$', matches: ['cmp-1.example.com'], misses: ['cmp-1Xexample.com', 'cmp-1.example.com.evil'] },
    { node: 'a*b+c?', filter: '^a\\*b\\+c\\?$', matches: ['a*b+c?'], misses: ['aab', 'abc', 'aaabbc'] },
    { node: 'n^1$(x)', filter: '^n\\^1\\$\\(x\\)$', matches: ['n^1$(x)'], misses: ['n1x'] },
    { node: 'h{2}[ab]|z\\y', filter: '^h\\{2\\}\\[ab\\]\\|z\\\\y$', matches: ['h{2}[ab]|z\\y'], misses: ['hha', 'z\\y', 'hhb|z'] },
  ];
  it.each(cases)('$node -> $filter', ({ node, filter, matches, misses }) => {
    expect(exactNode(node)).toBe(filter);
    const re = new RegExp(exactNode(node));
    for (const m of matches) expect(re.test(m), m).toBe(true);
    for (const m of misses) expect(re.test(m), m).toBe(false);
  });
});

describe('consulEffects: a repair request is a signed user event for that node only', () => {
  it('fires the remediation event on the management cluster, addressed to exactly the host, signed with the HMAC key, naming the action, incident and nonce', async () => {
    const c = controller();
    const before = Date.now();
    const id = await consulEffects(c.runtime).remediate(HOST, 'restart-nova-compute', 'cmp1-20260101T000000Z', 'nonce-42');
    const fired = c.consul.mgmt.events;
    expect(fired).toHaveLength(1);
    expect(id).toBe(fired[0]!.id);
    expect(fired[0]).toMatchObject({ name: REMEDIATION_EVENT, node: '^cmp1$' });
    for (const n of ['storage', 'tenant'] as const) expect(c.consul[n].events).toEqual([]);
    const verdict = verifyRequest(fired[0]!.payload, new Secret(HMAC_KEY), { self: HOST, now: Date.now(), maxAge: 60_000, allowed: new Set(['restart-nova-compute']) });
    expect(verdict).toMatchObject({ ok: true, request: { node: HOST, action: 'restart-nova-compute', incident: 'cmp1-20260101T000000Z', nonce: 'nonce-42' } });
    const ts = (JSON.parse(fired[0]!.payload) as { ts: number }).ts;
    expect(ts).toBeGreaterThanOrEqual(before);
    expect(ts).toBeLessThanOrEqual(Date.now());
  });
});

describe('controllerEffects: which effects a controller has, from its config', () => {
  it('[fencing] method ipmi with [ipmi]: reads power, powers on and fences through ipmitool; no drain without live_migrate_on_tenant_failure', async () => {
    const c = controller();
    const effects = controllerEffects(c.runtime);
    expect(Object.keys(effects).sort()).toEqual(['fence', 'powerOn', 'readPower', 'remediate', 'retryLeftBehind']);
    bmcPower('off');
    expect(await effects.readPower!(HOST)).toBe('off');
    await effects.powerOn!(HOST);
    expect(await effects.readPower!(HOST)).toBe('on');
    expect(ipmitoolCalls().map((call) => call.split(' ').slice(-3).join(' '))).toEqual(['chassis power status', 'chassis power on', 'chassis power status']);
    expect(ipmitoolCalls().every((call) => call.includes('-H cmp1-bmc.test') && !call.includes('Ipmi-Secret-9'))).toBe(true);
    expect(agentCalls()).toEqual([]);
  });

  it('a BMC that does not answer reads unknown, and the operator learns why from the log (power-unknown, with the host and the error)', async () => {
    const c = controller();
    const effects = controllerEffects(c.runtime);
    expect(await effects.readPower!(HOST)).toBe('on');
    expect(c.logs('power-unknown')).toEqual([]);
    writeFileSync(join(dir, `${HOST}-bmc.test.silent`), '');
    expect(await effects.readPower!(HOST)).toBe('unknown');
    const warnings = c.logs('power-unknown');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 'warning', host: HOST, error: 'BMC cmp1-bmc.test: Error: Unable to establish IPMI v2 / RMCP+ session' });
  });

  it('a power-on the BMC refuses throws with what the BMC said', async () => {
    const c = controller();
    writeFileSync(join(dir, `${HOST}-bmc.test.refuse`), '');
    await expect(controllerEffects(c.runtime).powerOn!(HOST)).rejects.toThrow('BMC cmp1-bmc.test: Set Chassis Power Control to Up/On failed: Command not supported in present state');
  });

  it('[fencing] method none with [ipmi]: reads and powers on through the BMC, but has no fence', async () => {
    const c = controller({ fencing: { method: 'none' } });
    const effects = controllerEffects(c.runtime);
    expect(Object.keys(effects).sort()).toEqual(['powerOn', 'readPower', 'remediate']);
    expect(fencePower(c.runtime)).toBeUndefined();
    expect(await effects.readPower!(HOST)).toBe('on');
    expect(ipmitoolCalls()).toHaveLength(1);
  });

  it('[fencing] method none and no BMC: only the repair requests, no power read, no power-on, no fence', () => {
    const c = controller({ fencing: { method: 'none' }, ipmi: NO_IPMI });
    const effects = controllerEffects(c.runtime);
    expect(Object.keys(effects)).toEqual(['remediate']);
    expect(fencePower(c.runtime)).toBeUndefined();
  });

  it('[fencing] method agent with no [ipmi]: reads power, powers on and powers off through the fence agent, never ipmitool', async () => {
    const c = controller(AGENT_ONLY);
    const effects = controllerEffects(c.runtime);
    expect(Object.keys(effects).sort()).toEqual(['fence', 'powerOn', 'readPower', 'remediate', 'retryLeftBehind']);
    writeFileSync(join(dir, `agent-${HOST}`), 'off\n');
    expect(await effects.readPower!(HOST)).toBe('off');
    await effects.powerOn!(HOST);
    expect(await effects.readPower!(HOST)).toBe('on');
    const power = fencePower(c.runtime)!;
    const records: string[] = [];
    const off = await power.powerOff(HOST, { record: async (step, outcome, detail) => void records.push(`${step} ${outcome}: ${detail}`), stillOwner: () => true });
    expect(off).toMatchObject({ verified: true, detail: 'verified by level 1 of 1 (standin)' });
    expect(records[0]).toBe(`fence-level started: level 1 of 1 (standin): ${agentPath} with ip, password on stdin`);
    expect(await power.readPower(HOST)).toBe('off');
    const actions = agentCalls().map((call) => /action=(\w+)/.exec(call)![1]);
    expect(actions.slice(0, 3)).toEqual(['status', 'on', 'status']);
    expect(actions).toContain('off');
    expect(agentCalls().every((call) => call.includes('nodename=cmp1\nip=cmp1-pdu.test'))).toBe(true);
    expect(ipmitoolCalls()).toEqual([]);
  });

  it('the fence effect powers the host off through its BMC and runs the fence on the Nova client built from the config, once', async () => {
    const c = controller();
    const fromConfig = vi.spyOn(NovaClient, 'fromConfig').mockImplementation(() => c.nova as unknown as NovaClient);
    const effects = controllerEffects(c.runtime);
    // The Nova client is built when a Nova step needs it, not for the effects' sake.
    expect(fromConfig).not.toHaveBeenCalled();
    const incident = await effects.fence!(runOf(c));
    expect(incident.phase).toBe('fenced');
    expect(incident.timeline.find((e) => e.step === 'fence-level' && e.outcome === 'started')?.detail).toBe('level 1 of 1 (ipmi): ipmitool to cmp1-bmc.test');
    expect(ipmitoolCalls().some((call) => call.endsWith('chassis power off'))).toBe(true);
    expect(c.nova.calls('forceDownAndDisable')).toHaveLength(1);
    expect(fromConfig).toHaveBeenCalledTimes(1);
    expect(fromConfig.mock.calls[0]![0]).toBe(c.runtime.config);
  });
});

describe('fencePower with [kdump] enabled: the power-off waits for the crash dump to end', () => {
  const KDUMP = { kdump: { enabled: 'true', interval: '10s', timeout: '600s' } };
  const seedDump = (c: FakeCloud, last: number): void => {
    const record: KdumpRecord = { from: '10.0.1.11', first: last - 60_000, last, count: 7, by: 'ctl2' };
    c.consul.mgmt.seed(c.key(KEYS.kdump(HOST)), record);
  };

  it('without [kdump]: no dump-aware power-off', () => {
    const power = fencePower(controller().runtime)!;
    expect(power.powerOffAfterDump).toBeUndefined();
    expect(power.dumping).toBeUndefined();
  });

  it("dumping reads the host's fence_kdump record: a message within three intervals is a dump under way; none, or an older one, is not", async () => {
    const c = controller(KDUMP);
    const power = fencePower(c.runtime)!;
    expect(await power.dumping!(HOST)).toBe(false);
    seedDump(c, Date.now() - 5_000);
    expect(await power.dumping!(HOST)).toBe(true);
    seedDump(c, Date.now() - 31_000);
    expect(await power.dumping!(HOST)).toBe(false);
  });

  it('a dump still running at the kdump timeout is powered off all the same, and the record says so; one with no record left is powered off at once', async () => {
    const c = controller(KDUMP);
    const power = fencePower(c.runtime)!;
    const records: string[] = [];
    const context = { record: async (step: string, outcome: string, detail?: string) => void records.push(`${step} ${outcome}: ${detail}`), stillOwner: () => true };
    seedDump(c, Date.now());
    const off = await power.powerOffAfterDump!(HOST, context, Date.now() - 600_000);
    expect(off.verified).toBe(true);
    expect(records[0]).toBe('kdump info: the dump still ran after [kdump] timeout (600 s): powering it off');
    expect(ipmitoolCalls().some((call) => call.endsWith('chassis power off'))).toBe(true);
    records.length = 0;
    await power.powerOffAfterDump!('cmp2', context, Date.now());
    expect(records[0]).toBe('kdump info: no fence_kdump record is left: powering it off');
  });
});

/** A fence run as the worker makes it: the incident opened if there is none, changed with check-and-set. */
function runOf(c: FakeCloud, open?: (i: Incident) => Incident): FenceRun {
  return {
    host: HOST,
    change: async (mutate) => (await c.store.change(HOST, (current) => mutate(current ?? (open ?? ((i) => i))(openIncident(HOST, 'tenant-network', 'tenant network down', Date.now() - 1000, c.runtime.node)))))!,
    stillOwner: () => true,
  };
}

describe('drain: live-migrate the instances off a host whose tenant network is down', () => {
  const DRAIN = { evacuation: { live_migrate_on_tenant_failure: 'true', retries: '0' } };
  const drainer = (over: FakeCloudOptions['config'] = {}): FakeCloud => {
    const c = controller({ ...DRAIN, ...over });
    vi.spyOn(NovaClient, 'fromConfig').mockImplementation(() => c.nova as unknown as NovaClient);
    return c;
  };

  it('only with [evacuation] live_migrate_on_tenant_failure', () => {
    const c = drainer();
    expect(Object.keys(controllerEffects(c.runtime)).sort()).toEqual(['drain', 'fence', 'powerOn', 'readPower', 'remediate', 'retryLeftBehind', 'undrain']);
  });

  it('records drain started, disables the host with the reason, live-migrates what it may, records the counts, and tells the operators', async () => {
    const c = drainer();
    c.nova.server('vm1', HOST);
    c.nova.server('vm2', HOST);
    c.nova.server('out', HOST, { metadata: { nova_ha_evacuate: 'no' } });
    c.nova.before('liveMigrate', ([id]) => {
      c.nova.behaviour = id === 'vm2' ? 'errors' : 'completes';
    });
    const before = Date.now();
    const incident = await controllerEffects(c.runtime).drain!(runOf(c));

    const drainSteps = incident.timeline.filter((e) => e.step === 'drain');
    expect(drainSteps.map((e) => e.outcome)).toEqual(['started', 'failed']);
    expect(drainSteps.every((e) => e.by === c.runtime.node && e.at >= before)).toBe(true);
    expect(drainSteps[1]!.detail).toBe('1 live-migrated, 1 skipped, 1 failed, of 3');
    expect(incident.attempts.drain).toBeGreaterThanOrEqual(before);
    expect(c.nova.calls('disableService')).toEqual([[`svc-${HOST}`, `nova-ha: draining (incident ${incident.id}: tenant network down)`]]);
    expect([...c.nova.callCounts('liveMigrate')]).toEqual([['vm1', 1], ['vm2', 1]]);
    expect(c.nova.calls('evacuate')).toEqual([]);
    // The host disabled before the first move, after drain started was recorded.
    const writes = c.incidentWrites(HOST);
    expect(writes[0]!.timeline.at(-1)).toMatchObject({ step: 'drain', outcome: 'started' });
    const disabledAt = c.journal.indexOf((e) => e.system === 'nova' && e.method === 'disableService');
    expect(disabledAt).toBeLessThan(c.journal.indexOf((e) => e.system === 'nova' && e.method === 'liveMigrate'));
    expect(c.journal.indexOf((e) => e.system === 'consul:mgmt' && e.method === 'kvPut')).toBeLessThan(disabledAt);

    expect(c.notes).toHaveLength(1);
    expect(c.notes[0]).toEqual({ host: HOST, event: 'drained', summary: 'tenant network down', action: 'instances live-migrated away', reason: '1 live-migrated, 1 skipped, 1 failed, of 3', incidentId: incident.id, timeline: incident.timeline, instances: incident.instances });
    expect(incident.instances!.map((o) => [o.id, o.outcome]).sort()).toEqual([['out', 'skipped'], ['vm1', 'live-migrated'], ['vm2', 'failed']]);
  });

  it('a resumed drain keeps the time of its first attempt, does not disable a host already disabled, and is done when every instance moved', async () => {
    const c = drainer();
    c.nova.service(HOST, { status: 'disabled', disabledReason: 'nova-ha: draining (incident x: tenant network down)' });
    c.nova.server('vm1', HOST);
    const first = Date.now() - 5000;
    const incident = await controllerEffects(c.runtime).drain!(runOf(c, (i) => ({ ...i, attempts: { ...i.attempts, drain: first, remediate: 3 } })));
    expect(incident.attempts).toEqual({ drain: first, remediate: 3 });
    expect(c.nova.calls('getComputeService')).toEqual([[HOST]]);
    expect(c.nova.calls('disableService')).toEqual([]);
    expect(incident.timeline.at(-1)).toMatchObject({ step: 'drain', outcome: 'done', detail: '1 live-migrated, 0 skipped, 0 failed, of 1' });
    expect(c.notes[0]).toMatchObject({ event: 'drained', reason: '1 live-migrated, 0 skipped, 0 failed, of 1' });
  });

  it('a drain Nova fails is recorded failed with the reason, and the operators get that reason', async () => {
    const c = drainer();
    c.nova.server('vm1', HOST);
    c.nova.failNext('getComputeService', new NovaRefused(503, 'Nova API unavailable'));
    const incident = await controllerEffects(c.runtime).drain!(runOf(c));
    expect(incident.timeline.filter((e) => e.step === 'drain').map((e) => [e.outcome, e.detail])).toEqual([['started', undefined], ['failed', 'Nova API unavailable']]);
    expect(incident.timeline.at(-1)!.by).toBe(c.runtime.node);
    expect(c.nova.calls('liveMigrate')).toEqual([]);
    expect(c.notes).toHaveLength(1);
    expect(c.notes[0]).toMatchObject({ host: HOST, event: 'drained', reason: 'Nova API unavailable', incidentId: incident.id, instances: [] });
  });

  it('undrain enables the host again only when nova-ha disabled it for a drain', async () => {
    const c = drainer();
    const undrain = controllerEffects(c.runtime).undrain!;
    const cases: { over: Parameters<typeof c.nova.service>[1]; enabled: boolean }[] = [
      { over: { status: 'disabled', disabledReason: 'nova-ha: draining (incident cmp1-1: tenant network down)' }, enabled: true },
      { over: { status: 'disabled', disabledReason: 'nova-ha: draining' }, enabled: true },
      { over: { status: 'disabled', disabledReason: 'maintenance by ops (nova-ha: draining)' }, enabled: false },
      { over: { status: 'disabled', disabledReason: 'nova-ha: fenced by incident cmp1-1; run "nova-ha unfence" to return it to service' }, enabled: false },
      { over: { status: 'disabled', disabledReason: null }, enabled: false },
      { over: { status: 'enabled', disabledReason: 'nova-ha: draining (incident cmp1-1: tenant network down)' }, enabled: false },
    ];
    for (const { over, enabled } of cases) {
      c.nova.service(HOST, over);
      const calls = c.nova.calls('enableService').length;
      await undrain(HOST);
      expect(c.nova.calls('enableService').length - calls, JSON.stringify(over)).toBe(enabled ? 1 : 0);
      if (enabled) expect(c.nova.services.get(HOST)!.status).toBe('enabled');
    }
    expect(c.nova.calls('enableService').every(([id]) => id === `svc-${HOST}`)).toBe(true);
  });
});

describe('retryLeftBehind: only with the capacity check and attempts', () => {
  it.each([
    ['check = false', { check: 'false' }],
    ['retry_attempts = 0', { retry_attempts: '0' }],
  ])('none with %s', (_name, capacity) => {
    const c = new FakeCloud({ config: { capacity } });
    try {
      expect(controllerEffects(c.runtime).retryLeftBehind).toBeUndefined();
    } finally {
      c.dispose();
    }
  });
});
