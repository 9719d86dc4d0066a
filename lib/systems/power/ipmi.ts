/**
 * Chassis power over IPMI-over-LAN with ipmitool (lanplus). The password travels only in the
 * environment (ipmitool -E), never in argv; every call is bounded (-N/-R and a process timeout);
 * a BMC that does not answer is "unknown", never "off".
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../../config/load.js';

export interface BmcTarget {
  readonly host: string;
  readonly address: string;
  readonly username: string;
  readonly password: { readonly file: string } | { readonly env: string };
  readonly cipherSuite: number;
  readonly attemptTimeoutMs: number;
  readonly retries: number;
}

export class IpmiConfigError extends Error {
  override name = 'IpmiConfigError';
}

/** Whether any BMC is configured (else power is never read and no host can be fenced over IPMI). */
export const bmcConfigured = (config: Config): boolean => config.ipmi.address_template !== '' || config.ipmiHosts.size > 0;

/** The host's BMC: its [ipmi:HOST] section, else [ipmi] with address_template. */
export function bmcFor(config: Config, host: string): BmcTarget {
  const own = config.ipmiHosts.get(host) ?? {};
  const ipmi = config.ipmi;
  const address = own.address ?? (ipmi.address_template ? ipmi.address_template.replaceAll('{host}', host) : '');
  if (!address) throw new IpmiConfigError(`no BMC address for ${host}: add [ipmi:${host}] address = ... or [ipmi] address_template`);
  const username = own.username ?? ipmi.username;
  if (!username) throw new IpmiConfigError(`no BMC user for ${host}: set [ipmi] username or [ipmi:${host}] username`);
  const file = own.password_file ?? (own.password_env ? '' : ipmi.password_file);
  const env = own.password_env ?? ipmi.password_env;
  const password = file ? { file } : env ? { env } : undefined;
  if (!password) throw new IpmiConfigError(`no BMC password for ${host}: set [ipmi] password_file or password_env`);
  return { host, address, username, password, cipherSuite: own.cipher_suite ?? ipmi.cipher_suite, attemptTimeoutMs: ipmi.attempt_timeout, retries: ipmi.retries };
}

function passwordOf(target: BmcTarget): string {
  if ('file' in target.password) {
    try {
      return readFileSync(target.password.file, 'utf8').split('\n')[0]!.trim();
    } catch (error) {
      throw new IpmiConfigError(`cannot read the BMC password file ${target.password.file} (${(error as NodeJS.ErrnoException).code}); it must be readable by the Consul agents' user`);
    }
  }
  const value = process.env[target.password.env];
  if (!value) throw new IpmiConfigError(`the environment variable ${target.password.env} (BMC password of ${target.host}) is not set for the Consul agent`);
  return value;
}

/** What a BMC says of the chassis; unknown when it does not answer. */
export type PowerState = 'on' | 'off' | 'unknown';

export type PowerCommand = 'status' | 'on' | 'off';

export interface PowerResult {
  readonly state: PowerState;
  /** Why the state is unknown, or what the BMC said when a command failed. */
  readonly error?: string;
}

/**
 * One ipmitool call; never throws for BMC trouble (that is an unknown state), only for bad config.
 * A deadline (epoch ms) cuts the call short, so a caller's own timeout holds against a silent BMC.
 */
export async function chassisPower(target: BmcTarget, command: PowerCommand, deadline = Number.POSITIVE_INFINITY): Promise<PowerResult> {
  const password = passwordOf(target);
  const attemptSeconds = Math.max(1, Math.round(target.attemptTimeoutMs / 1000));
  const args = ['-I', 'lanplus', '-C', String(target.cipherSuite), '-N', String(attemptSeconds), '-R', String(target.retries), '-H', target.address, '-U', target.username, '-E', 'chassis', 'power', command];
  const budget = Math.round(Math.max(1000, Math.min(attemptSeconds * 1000 * (target.retries + 1) * 2 + 3000, deadline - Date.now())));
  // Loaded on the first call: the standby controllers' power checks never call a BMC.
  const { execa } = await import('execa');
  const result = await execa('ipmitool', args, { env: { IPMI_PASSWORD: password }, extendEnv: true, reject: false, timeout: budget, stdin: 'ignore' });
  const output = `${result.stdout}\n${result.stderr}`.replaceAll(password, '***').trim();
  if (result.timedOut) return { state: 'unknown', error: `ipmitool to ${target.address} timed out after ${budget} ms` };
  if (result.exitCode !== 0) {
    const missing = (result as { code?: string }).code === 'ENOENT' || /ENOENT/.test(String(result.message ?? ''));
    return { state: 'unknown', error: missing ? 'ipmitool is not installed (apt-get install ipmitool)' : `BMC ${target.address}: ${firstLine(output) || `ipmitool exit ${result.exitCode}`}` };
  }
  if (command === 'status') {
    const match = /Chassis Power is (on|off)/i.exec(output);
    return match ? { state: match[1]!.toLowerCase() as PowerState } : { state: 'unknown', error: `BMC ${target.address}: unexpected answer "${firstLine(output)}"` };
  }
  // "Chassis Power Control: Down/Off" or "Up/On": the command was accepted; the state is what status says next.
  return /Chassis Power Control: (Up\/On|Down\/Off)/i.test(output) ? { state: command === 'on' ? 'on' : 'off' } : { state: 'unknown', error: `BMC ${target.address}: ${firstLine(output)}` };
}

const firstLine = (text: string): string => text.split('\n').find((l) => l.trim())?.trim() ?? '';

export interface VerifiedOff {
  readonly verified: boolean;
  readonly after: number;
  readonly detail: string;
}

/**
 * Power off and poll until the BMC itself reports off, within the fence timeout: only this
 * verification unlocks evacuation. Already off: verified at once, nothing sent. quick: give up at
 * once when the first status gets no answer (the host's watchdog stands behind this level).
 */
export async function powerOffVerified(target: BmcTarget, timeoutMs: number, options: { quick?: boolean; pollMs?: number } = {}): Promise<VerifiedOff> {
  const pollMs = options.pollMs ?? 500;
  const start = Date.now();
  const deadline = start + timeoutMs;
  const first = await chassisPower(target, 'status', deadline);
  if (first.state === 'off') return { verified: true, after: Date.now() - start, detail: 'the BMC already reported power off' };
  if (options.quick && first.state === 'unknown') return { verified: false, after: Date.now() - start, detail: `the BMC did not answer (${first.error})` };
  let lastError = (await chassisPower(target, 'off', deadline)).error;
  let sentAt = Date.now();
  while (Date.now() < deadline) {
    const status = await chassisPower(target, 'status', deadline);
    if (status.state === 'off') return { verified: true, after: Date.now() - start, detail: `power off sent; the BMC reported off after ${Date.now() - start} ms` };
    if (status.error) lastError = status.error;
    // A BMC applies the command on its own tick; still on well after it, the off was lost (a blip): send it again, off is idempotent.
    if (Date.now() - sentAt > 3000) {
      lastError = (await chassisPower(target, 'off', deadline)).error ?? lastError;
      sentAt = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  return { verified: false, after: Date.now() - start, detail: `the BMC did not report power off within ${timeoutMs} ms${lastError ? ` (${lastError})` : ''}` };
}
