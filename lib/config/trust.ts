/**
 * What root trusts on a node, looked at as an attacker would: the config file (root reads it, and
 * install.sh turns its repair commands into sudo rules), the repair commands (sudo runs them as
 * root), the directories above the agents' own state and log directories (install.sh hands
 * those to the agents' user), and the directories above the watchdog device (the watchdog
 * service, as root, hands the device to the agents' user). A file or directory that a user other than root can change there is
 * a way to root, so each one is refused in one line that names it, its owner and mode, and the fix.
 *
 * A path is followed the way the kernel resolves it, symbolic links included: every directory
 * consulted on the way counts, since whoever can change one of them can point the path elsewhere.
 */
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, lstatSync, openSync, readlinkSync, type Stats } from 'node:fs';
import { dirname, posix } from 'node:path';
import { localAccounts, type Account, type Accounts } from '../shared/accounts.js';
import type { Config, ConfigProblem } from './load.js';
import { FENCE_AGENT_PREFIX } from './schema.js';

export interface PathNode {
  readonly path: string;
  readonly kind: 'file' | 'dir' | 'symlink' | 'other';
  readonly uid: number;
  readonly gid: number;
  /** Permission bits (mode & 0o7777). */
  readonly mode: number;
}

export interface FsProbe {
  /** The node itself (a link is not followed), or undefined when nothing is there; throws when it cannot tell. */
  lstat(path: string): PathNode | undefined;
  readlink(path: string): string;
}

export interface Resolution {
  /** Every node consulted, in order: '/', each directory, each link, the final node. */
  readonly nodes: readonly PathNode[];
  /** The first path that does not exist, when the path does not resolve. */
  readonly missing?: string;
  /** What the path finally names, when it exists. */
  readonly target?: PathNode;
}

const MAX_LINKS = 40;

/** Resolves an absolute path as the kernel would, keeping every node it looks at. */
export function resolvePath(path: string, probe: FsProbe): Resolution {
  const root = probe.lstat('/');
  const nodes: PathNode[] = root ? [root] : [];
  const pending = path.split('/').filter(Boolean);
  let current = '/';
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      current = posix.dirname(current);
      continue;
    }
    const next = posix.join(current, part);
    const node = probe.lstat(next);
    if (!node) return { nodes, missing: next };
    nodes.push(node);
    if (node.kind === 'symlink') {
      if (++links > MAX_LINKS) return { nodes, missing: next };
      const target = probe.readlink(next);
      if (target.startsWith('/')) current = '/';
      pending.unshift(...target.split('/').filter(Boolean));
      continue;
    }
    current = next;
  }
  return { nodes, target: nodes.at(-1)! };
}

/** Who other than root could change this node, or undefined when only root can. */
export function otherWriter(node: PathNode, accounts: Pick<Accounts, 'userName' | 'groupName'>): string | undefined {
  // A link's own owner and mode change nothing: only the directory holding it can replace it.
  if (node.kind === 'symlink') return undefined;
  if (node.uid !== 0) return `owned by ${accounts.userName(node.uid)}`;
  if (node.mode & 0o002) return 'writable by every user';
  if (node.mode & 0o020 && node.gid !== 0) return `writable by group ${accounts.groupName(node.gid)}`;
  return undefined;
}

const octal = (mode: number): string => mode.toString(8).padStart(4, '0');
export const describeNode = (node: PathNode, accounts: Pick<Accounts, 'userName' | 'groupName'>): string => `${node.path} is ${accounts.userName(node.uid)}:${accounts.groupName(node.gid)} ${octal(node.mode)}`;

/** Whether user has permission bit `bit` (4 read, 1 search) on node, as the kernel decides it. */
function allows(node: PathNode, user: Account, bit: 4 | 1): boolean {
  if (node.uid === user.uid) return (node.mode & (bit << 6)) !== 0;
  if (user.groups.includes(node.gid)) return (node.mode & (bit << 3)) !== 0;
  return (node.mode & bit) !== 0;
}

export interface TrustContext {
  readonly probe: FsProbe;
  readonly accounts: Accounts;
}

interface Subject {
  readonly probe: FsProbe;
  readonly accounts: Accounts;
  readonly agent: Account | undefined;
  readonly agentName: string;
  readonly agentGroup: string;
}

const fixOf = (node: PathNode): string => `run: chown root:root ${node.path} && chmod go-w ${node.path}`;

