/**
 * A host's power through its fence levels (recovery/fence-levels.ts), with the devices simulated
 * by small scripts that record every call: a fence agent of the stdin protocol (its behaviour set
 * by its options) and an ipmitool put first on PATH (its BMCs' states in files). Which level is
 * asked, in what order, what each attempt records, when the watchdog counts, which power a read
 * reports, and when the power-off after a crash dump goes ahead.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig, type Config } from '../../lib/config/load.js';
import type { FenceEvidence, KdumpSettings } from '../../lib/decision/fence-evidence.js';
import { planFor, powerOffAfterDump, powerOffThroughLevels, powerOnThroughLevels, readHostPower, readPowerThroughLevels } from '../../lib/recovery/fence-levels.js';
import type { PowerOffContext } from '../../lib/recovery/fence.js';
import type { KdumpRecord } from '../../lib/state/records.js';
import { CONTROLLER_INI } from '../support/config-ini.js';

const BASE = CONTROLLER_INI;

const dir = mkdtempSync(join(tmpdir(), 'nova-ha-levels-'));
const calls = join(dir, 'calls');
const agent = join(dir, 'fence_sim');
const ipmiPassword = join(dir, 'ipmi.pw');
const agentPassword = join(dir, 'agent.pw');
/** behave=works: status says what its file says, off and on change it; silent: every call fails; off-always: status says off; refuses: status on, on and off fail. */
writeFileSync(agent, `#!/bin/sh
input=$(cat)
opt() { printf '%s\\n' "$input" | sed -n "s/^$1=//p"; }
action=$(opt action); dev=$(opt dev); behave=$(opt behave); node=$(opt nodename)
printf '%s %s\\n' "$dev" "$action" >> '${calls}'
state='${dir}'/"agent-$dev-$node-off"
case "$behave" in
  silent) echo 'ERROR: Connection timed out' >&2; exit 1 ;;
  off-always) [ "$action" = status ] && { echo 'Status: OFF'; exit 2; }; exit 0 ;;
  refuses) [ "$action" = status ] && { echo 'Status: ON'; exit 0; }; echo 'Failed: the device refused' >&2; exit 1 ;;
esac
case "$action" in
  status) if [ -e "$state" ]; then echo 'Status: OFF'; exit 2; else echo 'Status: ON'; exit 0; fi ;;
  off) touch "$state" ;;
  on) rm -f "$state" ;;
esac
`);
chmodSync(agent, 0o755);
const ipmitool = join(dir, 'bin', 'ipmitool');
writeFileSync(ipmiPassword, 'Ipmi-Secret-1\n', { mode: 0o600 });
writeFileSync(agentPassword, 'Agent-Secret-2\n', { mode: 0o600 });

let savedPath: string | undefined;
beforeAll(() => {
  // An ipmitool that answers like a BMC: "ipmi-ADDRESS-off" holds the power state, "ipmi-ADDRESS-silent" makes it fail.
  mkdirSync(join(dir, 'bin'));
  writeFileSync(ipmitool, `#!/bin/sh
for command; do :; done
while [ $# -gt 0 ]; do [ "$1" = -H ] && address=$2; shift; done
printf 'ipmi %s %s\\n' "$address" "$command" >> '${calls}'
if [ -e '${dir}'/"ipmi-$address-silent" ]; then echo 'Error: Unable to establish IPMI v2 / RMCP+ session' >&2; exit 1; fi
state='${dir}'/"ipmi-$address-off"
case "$command" in
  status) if [ -e "$state" ]; then echo 'Chassis Power is off'; else echo 'Chassis Power is on'; fi ;;
  off) touch "$state"; echo 'Chassis Power Control: Down/Off' ;;
  on) rm -f "$state"; echo 'Chassis Power Control: Up/On' ;;
esac
`);
  chmodSync(ipmitool, 0o755);
  savedPath = process.env.PATH;
  process.env.PATH = `${join(dir, 'bin')}:${savedPath ?? ''}`;
});
afterAll(() => {
  process.env.PATH = savedPath;
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  for (const f of ['agent-a-cmp1-off', 'agent-b-cmp1-off', 'agent-c-cmp1-off', 'ipmi-cmp1-bmc-off', 'ipmi-cmp1-bmc-silent', 'calls']) rmSync(join(dir, f), { force: true });
});

