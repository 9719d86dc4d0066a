import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorsOf, formatProblem, loadConfigFile, parseConfig, requireConfig } from '../../lib/config/load.js';
import { renderReference, renderSample } from '../../lib/config/sample.js';
import { CONTROLLER_INI } from '../support/config-ini.js';

const VALID = CONTROLLER_INI;

const lines = (text: string): string[] => parseConfig(text).problems.map(formatProblem);

describe('config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nova-ha-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the committed sample is what the schema generates, and check-config accepts it', () => {
    const sample = renderSample();
    expect(readFileSync('etc/nova-ha.conf.sample', 'utf8')).toBe(sample);
    const { config, problems } = parseConfig(sample);
    expect(errorsOf(problems)).toEqual([]);
    expect(problems.map(formatProblem)).toEqual([
      "warning: [nova] password: still the sample's placeholder; set the real value",
      "warning: [remediation] hmac_key: still the sample's placeholder; set the real value (generate one with: openssl rand -hex 32)",
    ]);
    expect(config?.policy.confirmation_window).toBe(10_000);
  });

  it('the committed config reference is what the schema generates', () => {
    expect(readFileSync('docs/config-reference.md', 'utf8')).toBe(renderReference());
  });

  it('a valid config gives typed values and defaults', () => {
    const { config, problems } = parseConfig(VALID);
    expect(problems).toEqual([]);
    expect(config!.nova.auth_url?.href).toBe('http://198.18.1.11:5000/v3');
    expect(config!.consul.storage_address.href).toBe('http://127.0.0.1:8510/');
    expect(config!.policy.storm_limit).toEqual({ percent: 10 });
    expect(config!.notifications.to).toEqual(['ops@example.com']);
    expect(config!.evacuation.live_migrate_on_tenant_failure).toBe(false);
  });

  it.each([
    ['an unknown section (a typo)', '[novaa]\nx = 1', '[novaa] unknown section (did you mean [nova]?)'],
    ['an unknown key (a typo)', '[nova]\nusrname = a', '[nova] usrname: unknown option (did you mean username?)'],
    ['a bad URL', '[nova]\nauth_url = keystone:5000', '[nova] auth_url: expected a URL (http://, https://), found "keystone:5000"'],
    ['a URL with credentials in it', '[notifications]\nwebhook_url = https://u:p@hooks.example.com/x', '[notifications] webhook_url: expected a URL (http://, https://) without credentials in it'],
    ['a negative duration', '[policy]\nrepair_timeout = -30s', '[policy] repair_timeout: expected a duration that is not negative, found "-30s"'],
    ['a duration without a unit that makes sense', '[policy]\nboot_timeout = soon', '[policy] boot_timeout: expected a duration such as 30s, 5m or 500ms, found "soon"'],
    ['a wrong enum', '[notifications]\nsmtp_tls = ssl', '[notifications] smtp_tls: expected one of none, starttls, tls, found "ssl"'],
    ['a wrong integer', '[evacuation]\nconcurrency = 0', '[evacuation] concurrency: expected an integer from 1 to 64, found "0"'],
    ['cipher suite 0 (accepts any password)', '[ipmi]\ncipher_suite = 0', '[ipmi] cipher_suite: expected an integer from 1 to 17, found "0"'],
    ['a storm limit of 0', '[policy]\nstorm_limit = 0%', '[policy] storm_limit: expected a percentage from 1% to 100%, found "0%"'],
    ['a key set twice', '[policy]\nrepair_timeout = 5s\nrepair_timeout = 6s', '[policy] repair_timeout: set more than once'],
    ['a relative path', '[DEFAULT]\nstate_dir = var/lib', '[DEFAULT] state_dir: expected an absolute path, found "var/lib"'],
    ['a remediation command without an absolute path', '[remediation]\nrestart_nova_compute = systemctl restart nova-compute', '[remediation] restart_nova_compute: expected a command starting with an absolute path'],
    ['a bad email address', '[notifications]\nto = ops, x@y', '[notifications] to: expected email addresses separated by commas (not "ops")'],
  ])('%s gets its own line', (_name, text, expected) => {
    expect(lines(`${VALID}\n${text}\n`).some((l) => l.startsWith(expected))).toBe(true);
  });

  it('an option outside any section gets its own line', () => {
    expect(lines(`log_level = debug\n${VALID}`)).toEqual(['log_level: option outside any section; put it under [DEFAULT] or the section it belongs to']);
  });

  it('names what each role needs', () => {
    const problems = lines('[DEFAULT]\nrole = controller\n');
    expect(problems).toContain('[nova] auth_url: expected a value (the Keystone v3 URL) on a controller, found nothing');
    expect(problems).toContain('[nova] username: expected a value for auth_type = password, found nothing');
    expect(problems).toContain('[notifications] smtp_host: expected a value or a webhook_url (otherwise nova-ha could tell no one what it did), found nothing');
    expect(problems.some((p) => p.startsWith('[remediation] hmac_key: expected a value of at least 32 characters'))).toBe(true);
    expect(lines('[DEFAULT]\nrole = compute\n[remediation]\nhmac_key = 0123456789abcdef0123456789abcdef\nstorage_interface = stor0\n')).toEqual([]);
    expect(lines('[remediation]\nhmac_key = 0123456789abcdef0123456789abcdef\n')).toEqual(['[DEFAULT] role: expected a value (controller or compute), found nothing']);
  });

  it('refuses an SMTP password in clear and an IPMI fence without credentials', () => {
    const problems = lines(`${VALID}\n[notifications]\n`.replace('smtp_tls = none', 'smtp_tls = none\nsmtp_username = ops') + '\n[fencing]\nmethod = ipmi\n');
    expect(problems.some((p) => p.startsWith('[notifications] smtp_tls: expected starttls or tls when smtp_username is set'))).toBe(true);
    expect(problems.some((p) => p.startsWith('[ipmi] address_template: expected a template'))).toBe(true);
    expect(problems.some((p) => p.startsWith('[ipmi] username: expected a BMC user'))).toBe(true);
    expect(problems.some((p) => p.startsWith('[ipmi] password_file: expected password_file or password_env'))).toBe(true);
  });

  it('reads per-host BMC sections, dots in host names included', () => {
    const passwordFile = join(dir, 'ipmi.password');
    writeFileSync(passwordFile, 'pw\n', { mode: 0o600 });
    const { config, problems } = parseConfig(`${VALID}\n[fencing]\nmethod = ipmi\n[ipmi]\nusername = admin\npassword_file = ${passwordFile}\n[ipmi:cmp1.example.com]\naddress = 10.0.9.21\ncipher_suite = 17\n[ipmi:cmp2]\naddress = 10.0.9.22\n`);
    expect(problems).toEqual([]);
    expect(config!.ipmiHosts.get('cmp1.example.com')).toEqual({ address: '10.0.9.21', cipher_suite: 17 });
    expect(config!.ipmiHosts.get('cmp2')).toEqual({ address: '10.0.9.22' });
  });

  it('never prints a secret, even in a problem about it', () => {
    const text = `${VALID}\n[notifications]\nwebhook_token = tok-very-secret-1234\n`.replace('password = very-secret-password', 'password = very-secret-password\npassword = other-secret-password');
    const out = JSON.stringify(parseConfig(text));
    expect(out).not.toContain('very-secret-password');
    expect(out).not.toContain('other-secret-password');
    expect(out).not.toContain('tok-very-secret-1234');
    const bad = lines('[consul]\nmgmt_token = tok-abcdef\n[notifications]\nsmtp_port = 99999999\n');
    expect(bad.join('\n')).not.toContain('tok-abcdef');
  });

  it('a missing or unreadable file is one clear line, and handlers get a ConfigError naming check-config', () => {
    const missing = join(dir, 'missing.conf');
    expect(loadConfigFile(missing).problems.map(formatProblem)).toEqual(['cannot read the config file (ENOENT); create it from etc/nova-ha.conf.sample or pass --config FILE']);
    expect(() => requireConfig(missing)).toThrow(/run: nova-ha check-config --config/);
  });
});

describe('empty values', () => {
  it('"key =" means empty for strings, paths and commands, and the default for the rest', () => {
    const { config } = parseConfig(`${VALID}\n[nova_compute]\nsystemd_unit =\n[remediation]\nrestart_nova_compute =\n[policy]\nrepair_timeout =\n`);
    expect(config!.nova_compute.systemd_unit).toBe('');
    expect(config!.remediation.restart_nova_compute).toEqual([]);
    expect(config!.policy.repair_timeout).toBe(60_000);
  });
});