function configFileProblems(file: string, s: Subject): ConfigProblem[] {
  const resolved = resolvePath(file, s.probe);
  const target = resolved.target;
  if (!target) return [];
  const problems: ConfigProblem[] = [];
  for (const node of resolved.nodes.slice(0, -1)) {
    const writer = otherWriter(node, s.accounts);
    if (writer) problems.push({ section: '', message: `${describeNode(node, s.accounts)} (${writer}): a non-root user could replace ${file}, which root trusts (install.sh grants its repair commands through sudo); ${fixOf(node)}` });
    else if (s.agent && node.kind === 'dir' && !allows(node, s.agent, 1)) problems.push({ section: '', message: `${describeNode(node, s.accounts)}: the Consul agents' user ${s.agentName} cannot reach ${file} through it (the handlers run as it); run: chmod go+x ${node.path}` });
  }
  const writer = otherWriter(target, s.accounts);
  const own = `run: chown root:${s.agentGroup} ${target.path} && chmod 0640 ${target.path}`;
  if (writer) problems.push({ section: '', message: `${describeNode(target, s.accounts)} (${writer}): a non-root user could have changed it, and root trusts it (install.sh grants its repair commands through sudo); review it, then ${own}` });
  else if (target.mode & 0o004) problems.push({ section: '', message: `${describeNode(target, s.accounts)}: every user can read its secrets; ${own}` });
  else if (s.agent && !allows(target, s.agent, 4)) problems.push({ section: '', message: `${describeNode(target, s.accounts)}: the Consul agents' user ${s.agentName} (the handlers run as it) cannot read it; ${own}` });
  return problems;
}

function repairProgramProblems(key: string, argv: readonly string[], s: Subject): ConfigProblem[] {
  const program = resolvePath(argv[0]!, s.probe);
  if (!program.target) return [{ section: 'remediation', key, message: `${argv[0]} does not exist (${program.missing} is missing); install it or fix the path` }];
  const problems: ConfigProblem[] = [];
  for (const node of program.nodes) {
    const writer = otherWriter(node, s.accounts);
    if (writer) problems.push({ section: 'remediation', key, message: `${describeNode(node, s.accounts)} (${writer}): a non-root user could change what sudo runs as root; ${fixOf(node)}` });
  }
  if (program.target.kind !== 'file' || (program.target.mode & 0o111) === 0) problems.push({ section: 'remediation', key, message: `${describeNode(program.target, s.accounts)}: not an executable file; name the program itself` });
  return problems;
}

function agentDirProblems(key: string, dir: string, s: Subject): ConfigProblem[] {
  if (s.probe.lstat(dir)?.kind === 'symlink') return [{ section: 'DEFAULT', key, message: `${dir} is a symbolic link: install.sh would hand whatever it points to to the Consul agents' user; make it a real directory` }];
  const resolved = resolvePath(dir, s.probe);
  const above = resolved.target ? resolved.nodes.slice(0, -1) : resolved.nodes;
  return above.flatMap((node) => {
    const writer = otherWriter(node, s.accounts);
    return writer ? [{ section: 'DEFAULT', key, message: `${describeNode(node, s.accounts)} (${writer}): a non-root user could put a link to any directory in place of ${dir}, and install.sh would hand that directory to the Consul agents' user; ${fixOf(node)}` }] : [];
  });
}

function passwordFileProblems(section: string, path: string, s: Subject): ConfigProblem[] {
  const target = resolvePath(path, s.probe).target;
  return target && target.mode & 0o004 ? [{ section, key: 'password_file', message: `${describeNode(target, s.accounts)}: every user can read the ${section.startsWith('ipmi') ? 'BMC' : 'fence device\'s'} password; run: chown root:${s.agentGroup} ${target.path} && chmod 0640 ${target.path}` }] : [];
}

/**
 * The nova-ha-watchdog service has root chgrp and chmod the device (lib/systems/systemd/units.ts)
 * before the feeder starts: whoever can change a directory on the way could put a link to any
 * file there, and root would hand that file to the agents' user.
 */
function watchdogDeviceProblems(device: string, s: Subject): ConfigProblem[] {
  const resolved = resolvePath(device, s.probe);
  const above = resolved.target ? resolved.nodes.slice(0, -1) : resolved.nodes;
  return above.flatMap((node) => {
    const writer = otherWriter(node, s.accounts);
    return writer ? [{ section: 'watchdog', key: 'device', message: `${describeNode(node, s.accounts)} (${writer}): a non-root user could put a link to any file in place of ${device}, and the watchdog service (as root) would hand that file to the Consul agents' user; ${fixOf(node)}` }] : [];
  });
}

/**
 * Every way a non-root user could change what root trusts in this config, one problem each.
 * `file` is the config file itself; `agentUser` the Consul agents' user when install.sh was told
 * another one than [remediation] run_as.
 */
