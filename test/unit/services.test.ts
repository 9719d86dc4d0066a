/**
 * The opt-in parts a node gets for fencing beyond ipmitool: the compute's nova-ha-watchdog TTL
 * check in its mgmt fragment, and the two systemd services install.sh writes.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../lib/config/load.js';
import { fragment } from '../../lib/systems/consul/fragments.js';
import { units } from '../../lib/systems/systemd/units.js';

const PATHS = { node: '/usr/bin/node', lib: '/usr/lib/nova-ha', config: '/etc/nova-ha/nova-ha.conf' };
const CONTROLLER = '[nova]\nauth_url = http://198.18.1.11:5000/v3\nusername = admin\npassword = secret-password\n[notifications]\nsmtp_host = 127.0.0.1\nsmtp_tls = none\nto = ops@example.com\n[fencing]\nmethod = ipmi\n[ipmi]\nusername = u\npassword_env = P\naddress_template = {host}-ipmi\n';

function config(role: 'controller' | 'compute', extra: string): Config {
  const { config: parsed } = parseConfig(`[DEFAULT]\nrole = ${role}\n${role === 'controller' ? CONTROLLER : ''}[remediation]\nhmac_key = 0123456789abcdef0123456789abcdef\n${extra}`);
  return parsed!;
}

describe('the watchdog fallback on a compute', () => {
  const on = config('compute', '[watchdog]\nenabled = true\ntimeout = 45s\n');

  it('adds a TTL check that starts critical, with the watchdog timeout as its TTL', () => {
    const checks = fragment('compute', 'mgmt', on, PATHS)['checks'] as Record<string, unknown>[];
    expect(checks.find((c) => c['id'] === 'nova-ha-watchdog')).toMatchObject({ ttl: '45s', status: 'critical' });
    const off = fragment('compute', 'mgmt', config('compute', ''), PATHS)['checks'] as Record<string, unknown>[];
    expect(off.map((c) => c['id'])).toEqual(['nova-ha-nova-compute']);
  });

  it('has install.sh write a service that gives the agents\' user the device and runs the feeder as that user', () => {
    const [unit, ...rest] = units('compute', on, { ...PATHS, user: 'consul' });
    expect(rest).toEqual([]);
    expect(unit!.name).toBe('nova-ha-watchdog');
    expect(unit!.text).toContain('User=consul\n');
    expect(unit!.text).toContain('ExecStartPre=+/bin/chgrp consul /dev/watchdog0\nExecStartPre=+/bin/chmod 0660 /dev/watchdog0\n');
    expect(unit!.text).toContain('ExecStart=/usr/bin/node /usr/lib/nova-ha/handlers/watchdog.js --config /etc/nova-ha/nova-ha.conf\n');
    expect(unit!.text).toContain('Restart=on-failure\n');
    expect(units('compute', config('compute', ''), { ...PATHS, user: 'consul' })).toEqual([]);
  });
});

describe('kdump awareness on a controller', () => {
  it('has install.sh write the listener\'s service, run as the agents\' user; none without it, and none on a compute', () => {
    const [unit] = units('controller', config('controller', '[kdump]\nenabled = true\n'), { ...PATHS, user: 'consul' });
    expect(unit!.name).toBe('nova-ha-kdump');
    expect(unit!.text).toContain('ExecStart=/usr/bin/node /usr/lib/nova-ha/handlers/kdump-listener.js --config /etc/nova-ha/nova-ha.conf\n');
    expect(unit!.text).toContain('User=consul\n');
    expect(units('controller', config('controller', ''), { ...PATHS, user: 'consul' })).toEqual([]);
    expect(units('compute', config('compute', '[kdump]\nenabled = true\n'), { ...PATHS, user: 'consul' })).toEqual([]);
  });

  it('quotes what systemd would split', () => {
    const [unit] = units('controller', config('controller', '[kdump]\nenabled = true\n'), { ...PATHS, config: '/etc/nova ha/nova-ha.conf', user: 'consul' });
    expect(unit!.text).toContain('--config "/etc/nova ha/nova-ha.conf"\n');
  });
});
