/**
 * What root trusts, against a simulated file system (the lab test privilege.test.ts attacks the
 * real one): every way a non-root user could change the config, a repair command or the
 * directories above the agents' own is refused in one line naming the path, owner, mode and fix.
 */
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatProblem, parseConfig, type Config } from '../../lib/config/load.js';
import { otherWriter, resolvePath, rootPathProblems, trustProblems, type FsProbe, type PathNode } from '../../lib/config/trust.js';
import { parseAccounts } from '../../lib/shared/accounts.js';

type Entry = { kind: PathNode['kind']; uid?: number; gid?: number; mode?: number; target?: string; denied?: boolean };

const accounts = parseAccounts(
  [['root', 'x', '0', '0'], ['consul', 'x', '999', '995'], ['ops', 'x', '1000', '1000']],
  [['root', 'x', '0', ''], ['consul', 'x', '995', ''], ['ops', 'x', '1000', ''], ['staff', 'x', '50', 'ops'], ['nova-ha-readers', 'x', '60', 'consul']],
);

const BASE: Record<string, Entry> = {
  '/': { kind: 'dir' },
  '/etc': { kind: 'dir' },
  '/etc/nova-ha': { kind: 'dir' },
  '/etc/nova-ha/nova-ha.conf': { kind: 'file', gid: 995, mode: 0o640 },
  '/etc/nova-ha/ipmi.password': { kind: 'file', gid: 995, mode: 0o640 },
  '/bin': { kind: 'symlink', target: 'usr/bin' },
  '/usr': { kind: 'dir' },
  '/usr/bin': { kind: 'dir' },
  '/usr/bin/ip': { kind: 'file', mode: 0o755 },
  '/usr/bin/systemctl': { kind: 'file', mode: 0o755 },
  '/usr/sbin': { kind: 'dir' },
  '/usr/sbin/ip': { kind: 'symlink', target: '/bin/ip' },
  '/var': { kind: 'dir' },
  '/var/lib': { kind: 'dir' },
  '/var/lib/nova-ha': { kind: 'dir', uid: 999, gid: 995, mode: 0o700 },
  '/var/log': { kind: 'dir' },
  '/var/log/nova-ha': { kind: 'dir', uid: 999, gid: 995, mode: 0o750 },
  '/tmp': { kind: 'dir', mode: 0o1777 },
};

function fakeFs(changes: Record<string, Entry | null> = {}): FsProbe {
  const entries: Record<string, Entry> = { ...BASE };
  for (const [path, entry] of Object.entries(changes)) {
    if (entry) entries[path] = entry;
    else delete entries[path];
  }
  return {
    lstat(path) {
      const e = entries[path];
      if (e?.denied) throw Object.assign(new Error('permission denied'), { code: 'EACCES' });
      return e ? { path, kind: e.kind, uid: e.uid ?? 0, gid: e.gid ?? 0, mode: e.mode ?? (e.kind === 'file' ? 0o644 : e.kind === 'symlink' ? 0o777 : 0o755) } : undefined;
    },
    readlink(path) {
      return entries[path]!.target!;
    },
  };
}

const COMPUTE = `[DEFAULT]
role = compute
[remediation]
hmac_key = 0123456789abcdef0123456789abcdef
storage_interface = stor0
`;
const config = (extra = ''): Config => {
  const { config, problems } = parseConfig(`${COMPUTE}${extra}\n`);
  // parseConfig looks for the BMC password file on the real disk; this test's disk is simulated.
  expect(problems.filter((p) => !p.warning && p.key !== 'password_file')).toEqual([]);
  return config!;
};
const FILE = '/etc/nova-ha/nova-ha.conf';
const check = (changes: Record<string, Entry | null>, extra = '', file = FILE): string[] => trustProblems(config(extra), file, { probe: fakeFs(changes), accounts }).map(formatProblem);