export function trustProblems(config: Config, file: string, context: TrustContext = { probe: realProbe, accounts: localAccounts() }, agentUser?: string): ConfigProblem[] {
  const agentName = agentUser ?? config.remediation.run_as;
  const agent = context.accounts.user(agentName);
  const s: Subject = { ...context, agent, agentName, agentGroup: agent ? context.accounts.groupName(agent.gid) : agentName };
  // A path this user may not look into cannot be judged: say so rather than guess.
  const checked = (section: string, key: string | undefined, path: string, check: () => ConfigProblem[]): ConfigProblem[] => {
    try {
      return check();
    } catch (error) {
      return [{ section, ...(key ? { key } : {}), message: `cannot check ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); run nova-ha check-config as root` }];
    }
  };
  const problems = checked('', undefined, file, () => configFileProblems(file, s));
  if (!agent) problems.push({ section: 'remediation', key: 'run_as', warning: true, message: `user ${agentName} does not exist on this machine, so who may read this file was not checked; set the user the Consul agents run as` });
  if (config.DEFAULT.role === 'compute') {
    for (const key of ['restart_storage_network', 'restart_nova_compute'] as const) {
      const argv = config.remediation[key];
      if (argv.length > 0) problems.push(...checked('remediation', key, argv[0]!, () => repairProgramProblems(key, argv, s)));
    }
  }
  const agentDirs = [['state_dir', config.DEFAULT.state_dir], ...(config.DEFAULT.log_file ? [['log_file', dirname(config.DEFAULT.log_file)]] : [])] as const;
  for (const [key, dir] of agentDirs) problems.push(...checked('DEFAULT', key, dir, () => agentDirProblems(key, dir, s)));
  const passwordFiles = [['ipmi', config.ipmi.password_file], ...[...config.ipmiHosts].map(([host, c]) => [`ipmi:${host}`, c.password_file ?? '']), ...[...config.fenceAgents].map(([name, c]) => [`${FENCE_AGENT_PREFIX}${name}`, c.password_file])] as const;
  for (const [section, path] of passwordFiles) if (path) problems.push(...checked(section, 'password_file', path, () => passwordFileProblems(section, path, s)));
  if (config.DEFAULT.role === 'compute' && config.watchdog.enabled) {
    problems.push(...checked('watchdog', 'device', config.watchdog.device, () => watchdogDeviceProblems(config.watchdog.device, s)));
  }
  return problems;
}

/**
 * install.sh's one change to a config before it trusts it: a root-owned file that no one else can
 * have written gets root:<agents' group> 0640, so the handlers can read it and no one else can.
 * Anything else is left as it is for trustProblems to refuse. Changed through the open file, so
 * the file checked is the file changed. Returns what it did, or undefined.
 */
export function secureConfigFile(file: string, agent: Account, context: TrustContext = { probe: realProbe, accounts: localAccounts() }): string | undefined {
  const resolved = resolvePath(file, context.probe);
  const target = resolved.target;
  if (!target || target.kind !== 'file' || resolved.nodes.some((node) => otherWriter(node, context.accounts))) return undefined;
  if (target.gid === agent.gid && target.mode === 0o640) return undefined;
  const fd = openSync(target.path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.uid !== 0 || (stat.mode & 0o022) !== 0) return undefined;
    fchownSync(fd, 0, agent.gid);
    fchmodSync(fd, 0o640);
  } finally {
    closeSync(fd);
  }
  return `set ${target.path} to root:${context.accounts.groupName(agent.gid)} 0640 (the handlers read it as ${agent.name}; only root may change it)`;
}

function kindOf(stat: Stats): PathNode['kind'] {
  if (stat.isSymbolicLink()) return 'symlink';
  if (stat.isDirectory()) return 'dir';
  if (stat.isFile()) return 'file';
  return 'other';
}

export const realProbe: FsProbe = {
  lstat(path) {
    try {
      const stat = lstatSync(path);
      return { path, kind: kindOf(stat), uid: stat.uid, gid: stat.gid, mode: stat.mode & 0o7777 };
    } catch (error) {
      // Missing is an answer; not being allowed to look (EACCES) is not.
      if (['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '')) return undefined;
      throw error;
    }
  },
  readlink: (path) => readlinkSync(path),
};

/**
 * A place root installs into or runs from (install.sh's --lib and --bin-dir, the sudoers
 * drop-in): every part of it that exists must be root's alone. One line per part that is not.
 */
export function rootPathProblems(what: string, path: string, context: TrustContext = { probe: realProbe, accounts: localAccounts() }): string[] {
  const { nodes } = resolvePath(path, context.probe);
  return nodes.flatMap((node) => {
    const writer = otherWriter(node, context.accounts);
    return writer ? [`${describeNode(node, context.accounts)} (${writer}): a non-root user could change ${what} (${path}), which root trusts; run: chown root:root ${node.path} && chmod go-w ${node.path}`] : [];
  });
}
