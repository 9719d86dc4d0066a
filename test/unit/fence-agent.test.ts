/**
 * Fence agents: the stdin protocol nova-ha speaks, how exit codes and output are read, the config
 * sections, and the process handling (nothing in argv, a call past its time killed with its
 * children). The process tests run a small shell script in the agent's place that records what it
 * was given: the real agents need a BMC, which the lab tests give them.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatProblem, parseConfig, type Config } from '../../lib/config/load.js';
import { fencePower } from '../../lib/recovery/controller-effects.js';
import { readHostPower } from '../../lib/recovery/fence-levels.js';
import { silentLogger } from '../../lib/shared/log.js';
import { agentFor, agentInput, agentMessage, agentPower, agentPowerOffVerified, agentProblems, agentResult, passwordLeak, type AgentTarget } from '../../lib/systems/power/fence-agent.js';
import { CONTROLLER_INI } from '../support/config-ini.js';

const BASE = CONTROLLER_INI;

const dir = mkdtempSync(join(tmpdir(), 'nova-ha-agent-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const problemsOf = (text: string): string[] => parseConfig(`${BASE}\n${text}\n`).problems.map(formatProblem);

describe('the fence-agents stdin protocol', () => {
  it('one key=value a line: the action, the node, the options, the password last', () => {
    const target = { host: 'cmp1', options: [['ip', '10.0.9.21'], ['ssl_insecure', '1']] as const };
    expect(agentInput(target, 'status', 'pw')).toBe('action=status\nnodename=cmp1\nip=10.0.9.21\nssl_insecure=1\npassword=pw\n');
    expect(agentInput(target, 'off')).toBe('action=off\nnodename=cmp1\nip=10.0.9.21\nssl_insecure=1\n');
  });

  it('status: exit 0 is on, 2 is off, anything else unknown (never off); on and off: exit 0 accepted', () => {
    expect(agentResult('status', 0, 'Status: ON', '')).toEqual({ state: 'on' });
    expect(agentResult('status', 2, 'Status: OFF', '')).toEqual({ state: 'off' });
    expect(agentResult('status', 1, '', "/usr/sbin/fence_ipmilan:8: DeprecationWarning: 'pipes' is deprecated\n  import pipes\n2026-01-01 ERROR: Failed: Unable to obtain correct plug status or plug is not available")).toEqual({ state: 'unknown', error: '2026-01-01 ERROR: Failed: Unable to obtain correct plug status or plug is not available' });
    expect(agentResult('status', undefined, '', '')).toEqual({ state: 'unknown', error: 'exit unknown' });
    expect(agentResult('off', 0, 'Success: Powered OFF', '')).toEqual({ state: 'off' });
    expect(agentResult('on', 1, '', 'ERROR: Connection timed out')).toEqual({ state: 'unknown', error: 'ERROR: Connection timed out' });
    expect(agentMessage('', '')).toBe('');
  });
});

describe('[fence_agent:NAME] sections and [fencing] levels', () => {
  const agent = join(dir, 'fence_test');
  writeFileSync(agent, '#!/bin/sh\nexit 0\n');
  chmodSync(agent, 0o755);
  const password = join(dir, 'pw');
  writeFileSync(password, 'Agent-Pass-9\n', { mode: 0o600 });

  it('a device, per-host options over it with {host} replaced, and per-host levels', () => {
    const { config, problems } = parseConfig(`${BASE}
[fencing]
method = agent
levels = redfish, ipmi
[fencing:cmp2.example.com]
levels = pdu
[ipmi]
username = nova-ha
password_file = ${password}
address_template = {host}-ipmi
[fence_agent:redfish]
agent = ${agent}
options = ip={host}-bmc ssl_insecure=1 systems-uri=/redfish/v1/Systems/1
password_file = ${password}
[fence_agent:pdu]
agent = ${agent}
options = ip=pdu1 plug=0
[fence_agent:pdu:cmp2.example.com]
options = plug=7
`);
    expect(problems.map(formatProblem)).toEqual([]);
    const c = config as Config;
    expect(c.fencing.levels).toEqual(['redfish', 'ipmi']);
    expect(c.fencingHosts.get('cmp2.example.com')?.levels).toEqual(['pdu']);
    expect(agentFor(c, 'redfish', 'cmp1')).toEqual({ host: 'cmp1', device: 'redfish', agent, options: [['ip', 'cmp1-bmc'], ['ssl_insecure', '1'], ['systems_uri', '/redfish/v1/Systems/1']], passwordFile: password, timeoutMs: 30_000 });
    expect(agentFor(c, 'pdu', 'cmp2.example.com').options).toEqual([['ip', 'pdu1'], ['plug', '7']]);
    expect(agentFor(c, 'pdu', 'cmp3.example.com').options).toEqual([['ip', 'pdu1'], ['plug', '0']]);
  });

  it.each([
    ['method agent without levels', '[fencing]\nmethod = agent', '[fencing] levels: expected the fence levels when method = agent'],
    ['a level that names no device', `[fencing]\nmethod = agent\nlevels = redfish\n[fence_agent:pdu]\nagent = ${agent}`, '[fencing] levels: expected ipmi or the NAME of a [fence_agent:NAME] section, found "redfish"'],
    ['a level twice', `[fencing]\nmethod = agent\nlevels = pdu, pdu\n[fence_agent:pdu]\nagent = ${agent}`, '[fencing] levels: expected each level once, found "pdu" twice'],
    ['a password among the options', `[fencing]\nmethod = agent\nlevels = pdu\n[fence_agent:pdu]\nagent = ${agent}\noptions = ip=x password=hunter2`, '[fence_agent:pdu] options: expected no password among the options'],
    ['an action among the options', `[fencing]\nmethod = agent\nlevels = pdu\n[fence_agent:pdu]\nagent = ${agent}\noptions = action=reboot`, '[fence_agent:pdu] options: expected no action= (nova-ha sets it for each call)'],
    ['a word that is not key=value', `[fencing]\nmethod = agent\nlevels = pdu\n[fence_agent:pdu]\nagent = ${agent}\noptions = --ssl`, '[fence_agent:pdu] options: expected key=value words, not "--ssl"'],
    ['an agent by a relative path', '[fencing]\nmethod = agent\nlevels = pdu\n[fence_agent:pdu]\nagent = bin/fence_apc', '[fence_agent:pdu] agent: expected the name of a fence agent (fence_...) or an absolute path, found "bin/fence_apc"'],
    ['a device without an agent', '[fencing]\nmethod = agent\nlevels = pdu\n[fence_agent:pdu]\noptions = ip=x', '[fence_agent:pdu] agent: expected a fence agent'],
    ['a device named ipmi', `[fence_agent:ipmi]\nagent = ${agent}`, '[fence_agent:ipmi] expected [fence_agent:NAME] or [fence_agent:NAME:HOST]'],
    ['per-host options of no device', `[fencing]\nmethod = agent\nlevels = pdu\n[fence_agent:pdu]\nagent = ${agent}\n[fence_agent:apc:cmp1]\noptions = plug=1`, '[fence_agent:apc:cmp1] expected a [fence_agent:apc] section'],
    ['an unreadable password file', `[fence_agent:pdu]\nagent = ${agent}\npassword_file = ${dir}/missing`, '[fence_agent:pdu] password_file: expected a readable file'],
  ])('%s gets its own line', (_name, text, expected) => {
    const lines = problemsOf(text);
    expect(lines.some((l) => l.startsWith(expected)), lines.join('\n')).toBe(true);
  });

  it('check-config on this machine: an agent that is not installed is an error, one that leaks its password a warning', () => {
    const { config } = parseConfig(`${BASE}\n[fencing]\nmethod = agent\nlevels = ipmilan, missing\n[fence_agent:ipmilan]\nagent = fence_ipmilan\n[fence_agent:missing]\nagent = ${dir}/fence_nothing_here\n`);
    const lines = agentProblems(config as Config).map(formatProblem);
    expect(lines).toContain(`[fence_agent:missing] agent: expected an installed fence agent, found no executable ${dir}/fence_nothing_here (apt-get install fence-agents)`);
    if (existsSync('/usr/sbin/fence_ipmilan')) expect(lines.some((l) => l.startsWith('warning: [fence_agent:ipmilan] agent: fence_ipmilan runs ipmitool -P PASSWORD'))).toBe(true);
  });

  it('knows the agents that hand the password to another program in argv', () => {
    expect(passwordLeak('fence_ipmilan')).toMatch(/ipmitool -P/);
    expect(passwordLeak('/usr/sbin/fence_idrac')).toMatch(/ipmitool -P/);
    expect(passwordLeak('fence_vmware')).toMatch(/--password/);
    if (existsSync('/usr/sbin/fence_apc_snmp')) expect(passwordLeak('fence_apc_snmp')).toMatch(/snmp/);
    if (existsSync('/usr/sbin/fence_redfish')) expect(passwordLeak('fence_redfish')).toBeUndefined();
  });
});

describe('running an agent', () => {
  const script = join(dir, 'fence_recorder');
  // Records argv and stdin; status answers what the "off" file says; "hang" on stdin sleeps in a child.
  writeFileSync(script, `#!/bin/sh
printf '%s\\n' "$@" > '${dir}/argv'
input=$(cat)
printf '%s\\n' "$input" >> '${dir}/stdin'
case "$input" in *action=hang*) sleep 30 & echo $! > '${dir}/child'; wait ;; esac
case "$input" in
  *action=status*) if [ -e '${dir}/off' ]; then echo 'Status: OFF'; exit 2; else echo 'Status: ON'; exit 0; fi ;;
  *action=off*) touch '${dir}/off'; echo 'Success: Powered OFF' ;;
  *action=on*) rm -f '${dir}/off'; echo 'Success: Powered ON' ;;
esac
`);
  chmodSync(script, 0o755);
  const passwordFile = join(dir, 'recorder.pw');
  writeFileSync(passwordFile, 'Recorder-Secret-42\n', { mode: 0o600 });
  const target: AgentTarget = { host: 'cmp1', device: 'rec', agent: script, options: [['ip', '10.0.9.21']], passwordFile, timeoutMs: 5000 };

  it('gives everything on standard input and nothing in argv; a power-off is verified by the status action', async () => {
    expect((await agentPower(target, 'status')).state).toBe('on');
    const off = await agentPowerOffVerified(target, 5000, { pollMs: 50 });
    expect(off.verified).toBe(true);
    expect(readFileSync(join(dir, 'argv'), 'utf8').trim()).toBe('');
    const stdin = readFileSync(join(dir, 'stdin'), 'utf8');
    expect(stdin).toContain('action=off\nnodename=cmp1\nip=10.0.9.21\npassword=Recorder-Secret-42');
    expect(off.detail).not.toContain('Recorder-Secret-42');
    expect((await agentPower(target, 'on')).state).toBe('on');
  });

  it('a call past its time is killed with the processes it started, and reads as unknown', async () => {
    const started = Date.now();
    const result = await agentPower({ ...target, timeoutMs: 1000 }, 'hang' as 'status');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result).toEqual({ state: 'unknown', error: `${script} (fence device rec) did not finish hang within 1000 ms` });
    const child = Number(readFileSync(join(dir, 'child'), 'utf8'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Gone, or a zombie left for init to reap: not running either way.
    const state = existsSync(`/proc/${child}/stat`) ? readFileSync(`/proc/${child}/stat`, 'utf8').split(') ')[1]![0] : 'gone';
    expect(['gone', 'Z', 'X']).toContain(state);
  });

  it('a fence\'s re-read asks the level that powered the host off: the agent\'s own status action', async () => {
    const { config } = parseConfig(`${BASE}\n[fencing]\nmethod = agent\nlevels = rec\n[fence_agent:rec]\nagent = ${script}\noptions = ip=10.0.9.21\npassword_file = ${passwordFile}\n`);
    const power = fencePower({ config: config!, logger: silentLogger, kv: undefined as never })!;
    rmSync(join(dir, 'off'), { force: true });
    expect(await power.readPower('cmp1')).toBe('on');
    const records: string[] = [];
    const off = await power.powerOff('cmp1', { record: async (step, outcome, detail) => void records.push(`${step} ${outcome}: ${detail}`), stillOwner: () => true });
    expect(off).toMatchObject({ verified: true, detail: 'verified by level 1 of 1 (rec)' });
    expect(records.map((r) => r.split(':')[0])).toEqual(['fence-level started', 'fence-level done']);
    writeFileSync(join(dir, 'stdin'), '');
    expect(await power.readPower('cmp1')).toBe('off');
    expect(readFileSync(join(dir, 'stdin'), 'utf8')).toContain('action=status\nnodename=cmp1\nip=10.0.9.21');
  });

  it('the power poller reads as the fence does: the agent with method = agent and no [ipmi]; the BMC otherwise, unknown with the fix when none is configured', async () => {
    const { config: agentOnly } = parseConfig(`${BASE}\n[fencing]\nmethod = agent\nlevels = rec\n[fence_agent:rec]\nagent = ${script}\noptions = ip=10.0.9.21\npassword_file = ${passwordFile}\n`);
    rmSync(join(dir, 'off'), { force: true });
    expect(await readHostPower(agentOnly!, 'cmp1')).toEqual({ state: 'on' });
    writeFileSync(join(dir, 'off'), '');
    expect(await readHostPower(agentOnly!, 'cmp1')).toEqual({ state: 'off' });
    const { config: noFencing } = parseConfig(`${BASE}\n[fencing]\nmethod = none\n`);
    const unknown = await readHostPower(noFencing!, 'cmp1');
    expect(unknown.state).toBe('unknown');
    expect(unknown.error).toMatch(/cmp1/);
  });

  it('an agent that is not installed is unknown, with the fix', async () => {
    expect(await agentPower({ ...target, agent: 'fence_does_not_exist' }, 'status')).toEqual({ state: 'unknown', error: 'fence_does_not_exist not found in /usr/sbin, /sbin, /usr/bin: apt-get install fence-agents, or set [fence_agent:rec] agent' });
  });
});