describe('what root trusts', () => {
  it('a config as install.sh leaves it, with repair commands and directories only root can change, passes', () => {
    expect(check({}, '[ipmi]\npassword_file = /etc/nova-ha/ipmi.password')).toEqual([]);
  });

  it.each([
    ['the config owned by the agents\' user (as install.sh left it before)', { [FILE]: { kind: 'file', uid: 999, gid: 995, mode: 0o600 } },
      '/etc/nova-ha/nova-ha.conf is consul:consul 0600 (owned by consul): a non-root user could have changed it, and root trusts it (install.sh grants its repair commands through sudo); review it, then run: chown root:consul /etc/nova-ha/nova-ha.conf && chmod 0640 /etc/nova-ha/nova-ha.conf'],
    ['the config writable by the agents\' group', { [FILE]: { kind: 'file', gid: 995, mode: 0o660 } }, '/etc/nova-ha/nova-ha.conf is root:consul 0660 (writable by group consul): a non-root user could have changed it'],
    ['the config writable by every user', { [FILE]: { kind: 'file', gid: 995, mode: 0o646 } }, '(writable by every user)'],
    ['the config\'s directory owned by the agents\' user', { '/etc/nova-ha': { kind: 'dir', uid: 999, gid: 995 } },
      '/etc/nova-ha is consul:consul 0755 (owned by consul): a non-root user could replace /etc/nova-ha/nova-ha.conf, which root trusts (install.sh grants its repair commands through sudo); run: chown root:root /etc/nova-ha && chmod go-w /etc/nova-ha'],
    ['the config readable by every user', { [FILE]: { kind: 'file', mode: 0o644 } }, '/etc/nova-ha/nova-ha.conf is root:root 0644: every user can read its secrets; run: chown root:consul'],
    ['the config in a directory the agents\' user cannot enter', { '/etc/nova-ha': { kind: 'dir', mode: 0o700 } }, '/etc/nova-ha is root:root 0700: the Consul agents\' user consul cannot reach /etc/nova-ha/nova-ha.conf through it (the handlers run as it); run: chmod go+x /etc/nova-ha'],
    ['the config unreadable by the agents\' user', { [FILE]: { kind: 'file', mode: 0o600 } }, '/etc/nova-ha/nova-ha.conf is root:root 0600: the Consul agents\' user consul (the handlers run as it) cannot read it; run: chown root:consul'],
    ['a link to a config in a user\'s home', { [FILE]: { kind: 'symlink', target: '/home/ops/nova-ha.conf' }, '/home': { kind: 'dir' }, '/home/ops': { kind: 'dir', uid: 1000, gid: 1000 }, '/home/ops/nova-ha.conf': { kind: 'file', uid: 1000, gid: 995, mode: 0o640 } },
      '/home/ops is ops:ops 0755 (owned by ops): a non-root user could replace /etc/nova-ha/nova-ha.conf'],
    ['the storage repair\'s program owned by the agents\' user', { '/opt': { kind: 'dir' }, '/opt/repair': { kind: 'dir' }, '/opt/repair/storage.sh': { kind: 'file', uid: 999, gid: 995, mode: 0o755 } },
      '[remediation] restart_storage_network: /opt/repair/storage.sh is consul:consul 0755 (owned by consul): a non-root user could change what sudo runs as root; run: chown root:root /opt/repair/storage.sh && chmod go-w /opt/repair/storage.sh', 'restart_storage_network = /opt/repair/storage.sh stor0'],
    ['the repair program\'s directory writable by a group with members', { '/opt': { kind: 'dir' }, '/opt/repair': { kind: 'dir', gid: 50, mode: 0o775 }, '/opt/repair/storage.sh': { kind: 'file', mode: 0o755 } },
      '[remediation] restart_storage_network: /opt/repair is root:staff 0775 (writable by group staff)', 'restart_storage_network = /opt/repair/storage.sh'],
    ['a repair program reached through a link into /tmp', { '/usr/local': { kind: 'dir' }, '/usr/local/sbin': { kind: 'dir' }, '/usr/local/sbin/fix': { kind: 'symlink', target: '../../../tmp/fix' }, '/tmp/fix': { kind: 'file', mode: 0o755 } },
      '[remediation] restart_nova_compute: /tmp is root:root 1777 (writable by every user)', 'restart_nova_compute = /usr/local/sbin/fix'],
    ['a repair program that does not exist', {}, '[remediation] restart_nova_compute: /usr/sbin/nova-fix does not exist (/usr/sbin/nova-fix is missing); install it or fix the path', 'restart_nova_compute = /usr/sbin/nova-fix'],
    ['a repair program that is not executable', { '/usr/sbin/nova-fix': { kind: 'file', mode: 0o644 } }, '[remediation] restart_nova_compute: /usr/sbin/nova-fix is root:root 0644: not an executable file', 'restart_nova_compute = /usr/sbin/nova-fix'],
    ['a state directory that is a link', { '/var/lib/nova-ha': { kind: 'symlink', target: '/etc' } }, '[DEFAULT] state_dir: /var/lib/nova-ha is a symbolic link: install.sh would hand whatever it points to to the Consul agents\' user; make it a real directory'],
    ['a state directory under a directory the agents\' user owns', { '/var/lib': { kind: 'dir', uid: 999, gid: 995 } },
      '[DEFAULT] state_dir: /var/lib is consul:consul 0755 (owned by consul): a non-root user could put a link to any directory in place of /var/lib/nova-ha, and install.sh would hand that directory to the Consul agents\' user; run: chown root:root /var/lib && chmod go-w /var/lib'],
    ['a log directory not created yet, under a directory every user can write', { '/var/log/nova-ha': null, '/var/log': { kind: 'dir', mode: 0o1777 } }, '[DEFAULT] log_file: /var/log is root:root 1777 (writable by every user)'],
    ['a BMC password file every user can read', { '/etc/nova-ha/ipmi.password': { kind: 'file', mode: 0o644 } }, '[ipmi] password_file: /etc/nova-ha/ipmi.password is root:root 0644: every user can read the BMC password', '[ipmi]\npassword_file = /etc/nova-ha/ipmi.password'],
    ['a fence device\'s password file every user can read', { '/etc/nova-ha/pdu.password': { kind: 'file', mode: 0o644 } }, '[fence_agent:pdu] password_file: /etc/nova-ha/pdu.password is root:root 0644: every user can read the fence device\'s password', '[fence_agent:pdu]\nagent = fence_apc_snmp\npassword_file = /etc/nova-ha/pdu.password'],
    ['a watchdog device in a directory another user can change (the service hands the device to the agents\' user as root)', { '/srv': { kind: 'dir', uid: 1000, gid: 1000 }, '/srv/wd': { kind: 'other', uid: 999, gid: 995, mode: 0o600 } },
      '[watchdog] device: /srv is ops:ops 0755 (owned by ops): a non-root user could put a link to any file in place of /srv/wd, and the watchdog service (as root) would hand that file to the Consul agents\' user; run: chown root:root /srv && chmod go-w /srv', '[watchdog]\nenabled = true\ndevice = /srv/wd'],
  ])('refuses %s', (_name, changes, line, extra = '') => {
    const lines = check(changes as Record<string, Entry | null>, extra);
    expect(lines.some((l) => l.startsWith(line) || l.includes(line))).toBe(true);
    expect(lines.filter((l) => !l.startsWith('warning:')).length).toBeGreaterThan(0);
  });

  it('a path this user may not look into is reported, not judged', () => {
    expect(check({ '/opt': { kind: 'dir' }, '/opt/secret': { kind: 'dir', denied: true } }, 'restart_nova_compute = /opt/secret/repair')).toEqual(['[remediation] restart_nova_compute: cannot check /opt/secret/repair (EACCES); run nova-ha check-config as root']);
  });

  it('a watchdog device under directories only root can change passes, whoever owns the device', () => {
    expect(check({ '/dev': { kind: 'dir' }, '/dev/watchdog0': { kind: 'other', uid: 999, gid: 995, mode: 0o660 } }, '[watchdog]\nenabled = true\ndevice = /dev/watchdog0')).toEqual([]);
  });

  it('a config readable through a supplementary group of the agents\' user passes', () => {
    expect(check({ [FILE]: { kind: 'file', gid: 60, mode: 0o640 } })).toEqual([]);
  });

  it('repair programs are checked on compute nodes only', () => {
    const controller = parseConfig('[DEFAULT]\nrole = controller\n[remediation]\nrestart_nova_compute = /opt/x\n').config!;
    expect(trustProblems(controller, FILE, { probe: fakeFs(), accounts }).map(formatProblem).filter((l) => l.includes('restart_nova_compute'))).toEqual([]);
  });

  it('an agents\' user that does not exist here is a warning, not a guess', () => {
    expect(check({}, 'run_as = nova-consul')).toEqual(['warning: [remediation] run_as: user nova-consul does not exist on this machine, so who may read this file was not checked; set the user the Consul agents run as']);
  });

  it('install paths: every existing part must be root\'s alone', () => {
    expect(rootPathProblems('the installed handlers', '/usr/lib/nova-ha', { probe: fakeFs({ '/usr/lib': { kind: 'dir' } }), accounts })).toEqual([]);
    expect(rootPathProblems('the installed handlers', '/opt/nova-ha/lib', { probe: fakeFs({ '/opt': { kind: 'dir', uid: 1000, gid: 1000 } }), accounts })).toEqual([
      '/opt is ops:ops 0755 (owned by ops): a non-root user could change the installed handlers (/opt/nova-ha/lib), which root trusts; run: chown root:root /opt && chmod go-w /opt',
    ]);
  });
});

