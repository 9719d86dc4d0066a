/**
 * The Consul agents' user must never become root (docs/security.md). Attacked here as that user,
 * with the real sudo and the real install.sh on lab computes: it cannot change what root trusts,
 * sudo grants it exactly the configured commands with exactly their arguments, a config that
 * would widen that is refused by check-config and install.sh, and a tampered config never widens
 * the installed rule. cmp4's config is changed and put back; cmp1's is only read.
 */
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../lab/lab.js';
import { consulAccount } from '../../lab/consul-agents.js';
import { installOn, installedLib, novaHaConfig, novaHaDir, novaHaLog, renderConfig, sudoersFile, writeNodeConfig } from '../../lab/nova-ha.js';
import { configureNode } from '../../lab/scenario.js';
import { REPO_ROOT, runDir } from '../../lab/topology.js';
import { errorsOf, parseConfig } from '../../lib/config/load.js';
import { testLab } from './lab-context.js';

let lab: Lab;
const NODE = 'cmp4';
const AGENT = ['setpriv', '--reuid=consul', '--regid=consul', '--init-groups', '--'];
let scratch: string;

/** A node script run as the agents' user inside `node`'s namespace: what a compromised agent could run. */
async function asAgent(node: string, script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return lab.exec(node, [...AGENT, process.execPath, '-e', script], { allowFailure: true });
}

const sudoAsAgent = (node: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> => lab.exec(node, [...AGENT, '/usr/bin/sudo', '-n', ...args], { allowFailure: true });
const checkConfig = (node: string): Promise<{ code: number; stdout: string; stderr: string }> => lab.exec(node, [process.execPath, join(installedLib(lab.spec), 'cli', 'nova-ha.js'), '--config', novaHaConfig(lab.spec, node), 'check-config'], { allowFailure: true });
const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/** install.sh's refusal (it throws with its last lines), or the empty string when it installed. */
async function installRefusal(node: string): Promise<string> {
  try {
    await installOn(lab.spec, node);
    return '';
  } catch (error) {
    return (error as Error).message;
  }
}

/** What a compute's config says its repair commands are, exactly. */
function configuredCommands(node: string): string[] {
  const { config } = parseConfig(readFileSync(novaHaConfig(lab.spec, node), 'utf8'));
  return [config!.remediation.restart_storage_network, config!.remediation.restart_nova_compute].filter((argv) => argv.length > 0).map((argv) => argv.join(' '));
}

/** Every command a sudoers drop-in grants the consul user, as "path args" ("" for no arguments). */
function grantedBy(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').flatMap((line) => {
    const match = /^consul\s+ALL\s*=\s*\(root\)\s*NOPASSWD:\s*(.*)$/.exec(line.trim());
    return match ? match[1]!.split(/,\s*/) : [];
  });
}

beforeAll(async () => {
  lab = await testLab();
  scratch = join(runDir(lab.spec), 'privilege-test');
  mkdirSync(scratch, { recursive: true, mode: 0o755 });
});

afterAll(async () => {
  configureNode(lab, NODE, { fencing: 'ipmi' });
  await installOn(lab.spec, NODE);
  rmSync(scratch, { recursive: true, force: true });
});