/** The calls the devices received, in order: "a status", "ipmi cmp1-bmc off". */
const deviceCalls = (): string[] => {
  try {
    return readFileSync(calls, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

/** A config with these levels (method agent) and a [fence_agent:NAME] per device, its behaviour in its options; a fence timeout no slow machine reaches unless told. */
function configWith(levels: string, devices: Record<string, string>, extra = '', fenceTimeout = '30s'): Config {
  const sections = Object.entries(devices).map(([name, behave]) => `[fence_agent:${name}]\nagent = ${agent}\noptions = dev=${name} behave=${behave}\n`).join('\n');
  const { config, problems } = parseConfig(`${BASE}
[fencing]
method = agent
levels = ${levels}
fence_timeout = ${fenceTimeout}
[ipmi]
username = nova-ha
password_file = ${ipmiPassword}
address_template = {host}-bmc
${sections}
${extra}`);
  const errors = problems.filter((p) => !p.warning);
  if (!config || errors.length) throw new Error(JSON.stringify(errors));
  return config;
}

const withMethod = (config: Config, method: Config['fencing']['method']): Config => ({ ...config, fencing: { ...config.fencing, method } });

interface Recorded {
  readonly context: PowerOffContext;
  readonly records: string[];
}

function recorder(evidence?: FenceEvidence, stillOwner: (records: readonly string[]) => boolean = () => true): Recorded {
  const records: string[] = [];
  return {
    records,
    context: {
      record: async (step, outcome, detail) => void records.push(`${step} ${outcome}: ${detail}`),
      stillOwner: () => stillOwner(records),
      ...(evidence ? { evidence } : {}),
    },
  };
}

const SAFE: FenceEvidence = { selfFence: { lastContact: Date.parse('2026-11-25T10:00:00Z'), timeoutMs: 60_000, marginMs: 30_000, safeAt: Date.parse('2026-11-25T10:02:30Z') } };
const WATCHDOG_TEXT = 'last contact 2026-11-25T10:00:00.000Z + 2 x 1m + margin 30s = 2026-11-25T10:02:30.000Z';
const missingPassword = (device: string): string => `cannot read ${join(dir, 'gone.pw')}, the password of fence device ${device} (ENOENT); it must be readable by the Consul agents' user`;

describe('powerOffThroughLevels: the levels in order until one verifies', () => {
  it('a level that fails is recorded failed, the next is tried and verifies; the levels after it are not asked', async () => {
    const config = configWith('a, b, c', { a: 'works', b: 'works', c: 'works' }, '');
    const gone: Config = { ...config, fenceAgents: new Map([...config.fenceAgents].map(([k, v]) => [k, k === 'a' ? { ...v, password_file: join(dir, 'gone.pw') } : v])) };
    const { context, records } = recorder();
    const result = await powerOffThroughLevels(gone, 'cmp1', context);
    expect(result).toEqual({ verified: true, after: expect.any(Number), detail: 'verified by level 2 of 3 (b)' });
    expect(result.after).toBeGreaterThanOrEqual(0);
    expect(result.after).toBeLessThan(60_000);
    expect(records).toEqual([
      `fence-level started: level 1 of 3 (a): ${agent} with dev, behave, password on stdin`,
      `fence-level failed: level 1 of 3 (a): ${missingPassword('a')}`,
      `fence-level started: level 2 of 3 (b): ${agent} with dev, behave`,
      expect.stringMatching(new RegExp(`^fence-level done: level 2 of 3 \\(b\\): ${agent} off sent; its status reported off after \\d+ ms$`)),
    ]);
    expect(deviceCalls()).toEqual(['b status', 'b off', 'b status']);
  });

  it('no level verifies: not verified, each failure named by its level, in order', async () => {
    const config = configWith('a, ipmi', { a: 'works' });
    const broken: Config = { ...config, fenceAgents: new Map([['a', { ...config.fenceAgents.get('a')!, password_file: join(dir, 'gone.pw') }]]), ipmi: { ...config.ipmi, password_file: '', password_env: 'NOVA_HA_TEST_UNSET_PASSWORD' } };
    delete process.env.NOVA_HA_TEST_UNSET_PASSWORD;
    const { context, records } = recorder();
    const result = await powerOffThroughLevels(broken, 'cmp1', context);
    const ipmiWhy = 'the environment variable NOVA_HA_TEST_UNSET_PASSWORD (BMC password of cmp1) is not set for the Consul agent';
    expect(result).toEqual({ verified: false, after: expect.any(Number), detail: `no fence level verified the power off: a: ${missingPassword('a')}; ipmi: ${ipmiWhy}` });
    expect(result.after).toBeLessThan(60_000);
    expect(records).toEqual([
      `fence-level started: level 1 of 2 (a): ${agent} with dev, behave, password on stdin`,
      `fence-level failed: level 1 of 2 (a): ${missingPassword('a')}`,
      'fence-level started: level 2 of 2 (ipmi): ipmitool to cmp1-bmc',
      `fence-level failed: level 2 of 2 (ipmi): ${ipmiWhy}`,
    ]);
    expect(deviceCalls()).toEqual([]);
  });

  it('a host already off at its BMC: verified at once, no power-off sent', async () => {
    writeFileSync(join(dir, 'ipmi-cmp1-bmc-off'), '');
    const { context, records } = recorder();
    const result = await powerOffThroughLevels(configWith('ipmi, a', { a: 'works' }), 'cmp1', context);
    expect(result).toMatchObject({ verified: true, detail: 'verified by level 1 of 2 (ipmi)' });
    expect(records).toEqual(['fence-level started: level 1 of 2 (ipmi): ipmitool to cmp1-bmc', 'fence-level done: level 1 of 2 (ipmi): the BMC already reported power off']);
    expect(deviceCalls()).toEqual(['ipmi cmp1-bmc status']);
  });

  it('method ipmi is the BMC alone, whatever levels are listed', async () => {
    const { context, records } = recorder();
    const result = await powerOffThroughLevels(withMethod(configWith('a', { a: 'works' }), 'ipmi'), 'cmp1', context);
    expect(result).toMatchObject({ verified: true, detail: 'verified by level 1 of 1 (ipmi)' });
    expect(records[1]).toMatch(/^fence-level done: level 1 of 1 \(ipmi\): power off sent; the BMC reported off after \d+ ms$/);
    expect(deviceCalls()).toEqual(['ipmi cmp1-bmc status', 'ipmi cmp1-bmc off', 'ipmi cmp1-bmc status']);
  });

  it("a host's own [fencing:HOST] levels replace the default ones", async () => {
    const config = configWith('a', { a: 'works', b: 'works' }, '[fencing:cmp1]\nlevels = b\n');
    expect(planFor(config, 'cmp1', Date.now()).levels).toEqual([{ kind: 'agent', device: 'b' }]);
    expect(planFor(config, 'cmp2', Date.now()).levels).toEqual([{ kind: 'agent', device: 'a' }]);
    const { context } = recorder();
    expect(await powerOffThroughLevels(config, 'cmp1', context)).toMatchObject({ verified: true, detail: 'verified by level 1 of 1 (b)' });
    expect(deviceCalls()).toEqual(['b status', 'b off', 'b status']);
  });

  it('method none: not verified, and the detail says no level is configured', async () => {
    const { context, records } = recorder();
    const result = await powerOffThroughLevels(withMethod(configWith('a', { a: 'works' }), 'none'), 'cmp1', context);
    expect(result).toEqual({ verified: false, after: expect.any(Number), detail: 'no fence level is configured ([fencing] method)' });
    expect(records).toEqual([]);
    expect(deviceCalls()).toEqual([]);
  });

  it('describes each target as the operator configured it: an agent without options, a level with a config error', async () => {
    const config = configWith('a, b', { a: 'works', b: 'works' });
    const bare: Config = { ...config, fenceAgents: new Map([['a', { ...config.fenceAgents.get('a')!, options: '', password_file: join(dir, 'gone.pw') }]]) };
    const { context, records } = recorder();
    const result = await powerOffThroughLevels(bare, 'cmp1', context);
    const noSection = 'no [fence_agent:b] section for the fence level "b" of cmp1: add it, or change [fencing] levels';
    expect(records).toEqual([
      `fence-level started: level 1 of 2 (a): ${agent} with no options, password on stdin`,
      `fence-level failed: level 1 of 2 (a): ${missingPassword('a')}`,
      `fence-level started: level 2 of 2 (b): ${noSection}`,
      `fence-level failed: level 2 of 2 (b): ${noSection}`,
    ]);
    expect(result.detail).toBe(`no fence level verified the power off: a: ${missingPassword('a')}; b: ${noSection}`);
  });

  it('an ipmi level without a BMC address is a failed level that says what to configure', async () => {
    const config = configWith('ipmi', {});
    const { context, records } = recorder();
    const result = await powerOffThroughLevels({ ...config, ipmi: { ...config.ipmi, address_template: '' } }, 'cmp1', context);
    const why = 'no BMC address for cmp1: add [ipmi:cmp1] address = ... or [ipmi] address_template';
    expect(records).toEqual([`fence-level started: level 1 of 1 (ipmi): ${why}`, `fence-level failed: level 1 of 1 (ipmi): ${why}`]);
    expect(result).toMatchObject({ verified: false, detail: `no fence level verified the power off: ipmi: ${why}` });
  });

  it('an error that is not a config error is not taken for a failed level: it propagates', async () => {
    const config = configWith('a', { a: 'works' });
    const throwing = (after: number) => {
      let n = 0;
      return { get: () => (n++ >= after ? (() => { throw new TypeError('a bug, not a config'); })() : config.fenceAgents.get('a')) } as unknown as Config['fenceAgents'];
    };
    // While describing the target, and while powering off (the description went well).
    await expect(powerOffThroughLevels({ ...config, fenceAgents: throwing(0) }, 'cmp1', recorder().context)).rejects.toThrow('a bug, not a config');
    await expect(powerOffThroughLevels({ ...config, fenceAgents: throwing(1) }, 'cmp1', recorder().context)).rejects.toThrow('a bug, not a config');
    const ipmiBug = { ...config, fencing: { ...config.fencing, method: 'ipmi' as const }, ipmiHosts: { get: () => { throw new TypeError('an ipmi bug'); } } as unknown as Config['ipmiHosts'] };
    await expect(powerOffThroughLevels(ipmiBug, 'cmp1', recorder().context)).rejects.toThrow('an ipmi bug');
    await expect(readHostPower(ipmiBug, 'cmp1')).rejects.toThrow('an ipmi bug');
  });
});

describe('powerOffThroughLevels: the lock and the watchdog', () => {
  it('a run without the host lock asks no device and records nothing', async () => {
    const { context, records } = recorder(undefined, () => false);
    expect(await powerOffThroughLevels(configWith('a', { a: 'works' }), 'cmp1', context)).toEqual({ verified: false, after: expect.any(Number), detail: 'lost the host lock during the fence' });
    expect(records).toEqual([]);
    expect(deviceCalls()).toEqual([]);
  });

  it('a lock lost after a failed level: the next level is not asked', async () => {
    const config = configWith('a, b', { a: 'works', b: 'works' });
    const gone: Config = { ...config, fenceAgents: new Map([...config.fenceAgents].map(([k, v]) => [k, k === 'a' ? { ...v, password_file: join(dir, 'gone.pw') } : v])) };
    const { context, records } = recorder(undefined, (r) => r.length < 2);
    expect(await powerOffThroughLevels(gone, 'cmp1', context)).toMatchObject({ verified: false, detail: 'lost the host lock during the fence' });
    expect(records.map((r) => r.split(':')[0])).toEqual(['fence-level started', 'fence-level failed']);
    expect(deviceCalls()).toEqual([]);
  });

  it("with the watchdog's safe time passed: a silent device is given up at its first status, and the watchdog is recorded as the level that verified", async () => {
    const { context, records } = recorder(SAFE);
    const result = await powerOffThroughLevels(configWith('a', { a: 'silent' }), 'cmp1', context);
    expect(result).toMatchObject({ verified: true, detail: 'verified by level 2 of 2 (watchdog)' });
    expect(records).toEqual([
      `fence-level started: level 1 of 2 (a): ${agent} with dev, behave`,
      `fence-level failed: level 1 of 2 (a): no answer: ${agent} (fence device a): ERROR: Connection timed out`,
      `fence-level done: level 2 of 2 (watchdog): no BMC or agent confirmed the power off, but the host's watchdog was armed and the safe time has passed (${WATCHDOG_TEXT}): it has reset itself`,
    ]);
    expect(deviceCalls()).toEqual(['a status']);
  });

  it("with the watchdog's safe time passed: a BMC that does not answer is given up at its first status too", async () => {
    writeFileSync(join(dir, 'ipmi-cmp1-bmc-silent'), '');
    const { context, records } = recorder(SAFE);
    const result = await powerOffThroughLevels(configWith('ipmi', {}), 'cmp1', context);
    expect(result).toMatchObject({ verified: true, detail: 'verified by level 2 of 2 (watchdog)' });
    expect(records[1]).toMatch(/^fence-level failed: level 1 of 2 \(ipmi\): the BMC did not answer \(BMC cmp1-bmc: Error: Unable to establish IPMI v2 \/ RMCP\+ session\)$/);
    expect(deviceCalls()).toEqual(['ipmi cmp1-bmc status']);
  });

  it('a level that verifies goes before the watchdog: the watchdog is not recorded', async () => {
    const { context, records } = recorder(SAFE);
    expect(await powerOffThroughLevels(configWith('a', { a: 'works' }), 'cmp1', context)).toMatchObject({ verified: true, detail: 'verified by level 1 of 2 (a)' });
    expect(records.filter((r) => r.includes('watchdog'))).toEqual([]);
  });

  it('a watchdog whose safe time has not come is no level: the silent device is asked to power off and waited on until the fence timeout', async () => {
    const early: FenceEvidence = { selfFence: { ...SAFE.selfFence!, safeAt: Date.now() + 3_600_000 } };
    const { context, records } = recorder(early);
    const result = await powerOffThroughLevels(configWith('a', { a: 'silent' }, '', '1s'), 'cmp1', context);
    expect(result.verified).toBe(false);
    expect(result.detail).toBe(`no fence level verified the power off: a: ${agent} status did not report off within 1000 ms (${agent} (fence device a): ERROR: Connection timed out)`);
    expect(records.map((r) => r.split(':')[0])).toEqual(['fence-level started', 'fence-level failed']);
    expect(records[0]).toBe(`fence-level started: level 1 of 1 (a): ${agent} with dev, behave`);
    expect(deviceCalls().slice(0, 2)).toEqual(['a status', 'a off']);
  });
});

describe('reading the power through the levels', () => {
  it.each([
    ['off when any level says off, even if another says on', { a: 'works', b: 'off-always' }, { state: 'off', errors: [] }],
    ['on when a level says on and none says off', { a: 'silent', b: 'works' }, { state: 'on', errors: [`a: ${agent} (fence device a): ERROR: Connection timed out`] }],
    ['unknown when none can say, with each level\'s error', { a: 'silent', b: 'silent' }, { state: 'unknown', errors: [`a: ${agent} (fence device a): ERROR: Connection timed out`, `b: ${agent} (fence device b): ERROR: Connection timed out`] }],
  ] as const)('%s', async (_name, devices, expected) => {
    expect(await readPowerThroughLevels(configWith('a, b', devices), 'cmp1')).toEqual(expected);
  });

  it('readHostPower with method agent: the state alone when known, else unknown with every level\'s error', async () => {
    expect(await readHostPower(configWith('a, b', { a: 'silent', b: 'works' }), 'cmp1')).toEqual({ state: 'on' });
    expect(await readHostPower(configWith('a, b', { a: 'silent', b: 'off-always' }), 'cmp1')).toEqual({ state: 'off' });
    expect(await readHostPower(configWith('a, b', { a: 'silent', b: 'silent' }), 'cmp1')).toEqual({ state: 'unknown', error: `a: ${agent} (fence device a): ERROR: Connection timed out; b: ${agent} (fence device b): ERROR: Connection timed out` });
  });

  it('readHostPower with method agent and no level at all: unknown, "no fence level answers"', async () => {
    const config = configWith('a', { a: 'works' });
    expect(await readHostPower({ ...config, fencing: { ...config.fencing, levels: [] } }, 'cmp1')).toEqual({ state: 'unknown', error: 'no fence level answers' });
  });

  it('a level with a config error reads as unknown with the fix', async () => {
    const config = configWith('a', { a: 'works' });
    expect(await readHostPower({ ...config, fenceAgents: new Map() }, 'cmp1')).toEqual({ state: 'unknown', error: 'a: no [fence_agent:a] section for the fence level "a" of cmp1: add it, or change [fencing] levels' });
  });

  it('readHostPower with method ipmi or none reads the BMC, not the agents', async () => {
    writeFileSync(join(dir, 'ipmi-cmp1-bmc-off'), '');
    const config = configWith('a', { a: 'works' });
    expect(await readHostPower(withMethod(config, 'ipmi'), 'cmp1')).toEqual({ state: 'off' });
    expect(await readHostPower(withMethod(config, 'none'), 'cmp1')).toEqual({ state: 'off' });
    expect(deviceCalls()).toEqual(['ipmi cmp1-bmc status', 'ipmi cmp1-bmc status']);
  });
});

describe('powerOnThroughLevels', () => {
  it('the BMC as a level powers the host on through ipmitool', async () => {
    writeFileSync(join(dir, 'ipmi-cmp1-bmc-off'), '');
    await powerOnThroughLevels(configWith('ipmi, a', { a: 'works' }), 'cmp1');
    expect(deviceCalls()).toEqual(['ipmi cmp1-bmc on']);
  });

  it('the first level that accepts powers it on; the levels after it are not asked', async () => {
    await powerOnThroughLevels(configWith('a, b, c', { a: 'refuses', b: 'works', c: 'works' }), 'cmp1');
    expect(deviceCalls()).toEqual(['a on', 'b on']);
  });

  it('no level accepts: an error naming the host and each level with why', async () => {
    await expect(powerOnThroughLevels(configWith('a, b', { a: 'refuses', b: 'silent' }), 'cmp1')).rejects.toThrow(`no fence level of cmp1 powered it on (a: ${agent} (fence device a): Failed: the device refused; b: ${agent} (fence device b): ERROR: Connection timed out)`);
  });

  it('no level configured: an error that says so', async () => {
    await expect(powerOnThroughLevels(withMethod(configWith('a', { a: 'works' }), 'none'), 'cmp1')).rejects.toThrow('no fence level of cmp1 powered it on (none configured)');
    expect(deviceCalls()).toEqual([]);
  });
});

describe('powerOffAfterDump: waits for the crash dump to end, then powers off through the levels', () => {
  const KDUMP: KdumpSettings = { intervalMs: 10_000, firstMessageWaitMs: 0, timeoutMs: 600_000 };
  const dumpRecord = (last: number, count = 3): KdumpRecord => ({ from: '198.18.1.101', first: last - 20_000, last, count, by: 'ctl1' });
  afterEach(() => vi.useRealTimers());

  /** readRecord answering from a script, one answer a read (the last repeats); an Error answer rejects. */
  function reads(answers: (KdumpRecord | undefined | Error | (() => KdumpRecord | undefined))[]) {
    let n = 0;
    const read = async (): Promise<KdumpRecord | undefined> => {
      const answer = answers[Math.min(n++, answers.length - 1)];
      if (answer instanceof Error) throw answer;
      return typeof answer === 'function' ? answer() : answer;
    };
    return { read, count: () => n };
  }

  it('a dump whose last message is older than three intervals has ended: says when and how many, then powers off', async () => {
    const last = Date.now() - 30_001;
    const { context, records } = recorder();
    const r = reads([dumpRecord(last, 7)]);
    const result = await powerOffAfterDump(configWith('a', { a: 'works' }), 'cmp1', context, Date.now(), r.read, KDUMP, 1);
    expect(result).toMatchObject({ verified: true, detail: 'verified by level 1 of 1 (a)' });
    expect(records[0]).toBe(`kdump info: the dump ended (last fence_kdump message ${new Date(last).toISOString()}, 7 in all): powering it off`);
    expect(records.slice(1).map((x) => x.split(':')[0])).toEqual(['fence-level started', 'fence-level done']);
    expect(r.count()).toBe(1);
  });

  it('no record left: the dump counts as ended', async () => {
    const { context, records } = recorder();
    await powerOffAfterDump(configWith('a', { a: 'works' }), 'cmp1', context, Date.now(), reads([undefined]).read, KDUMP, 1);
    expect(records[0]).toBe('kdump info: no fence_kdump record is left: powering it off');
  });

  it('while messages still come it waits, reading again, and powers off only once they stop', async () => {
    const { context, records } = recorder();
    const r = reads([() => dumpRecord(Date.now()), () => dumpRecord(Date.now() - 29_000), undefined]);
    await powerOffAfterDump(configWith('a', { a: 'works' }), 'cmp1', context, Date.now(), r.read, KDUMP, 1);
    expect(r.count()).toBe(3);
    expect(records[0]).toBe('kdump info: no fence_kdump record is left: powering it off');
    expect(deviceCalls()).toEqual(['a status', 'a off', 'a status']);
  });

  it('a record that cannot be read is not an ended dump: it is read again', async () => {
    const { context, records } = recorder();
    const r = reads([new Error('HTTP 500: No cluster leader'), undefined]);
    await powerOffAfterDump(configWith('a', { a: 'works' }), 'cmp1', context, Date.now(), r.read, KDUMP, 1);
    expect(r.count()).toBe(2);
    expect(records[0]).toBe('kdump info: no fence_kdump record is left: powering it off');
  });

  it('a dump still running at [kdump] timeout since the deferral: powered off anyway, and the record says so', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const now = Date.parse('2026-11-25T10:00:00Z');
    vi.setSystemTime(now);
    const { context, records } = recorder();
    const r = reads([dumpRecord(now)]);
    await powerOffAfterDump(configWith('a', { a: 'works' }), 'cmp1', context, now - KDUMP.timeoutMs, r.read, KDUMP, 1);
    expect(r.count()).toBe(1);
    expect(records[0]).toBe('kdump info: the dump still ran after [kdump] timeout (600 s): powering it off');
    expect(deviceCalls()).toEqual(['a status', 'a off', 'a status']);
  });

  it('one millisecond before the timeout it still waits; unreadable records wait for the timeout too', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const now = Date.parse('2026-11-25T10:00:00Z');
    vi.setSystemTime(now);
    const { context, records } = recorder();
    const r = reads([() => dumpRecord(now), () => (vi.setSystemTime(now + 1), dumpRecord(now)), new Error('unreadable')]);
    await powerOffAfterDump(configWith('a', { a: 'works' }), 'cmp1', context, now - KDUMP.timeoutMs + 1, r.read, KDUMP, 1);
    expect(r.count()).toBe(2);
    expect(records[0]).toBe('kdump info: the dump still ran after [kdump] timeout (600 s): powering it off');
    const u = reads([new Error('unreadable')]);
    const second = recorder();
    await powerOffAfterDump(configWith('a', { a: 'works' }), 'cmp1', second.context, now - KDUMP.timeoutMs, u.read, KDUMP, 1);
    expect(second.records[0]).toBe('kdump info: the dump still ran after [kdump] timeout (600 s): powering it off');
  });

  it('a dump exactly three intervals quiet is still running', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const now = Date.parse('2026-11-25T10:00:00Z');
    vi.setSystemTime(now);
    const { context, records } = recorder();
    const r = reads([dumpRecord(now - 30_000), () => (vi.setSystemTime(now + 1), dumpRecord(now - 30_000))]);
    await powerOffAfterDump(configWith('a', { a: 'works' }), 'cmp1', context, now, r.read, KDUMP, 1);
    expect(r.count()).toBe(2);
    expect(records[0]).toBe(`kdump info: the dump ended (last fence_kdump message ${new Date(now - 30_000).toISOString()}, 3 in all): powering it off`);
  });

  it('a lock lost while waiting: nothing powered off, nothing recorded', async () => {
    let looks = 0;
    const records: string[] = [];
    const context: PowerOffContext = { record: async (s, o, d) => void records.push(`${s} ${o}: ${d}`), stillOwner: () => looks++ < 1 };
    const r = reads([() => dumpRecord(Date.now())]);
    expect(await powerOffAfterDump(configWith('a', { a: 'works' }), 'cmp1', context, Date.now(), r.read, KDUMP, 1)).toEqual({ verified: false, after: 0, detail: 'lost the host lock while waiting for the crash dump to end' });
    expect(r.count()).toBe(1);
    expect(records).toEqual([]);
    expect(deviceCalls()).toEqual([]);
  });
});