describe('resolving a path as the kernel does', () => {
  it('keeps every directory and link it consults, through relative and absolute links', () => {
    const { nodes, target } = resolvePath('/usr/sbin/ip', fakeFs());
    expect(nodes.map((n) => n.path)).toEqual(['/', '/usr', '/usr/sbin', '/usr/sbin/ip', '/bin', '/usr', '/usr/bin', '/usr/bin/ip']);
    expect(target?.path).toBe('/usr/bin/ip');
  });

  it('names the first missing part, and gives up on a loop', () => {
    expect(resolvePath('/etc/nova-ha/missing/x', fakeFs()).missing).toBe('/etc/nova-ha/missing');
    const loop = resolvePath('/a', fakeFs({ '/a': { kind: 'symlink', target: '/b' }, '/b': { kind: 'symlink', target: '/a' } }));
    expect(loop.target).toBeUndefined();
  });

  it('"..": the parent of where a link led, not of the link', () => {
    const { target } = resolvePath('/l/../ip', fakeFs({ '/l': { kind: 'symlink', target: '/usr/bin/x' }, '/usr/bin/x': { kind: 'dir' } }));
    expect(target?.path).toBe(posix.join('/usr/bin', 'ip'));
  });

  it.each([
    [{ kind: 'file', uid: 999, gid: 995, mode: 0o644 }, 'owned by consul'],
    [{ kind: 'dir', uid: 0, gid: 0, mode: 0o777 }, 'writable by every user'],
    [{ kind: 'dir', uid: 0, gid: 50, mode: 0o775 }, 'writable by group staff'],
    [{ kind: 'dir', uid: 0, gid: 0, mode: 0o775 }, undefined],
    [{ kind: 'symlink', uid: 999, gid: 995, mode: 0o777 }, undefined],
  ] as const)('%o: %s', (node, writer) => {
    expect(otherWriter({ path: '/x', ...node }, accounts)).toBe(writer);
  });
});