describe('the Consul agents\' user cannot change what root trusts', () => {
  it('every write to the config, its directory, the sudoers drop-in, the installed code or a repair program is refused (EACCES; EPERM for chmod)', async () => {
    const config = novaHaConfig(lab.spec, 'cmp1');
    const targets = {
      'append to the config': `fs.appendFileSync(${JSON.stringify(config)}, '\\nrestart_nova_compute = /bin/sh\\n')`,
      'replace the config (new file in its directory)': `fs.writeFileSync(${JSON.stringify(join(novaHaDir(lab.spec, 'cmp1'), 'evil.conf'))}, 'x')`,
      'rename the config away': `fs.renameSync(${JSON.stringify(config)}, ${JSON.stringify(`${config}.old`)})`,
      'chmod the config': `fs.chmodSync(${JSON.stringify(config)}, 0o666)`,
      'write the sudoers drop-in': `fs.appendFileSync(${JSON.stringify(sudoersFile(lab.spec, 'cmp1'))}, 'consul ALL=(ALL) NOPASSWD: ALL\\n')`,
      'add a sudoers drop-in': `fs.writeFileSync('/etc/sudoers.d/zz-consul', 'consul ALL=(ALL) NOPASSWD: ALL\\n')`,
      'change an installed handler': `fs.appendFileSync(${JSON.stringify(join(installedLib(lab.spec), 'handlers', 'remediate.js'))}, '\\n')`,
      'change the installed nova-ha command': `fs.appendFileSync(${JSON.stringify(join(novaHaDir(lab.spec, 'cmp1'), 'bin', 'nova-ha'))}, '\\n')`,
      'change the nova-compute repair program': `fs.appendFileSync(${JSON.stringify(join(REPO_ROOT, 'lab', 'nova', 'restart-compute.sh'))}, '\\n')`,
    };
    const script = `const fs = require('node:fs'); const out = {}; for (const [what, op] of Object.entries({${Object.entries(targets).map(([k, v]) => `${JSON.stringify(k)}: () => ${v}`).join(', ')}})) { try { op(); out[what] = 'WROTE'; } catch (e) { out[what] = e.code; } } console.log(JSON.stringify(out));`;
    const result = await asAgent('cmp1', script);
    expect(result.code, result.stderr).toBe(0);
    // chmod of a file one does not own is refused with EPERM, every other write with EACCES.
    expect(JSON.parse(result.stdout)).toEqual(Object.fromEntries(Object.keys(targets).map((k) => [k, k === 'chmod the config' ? 'EPERM' : 'EACCES'])));
    // And as root sees them: the config is root:consul 0640, readable by the agent, which is all it needs.
    const read = await asAgent('cmp1', `process.stdout.write(String(require('node:fs').readFileSync(${JSON.stringify(config)}, 'utf8').includes('hmac_key')))`);
    expect(read.stdout).toBe('true');
  });

  it('root\'s CLI does not write through a link the agents\' user put in place of the log file', async () => {
    const log = novaHaLog(lab.spec, NODE);
    const victim = join(scratch, 'victim');
    writeFileSync(victim, 'root-owned\n', { mode: 0o644 });
    // The log may not exist yet (nothing logged on this compute so far): set aside only if it does.
    const planted = await asAgent(NODE, `const fs = require('node:fs'); if (fs.existsSync(${JSON.stringify(log)})) fs.renameSync(${JSON.stringify(log)}, ${JSON.stringify(`${log}.kept`)}); fs.symlinkSync(${JSON.stringify(victim)}, ${JSON.stringify(log)});`);
    expect(planted.code, planted.stderr).toBe(0);
    expect(lstatSync(log).isSymbolicLink()).toBe(true);
    try {
      const cli = await lab.exec(NODE, [process.execPath, join(installedLib(lab.spec), 'cli', 'nova-ha.js'), '--config', novaHaConfig(lab.spec, NODE), 'maintenance', 'off', 'privilege-test-no-such-host'], { allowFailure: true });
      expect(cli.code, cli.stderr).toBe(0);
      expect(readFileSync(victim, 'utf8')).toBe('root-owned\n');
    } finally {
      rmSync(log, { force: true });
      if (existsSync(`${log}.kept`)) renameSync(`${log}.kept`, log);
    }
  });
});

describe('sudo grants exactly the configured commands', () => {
  it('sudo -l lists each configured command with exactly its arguments, and nothing the drop-ins do not say', async () => {
    const listed = await sudoAsAgent('cmp1', ['-l']);
    expect(listed.code, listed.stderr).toBe(0);
    const entries = listed.stdout.split('\n').flatMap((line) => {
      const match = /^\s*\(root\) NOPASSWD: (.*)$/.exec(line);
      return match ? match[1]!.split(/,\s*/) : [];
    });
    const ours = lab.computes.flatMap((c) => configuredCommands(c));
    // The consul user is shared by every lab on this machine: the other labs' drop-ins show too.
    const everyDropIn = readdirSync('/etc/sudoers.d').filter((f) => !f.includes('.')).flatMap((f) => grantedBy(join('/etc/sudoers.d', f)));
    for (const command of ours) expect(entries, command).toContain(command);
    expect(new Set(entries)).toEqual(new Set(everyDropIn));
    // This compute's own drop-in: one rule per configured command, each with its exact arguments.
    expect(grantedBy(sudoersFile(lab.spec, 'cmp1'))).toEqual(configuredCommands('cmp1'));
    expect(configuredCommands('cmp1')).toEqual(['/usr/sbin/ip link set dev stor0 up', `${join(REPO_ROOT, 'lab', 'nova', 'restart-compute.sh')} ${lab.spec.prefix} 1`]);
  });

  it('each configured command runs as root through sudo -n; other arguments, another program, a shell or a changed environment are refused', async () => {
    const [storage, nova] = configuredCommands('cmp1').map((c) => c.split(' ')) as [string[], string[]];
    for (const argv of [storage, nova]) {
      const check = await sudoAsAgent('cmp1', ['-l', ...argv]);
      expect(check.code, `${argv.join(' ')}: ${check.stderr}`).toBe(0);
    }
    const ran = await sudoAsAgent('cmp1', storage);
    expect(ran.code, ran.stderr).toBe(0);
    const refused: Record<string, string[]> = {
      'the storage link taken down': ['/usr/sbin/ip', 'link', 'set', 'dev', 'stor0', 'down'],
      'another interface (mgmt)': ['/usr/sbin/ip', 'link', 'set', 'dev', 'mgmt0', 'up'],
      'an extra argument': [...storage, 'extra'],
      'no arguments': ['/usr/sbin/ip'],
      'a batch file (-b runs any ip command)': ['/usr/sbin/ip', '-b', '/dev/stdin'],
      // Every lab compute's drop-in sits in this machine's one /etc/sudoers.d: "another node" is one no lab has.
      'the repair script for another node': [nova[0]!, lab.spec.prefix, String(lab.computes.length + 1)],
      'the repair script with an argument appended': [...nova, '; id'],
      'a shell': ['/bin/sh', '-c', 'id'],
      'sudo -s': ['-s'],
      'sudo -E (keep the environment)': ['-E', ...storage],
      'LD_PRELOAD set on the command line': ['LD_PRELOAD=/tmp/evil.so', ...storage],
      'another user': ['-u', 'nobody', ...storage],
      'sudoedit of the config': ['-e', novaHaConfig(lab.spec, 'cmp1')],
    };
    const outcomes: Record<string, number> = {};
    for (const [what, args] of Object.entries(refused)) outcomes[what] = (await sudoAsAgent('cmp1', args)).code;
    expect(outcomes).toEqual(Object.fromEntries(Object.keys(refused).map((k) => [k, 1])));
  });
});

