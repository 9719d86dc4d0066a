/**
 * Simulated BMCs: one OpenIPMI ipmi_sim per compute, in its own bmcN namespace on the oob
 * network, whose power control starts and stops the compute (lab/bin/host-power.sh). Clients
 * use the real ipmitool over lanplus from a controller namespace, after the network guard has
 * checked the route. Recipe and pitfalls: /work/shared/docs/ipmi-lab.md.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertLabRoute } from './guard.js';
import { run } from './shell.js';
import { addressOf, bmcOf, namespaceOf, nodeDir, REPO_ROOT, runDir, type LabSpec } from './topology.js';

export const IPMI_USER = 'nova-ha';
export const HOST_POWER_SCRIPT = join(REPO_ROOT, 'lab', 'bin', 'host-power.sh');
/** Lanplus, cipher suite 3 (without -C 3 each call takes ~10 s), fail in ~2 s when the BMC is unreachable. */
export const IPMITOOL_OPTIONS = ['-I', 'lanplus', '-C', '3', '-N', '1', '-R', '1'] as const;

export const passwordFile = (spec: LabSpec): string => join(runDir(spec), 'ipmi.password');
export const bmcDir = (spec: LabSpec, compute: string): string => nodeDir(spec, bmcOf(compute));

export type PowerState = 'on' | 'off';
export type PowerAction = 'on' | 'off' | 'cycle';

/** A fresh random password for the lab's BMCs, readable by root only. */
export function createPassword(spec: LabSpec): string {
  // IPMI v2 passwords hold at most 20 bytes; 16 characters of base64url carry 96 random bits.
  const password = randomBytes(12).toString('base64url');
  writeFileSync(passwordFile(spec), `${password}\n`, { mode: 0o600 });
  chmodSync(passwordFile(spec), 0o600);
  return password;
}

export function readPassword(spec: LabSpec): string {
  if (!existsSync(passwordFile(spec))) throw new Error(`no BMC password at ${passwordFile(spec)}: is lab ${spec.prefix} up? (npx tsx lab/cli.ts status --prefix ${spec.prefix})`);
  return readFileSync(passwordFile(spec), 'utf8').trim();
}

/** ipmi_sim's lan.conf and emu file. The lan.conf holds the password, so it is root-only. */
export function writeBmcConfig(spec: LabSpec, compute: string, password: string): { lanConf: string; emu: string; stateDir: string } {
  const bmc = bmcOf(compute);
  const dir = bmcDir(spec, compute);
  const index = Number(compute.slice('cmp'.length));
  const startCommand = `setsid ip netns exec ${namespaceOf(spec, compute)} ${HOST_POWER_SCRIPT} ${spec.prefix} ${index} ${runDir(spec)}`;
  // lan.conf strings have no escapes: a quote in a path would silently end the string.
  if (/["'\s]/.test(`${HOST_POWER_SCRIPT}${runDir(spec)}`)) throw new Error(`the lab's paths (${runDir(spec)}) must not contain quotes or spaces: ipmi_sim's lan.conf cannot escape them`);
  const lanConf = join(dir, 'lan.conf');
  const emu = join(dir, 'bmc.emu');
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(
    lanConf,
    [
      `# ipmi_sim for ${bmc}: runs in ${namespaceOf(spec, bmc)}, powers ${namespaceOf(spec, compute)}`,
      `name "${bmc}"`,
      'set_working_mc 0x20',
      '  startlan 1',
      `    addr ${addressOf(bmc, 'oob')} 623`,
      '    priv_limit admin',
      '    allowed_auths_callback none md2 md5 straight',
      '    allowed_auths_user md2 md5 straight',
      '    allowed_auths_operator md2 md5 straight',
      '    allowed_auths_admin md2 md5 straight',
      `    guid a123456789abcdefa123456789ab${index.toString(16).padStart(4, '0')}`,
      '  endlan',
      // Power control exists only with a VM-codec serial channel; nothing connects to it.
      '  serial 15 127.0.0.1 9002 codec VM',
      `  startcmd "${startCommand}"`,
      '  startnow true',
      '  poweroff_wait 1',
      '  kill_wait 5',
      `  user 2 true "${IPMI_USER}" "${password}" admin 10 md2 md5 straight`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  writeFileSync(emu, ['mc_setbmc 0x20', 'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr', 'sel_enable 0x20 1000 0x0a', 'mc_enable 0x20', ''].join('\n'));
  return { lanConf, emu, stateDir };
}

/** Run ipmitool against a compute's BMC from a controller namespace; the password travels only in IPMI_PASSWORD. */
export async function ipmitool(spec: LabSpec, compute: string, args: readonly string[], from = 'ctl1'): Promise<string> {
  const namespace = namespaceOf(spec, from);
  const address = addressOf(bmcOf(compute), 'oob');
  await assertLabRoute(namespace, address);
  const env = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', IPMI_PASSWORD: readPassword(spec) };
  const result = await run('ip', ['netns', 'exec', namespace, 'ipmitool', ...IPMITOOL_OPTIONS, '-H', address, '-U', IPMI_USER, '-E', ...args], {
    env,
    allowFailure: true,
    timeoutMs: 30_000,
  });
  if (result.code !== 0) {
    const why = result.stderr.trim().split('\n').pop() || `exit ${result.code}`;
    throw new Error(`ipmitool ${args.join(' ')} for ${compute} (BMC ${address}, from ${from}) failed: ${why}`);
  }
  return result.stdout;
}

export async function powerStatus(spec: LabSpec, compute: string, from?: string): Promise<PowerState> {
  const output = await ipmitool(spec, compute, ['chassis', 'power', 'status'], from);
  const match = /Chassis Power is (on|off)/.exec(output);
  if (!match) throw new Error(`ipmitool power status for ${compute}: unexpected answer "${output.trim()}"`);
  return match[1] as PowerState;
}

export async function powerControl(spec: LabSpec, compute: string, action: PowerAction, from?: string): Promise<void> {
  await ipmitool(spec, compute, ['chassis', 'power', action], from);
}
