import { describe, expect, it } from 'vitest';
import { commandProblem, sudoersDropIn } from '../../lib/config/sudoers.js';
import { formatProblem, parseConfig } from '../../lib/config/load.js';

describe('repair commands as sudo rules', () => {
  it.each([
    ['/usr/sbin/ip link set dev stor0 up'],
    ['/usr/bin/systemctl restart nova-compute'],
    ['/usr/bin/systemctl restart ifup@bond1.service'],
    ['/usr/local/sbin/restart-storage'],
    ['/opt/lab/restart-compute.sh nht 1'],
  ])('grants %s literally', (line) => {
    expect(commandProblem(line.split(' '))).toBeUndefined();
  });

  it.each([
    ['a wildcard *', '/usr/sbin/ip link set dev stor* up', '"*" in "stor*" is a sudoers wildcard'],
    ['a wildcard ?', '/usr/sbin/ip link set dev stor? up', '"?" in "stor?" is a sudoers wildcard'],
    ['a bracket wildcard', '/usr/sbin/ip link set dev stor[01] up', '"[" in "stor[01]" is a sudoers wildcard'],
    ['a wildcard in the path', '/usr/sbin/i* link', '"*" in "/usr/sbin/i*" is a sudoers wildcard'],
    ['a backslash', '/usr/bin/systemctl restart ifup@bond\\x2d1.service', '"\\" in "ifup@bond\\x2d1.service" is sudoers\' escape character'],
    ['a comma', '/usr/bin/true a,b', '"," in "a,b" is the separator between commands in sudoers'],
    ['a colon', '/usr/bin/true a:b', '":" in "a:b" is a separator between the parts of a sudoers rule'],
    ['an equals sign', '/usr/bin/env LD_PRELOAD=/tmp/x.so /usr/bin/true', '"=" in "LD_PRELOAD=/tmp/x.so" is a separator between the parts of a sudoers rule'],
    ['a negation', '/usr/bin/true !x', '"!" in "!x" is a negation in sudoers'],
    ['a quote', '/usr/bin/true "x"', '\'"\' in ""x"" is a quote'],
    ['a comment mark', '/usr/bin/true #x', '"#" in "#x" is the start of a sudoers comment'],
    ['a regular expression', '/usr/bin/true ^x$', '"^" in "^x$" is the mark of a regular expression in sudoers'],
    ['a shell character', '/usr/bin/true $(id)', '"$" in "$(id)"'],
    ['a dot-dot path', '/usr/sbin/../bin/sh', 'a plain absolute path to the program'],
    ['a directory (every command in it)', '/usr/sbin/', 'a plain absolute path to the program'],
    ['sudo itself', '/usr/bin/sudo -s', 'a repair command, not sudo itself'],
  ])('refuses %s with the reason', (_name, line, reason) => {
    expect(commandProblem(line.split(' '))).toContain(reason);
  });

  it('writes one rule per command, each with its exact arguments, "" for none', () => {
    expect(sudoersDropIn('consul', [['/usr/sbin/ip', 'link', 'set', 'dev', 'stor0', 'up'], ['/usr/local/sbin/restart-nova']]).split('\n').filter((l) => !l.startsWith('#'))).toEqual([
      'consul ALL=(root) NOPASSWD: /usr/sbin/ip link set dev stor0 up',
      'consul ALL=(root) NOPASSWD: /usr/local/sbin/restart-nova ""',
      '',
    ]);
  });

  it('refuses to render a rule it could not write literally, whatever the caller checked', () => {
    expect(() => sudoersDropIn('consul', [['/usr/sbin/ip', 'link', '*']])).toThrow(/sudoers wildcard/);
    expect(() => sudoersDropIn('consul ALL=(ALL) ALL #', [['/usr/bin/true']])).toThrow(/not a plain user name/);
  });

  it('check-config names the option and the character, in one line', () => {
    const problems = parseConfig('[DEFAULT]\nrole = compute\n[remediation]\nhmac_key = 0123456789abcdef0123456789abcdef\nstorage_interface = stor0\nrestart_storage_network = /usr/sbin/ip link set dev stor* up\n').problems.map(formatProblem);
    expect(problems).toEqual(['[remediation] restart_storage_network: expected a command sudo can match exactly: "*" in "stor*" is a sudoers wildcard; nova-ha refuses such characters rather than escape them (put the command in a root-owned script if it needs them), found "/usr/sbin/ip link set dev stor* up"']);
  });
});

describe('the storage repair names its interface', () => {
  const compute = (remediation: string): ReturnType<typeof parseConfig> => parseConfig(`[DEFAULT]\nrole = compute\n[remediation]\nhmac_key = 0123456789abcdef0123456789abcdef\n${remediation}\n`);

  it('by default sets only the storage interface up', () => {
    const { config, problems } = compute('storage_interface = bond1');
    expect(problems).toEqual([]);
    expect(config!.remediation.restart_storage_network).toEqual(['/usr/sbin/ip', 'link', 'set', 'dev', 'bond1', 'up']);
  });

  it('fills {storage_interface} into a command of the operator\'s', () => {
    const { config } = compute('storage_interface = bond1.200\nrestart_storage_network = /usr/bin/networkctl reconfigure {storage_interface}');
    expect(config!.remediation.restart_storage_network).toEqual(['/usr/bin/networkctl', 'reconfigure', 'bond1.200']);
  });

  it('without an interface there is no storage repair, and a compute is warned', () => {
    const { config, problems } = compute('');
    expect(config!.remediation.restart_storage_network).toEqual([]);
    expect(problems.map(formatProblem)).toEqual([expect.stringMatching(/^warning: \[remediation\] storage_interface: not set, so this node's storage network is never repaired/)]);
    expect(compute('restart_storage_network =').problems).toEqual([]);
  });

  it('a command written with {storage_interface} but no interface is an error', () => {
    expect(compute('restart_storage_network = /usr/sbin/ifup {storage_interface}').problems.map(formatProblem)).toEqual([expect.stringMatching(/^\[remediation\] storage_interface: expected the storage network's interface/)]);
  });

  it.each([['stor 0'], ['stor*'], ['a-very-long-interface-name'], ['..'], ['eth0:1']])('refuses the interface name %s', (name) => {
    expect(compute(`storage_interface = ${name}`).problems.map(formatProblem).join('\n')).toMatch(/\[remediation\] storage_interface: expected a network interface name/);
  });

  it.each([
    ['/usr/bin/systemctl restart networking'],
    ['/usr/sbin/service networking restart'],
    ['/etc/init.d/networking restart'],
    ['/usr/sbin/netplan apply'],
    ['/usr/sbin/ifreload -a'],
    ['/usr/bin/systemctl restart systemd-networkd'],
  ])('warns that %s restarts every interface, mgmt included', (command) => {
    expect(compute(`restart_storage_network = ${command}`).problems.map(formatProblem)).toEqual([expect.stringMatching(/^warning: \[remediation\] restart_storage_network: ".*" restarts every interface, mgmt included/)]);
  });

  it('refuses a run_as that is not a plain user name (it goes into sudoers)', () => {
    expect(compute('storage_interface = bond1\nrun_as = consul ALL=(ALL) ALL').problems.map(formatProblem)).toEqual([expect.stringMatching(/^\[remediation\] run_as: expected a user name/)]);
  });
});