describe('check-config and install.sh refuse a config that would widen the rule', () => {
  const consulOwned = (): string => {
    const file = join(scratch, 'agent-owned-repair.sh');
    writeFileSync(file, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    chownSync(file, consulAccount().uid, consulAccount().gid);
    return file;
  };
  const inAgentDir = (): string => {
    const dir = join(scratch, 'agent-dir');
    mkdirSync(dir, { recursive: true });
    chownSync(dir, consulAccount().uid, consulAccount().gid);
    writeFileSync(join(dir, 'repair.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    return join(dir, 'repair.sh');
  };

  it.each([
    ['a relative command', () => ({ restart_nova_compute: 'systemctl restart nova-compute' }), () => '[remediation] restart_nova_compute: expected a command starting with an absolute path (it runs through sudo, without a shell), found "systemctl restart nova-compute"'],
    ['a program the agents\' user owns', () => ({ restart_nova_compute: consulOwned() }), () => `[remediation] restart_nova_compute: ${join(scratch, 'agent-owned-repair.sh')} is consul:consul 0755 (owned by consul): a non-root user could change what sudo runs as root; run: chown root:root ${join(scratch, 'agent-owned-repair.sh')} && chmod go-w ${join(scratch, 'agent-owned-repair.sh')}`],
    ['a root-owned program in a directory the agents\' user owns', () => ({ restart_nova_compute: inAgentDir() }), () => `[remediation] restart_nova_compute: ${join(scratch, 'agent-dir')} is consul:consul 0755 (owned by consul): a non-root user could change what sudo runs as root`],
    ['a sudoers wildcard', () => ({ restart_storage_network: '/usr/sbin/ip link set dev stor* up' }), () => '[remediation] restart_storage_network: expected a command sudo can match exactly: "*" in "stor*" is a sudoers wildcard'],
    ['a sudoers separator', () => ({ restart_storage_network: '/usr/sbin/ip link set dev stor0 up,/bin/sh' }), () => '[remediation] restart_storage_network: expected a command sudo can match exactly: "," in "up,/bin/sh" is the separator between commands in sudoers'],
  ])('%s: one line from each, and the installed rule stays as it was', async (_name, remediation, line) => {
    const before = sha(sudoersFile(lab.spec, NODE));
    configureNode(lab, NODE, { fencing: 'ipmi', overrides: { remediation: remediation() } });
    const check = await checkConfig(NODE);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(`${novaHaConfig(lab.spec, NODE)}: ${line()}`);
    expect(await installRefusal(NODE)).toContain(line());
    expect(sha(sudoersFile(lab.spec, NODE))).toBe(before);
    configureNode(lab, NODE, { fencing: 'ipmi' });
  });
});

describe('reinstalling over a tampered config does not widen the rule', () => {
  // What the agents' user would want sudo to grant: a program that runs anything (id stands in).
  const WANTED = '/usr/bin/id';
  /** The node's config with its nova-compute repair swapped for WANTED: otherwise a valid config. */
  const tampered = (): string => {
    const text = readFileSync(novaHaConfig(lab.spec, NODE), 'utf8').replace(/^restart_nova_compute = .*$/m, `restart_nova_compute = ${WANTED}`);
    expect(text).toContain(WANTED);
    expect(errorsOf(parseConfig(text).problems)).toEqual([]);
    return text;
  };
  const stillRefused = async (): Promise<void> => expect((await sudoAsAgent(NODE, ['-l', WANTED])).code).toBe(1);

  it('a config the agents\' user owns (as install.sh used to leave it) and has changed is refused; the rule is unchanged', async () => {
    const config = novaHaConfig(lab.spec, NODE);
    const before = sha(sudoersFile(lab.spec, NODE));
    chownSync(config, consulAccount().uid, consulAccount().gid);
    chmodSync(config, 0o600);
    const wrote = await asAgent(NODE, `require('node:fs').writeFileSync(${JSON.stringify(config)}, ${JSON.stringify(tampered())})`);
    expect(wrote.code, wrote.stderr).toBe(0);
    try {
      expect(await installRefusal(NODE)).toContain(`${config} is consul:consul 0600 (owned by consul): a non-root user could have changed it, and root trusts it (install.sh grants its repair commands through sudo); review it, then run: chown root:consul ${config} && chmod 0640 ${config}`);
      expect(sha(sudoersFile(lab.spec, NODE))).toBe(before);
      await stillRefused();
    } finally {
      writeNodeConfig(lab.spec, NODE, renderConfig(lab.spec, NODE, { fencing: 'ipmi' }));
    }
  });

  it('a config replaced by the agents\' user through a directory it could write is refused; the rule is unchanged', async () => {
    const dir = novaHaDir(lab.spec, NODE);
    const config = novaHaConfig(lab.spec, NODE);
    const before = sha(sudoersFile(lab.spec, NODE));
    chownSync(dir, consulAccount().uid, consulAccount().gid);
    try {
      const evil = tampered();
      const replaced = await asAgent(NODE, `const fs = require('node:fs'); fs.writeFileSync(${JSON.stringify(`${config}.new`)}, ${JSON.stringify(evil)}); fs.renameSync(${JSON.stringify(`${config}.new`)}, ${JSON.stringify(config)});`);
      expect(replaced.code, replaced.stderr).toBe(0);
      const refusal = await installRefusal(NODE);
      expect(refusal).toContain(`${dir} is consul:consul 0755 (owned by consul): a non-root user could replace ${config}, which root trusts`);
      expect(sha(sudoersFile(lab.spec, NODE))).toBe(before);
      await stillRefused();
    } finally {
      chownSync(dir, 0, 0);
      writeNodeConfig(lab.spec, NODE, renderConfig(lab.spec, NODE, { fencing: 'ipmi' }));
    }
  });

  it('a config reached through a link the agents\' user controls is refused', async () => {
    const config = novaHaConfig(lab.spec, NODE);
    const before = sha(sudoersFile(lab.spec, NODE));
    const agentDir = join(scratch, 'agent-config');
    mkdirSync(agentDir, { recursive: true });
    chownSync(agentDir, consulAccount().uid, consulAccount().gid);
    writeFileSync(join(agentDir, 'nova-ha.conf'), readFileSync(config), { mode: 0o640 });
    chownSync(join(agentDir, 'nova-ha.conf'), 0, consulAccount().gid);
    renameSync(config, `${config}.kept`);
    symlinkSync(join(agentDir, 'nova-ha.conf'), config);
    try {
      // install.sh follows the link itself, so the line names the file it leads to.
      expect(await installRefusal(NODE)).toContain(`${agentDir} is consul:consul 0755 (owned by consul): a non-root user could replace ${join(agentDir, 'nova-ha.conf')}`);
      expect(sha(sudoersFile(lab.spec, NODE))).toBe(before);
    } finally {
      rmSync(config, { force: true });
      renameSync(`${config}.kept`, config);
    }
  });

  it('a root-owned config install.sh can trust reinstalls to the same rule, and sets a loose mode right', async () => {
    const config = novaHaConfig(lab.spec, NODE);
    const before = sha(sudoersFile(lab.spec, NODE));
    chownSync(config, 0, 0);
    chmodSync(config, 0o644);
    expect(await installRefusal(NODE)).toBe('');
    expect(sha(sudoersFile(lab.spec, NODE))).toBe(before);
    const stat = statSync(config);
    expect([stat.uid, stat.gid, (stat.mode & 0o777).toString(8)]).toEqual([0, consulAccount().gid, '640']);
  });
});
