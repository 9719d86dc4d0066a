/**
 * nova-ha inside the lab, installed the way an operator installs it: a config file per lab node,
 * then install.sh --role controller|compute run inside that node's namespace, which writes the
 * watches and checks into the node's three agents' config dirs, validates and reloads them. Also
 * the lab's real SMTP server (one per controller, on its loopback) that the emails go to.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { novaHaToken } from './consul-acl.js';
import { agentConfigDir, agentConfigFile, CONSUL_BINARY } from './consul-config.js';
import { consulAccount } from './consul-agents.js';
import { isRunning, readRecord, recordProcess, stopProcesses } from './processes.js';
import { inParallel, runInNamespace } from './shell.js';
import { addressOf, computeNames, CONSUL_NETWORKS, controllerNames, namespaceOf, nodeDir, openstackAddress, REPO_ROOT, runDir, CONSUL_PORTS, type LabSpec } from './topology.js';

export const SMTP_PORT = 2525;
export const MAIL_TO = 'ops@lab.example';
const SUDOERS_DIR = '/etc/sudoers.d';

export interface NovaHaLabOptions {
  readonly fencing: 'none' | 'ipmi' | 'agent';
  /** Extra or changed options, by section, merged over the lab defaults. */
  readonly overrides?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export const mailDir = (spec: LabSpec): string => join(runDir(spec), 'mail');
export const novaHaDir = (spec: LabSpec, node: string): string => join(nodeDir(spec, node), 'nova-ha');
export const novaHaConfig = (spec: LabSpec, node: string): string => join(novaHaDir(spec, node), 'nova-ha.conf');
/** In a directory of its own: the agents' user writes there, and nova-ha.conf beside it is root's. */
export const novaHaLog = (spec: LabSpec, node: string): string => join(novaHaDir(spec, node), 'log', 'nova-ha.log');
export const installedLib = (spec: LabSpec): string => join(runDir(spec), 'opt', 'nova-ha');
/** Where a controller's node_exporter textfile collector would read nova-ha's metrics. */
export const metricsFile = (spec: LabSpec, node: string): string => join(novaHaDir(spec, node), 'metrics', 'nova-ha.prom');
export const sudoersFile = (spec: LabSpec, node: string): string => join(SUDOERS_DIR, `nova-ha-lab-${spec.prefix}-${node}`);
const hmacKeyFile = (spec: LabSpec): string => join(runDir(spec), 'nova-ha-hmac.key');
const novaRun = (spec: LabSpec): string => join(runDir(spec), 'nova');

/** Lab timings: short enough for tests, in the same proportions as the defaults. */
const LAB_POLICY = {
  confirmation_window: '4s',
  api_down_wait: '10s',
  repair_timeout: '20s',
  boot_timeout: '60s',
  startup_quiet_period: '0s',
  storm_limit: '25%',
  evaluate_interval: '10s',
};

function ini(sections: Record<string, Record<string, string>>): string {
  return `${Object.entries(sections).map(([name, options]) => [`[${name}]`, ...Object.entries(options).map(([k, v]) => `${k} = ${v}`)].join('\n')).join('\n\n')}\n`;
}

function novaCredentials(spec: LabSpec): Record<string, string> {
  const file = join(novaRun(spec), 'admin.json');
  const admin = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>) : {};
  return {
    auth_url: admin['auth_url'] ?? `http://${openstackAddress()}:5000/v3`,
    username: admin['username'] ?? 'admin',
    password: admin['password'] ?? 'labpass',
    project_name: admin['project_name'] ?? 'admin',
    user_domain_name: 'Default',
    project_domain_name: 'Default',
    region_name: admin['region_name'] ?? 'RegionOne',
    interface: 'public',
    poll_interval: '5s',
  };
}

/** In a lab with ACLs, the node's least-privilege token per cluster (lab/consul-acl.ts); nothing otherwise. */
function consulTokens(spec: LabSpec, node: string): Record<string, string> {
  const tokens: Record<string, string> = {};
  for (const network of CONSUL_NETWORKS) {
    const token = novaHaToken(spec, node, network);
    if (token) tokens[`${network}_token`] = token;
  }
  return tokens;
}

export function renderConfig(spec: LabSpec, node: string, options: NovaHaLabOptions): string {
  const controller = node.startsWith('ctl');
  const dir = novaHaDir(spec, node);
  const index = Number(node.replace(/\D/g, ''));
  const sections: Record<string, Record<string, string>> = {
    DEFAULT: { role: controller ? 'controller' : 'compute', node_name: node, state_dir: join(dir, 'state'), log_file: novaHaLog(spec, node), log_level: 'debug' },
    consul: { mgmt_address: `http://127.0.0.1:${CONSUL_PORTS.mgmt.http}`, storage_address: `http://127.0.0.1:${CONSUL_PORTS.storage.http}`, tenant_address: `http://127.0.0.1:${CONSUL_PORTS.tenant.http}`, timeout: '10s', ...consulTokens(spec, node) },
    remediation: { hmac_key: readFileSync(hmacKeyFile(spec), 'utf8').trim(), run_as: 'consul' },
  };
  if (controller) {
    sections['nova'] = novaCredentials(spec);
    sections['fencing'] = { method: options.fencing, fence_timeout: '30s' };
    sections['ipmi'] = { username: 'nova-ha', password_file: join(dir, 'ipmi.password'), cipher_suite: '3', attempt_timeout: '1s', retries: '1', poll_interval: '10s' };
    for (const compute of computeNames(spec)) sections[`ipmi:${compute}`] = { address: addressOf(compute.replace('cmp', 'bmc'), 'oob') };
    sections['policy'] = { ...LAB_POLICY };
    sections['metrics'] = { textfile_path: metricsFile(spec, node) };
    sections['notifications'] = { smtp_host: '127.0.0.1', smtp_port: String(SMTP_PORT), smtp_tls: 'none', from: `nova-ha@${node}.lab.example`, to: MAIL_TO, dedupe_window: '20s', retry_for: '20s' };
  } else {
    // The default storage repair (ip link set dev stor0 up), as an operator would leave it.
    sections['remediation'] = { ...sections['remediation']!, storage_interface: 'stor0', restart_nova_compute: `${join(REPO_ROOT, 'lab', 'nova', 'restart-compute.sh')} ${spec.prefix} ${index}` };
    sections['nova_compute'] = { systemd_unit: '', process_name: 'nova-compute', pid_file: join(novaRun(spec), 'pid', `nova-compute-${node}.pid`), check_interval: '2s' };
  }
  for (const [section, values] of Object.entries(options.overrides ?? {})) sections[section] = { ...sections[section], ...values };
  return ini(sections);
}

/**
 * A node's config as install.sh wants it: root:<agents' group> 0640, in a directory only root can
 * change (written whole and renamed into place, so no one ever reads half of it).
 */
export function writeNodeConfig(spec: LabSpec, node: string, text: string): void {
  const { gid } = consulAccount();
  const file = novaHaConfig(spec, node);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o640, flag: 'w' });
  chownSync(temp, 0, gid);
  chmodSync(temp, 0o640);
  renameSync(temp, file);
}

/**
 * Writes every node's config. What root trusts (the node's nova-ha dir, its config, the BMC
 * password) is root's; the agents' user gets its group's read access and, for its own writes,
 * the metrics dir here and the state and log dirs install.sh creates.
 */
export function writeConfigs(spec: LabSpec, options: NovaHaLabOptions): void {
  if (!existsSync(hmacKeyFile(spec))) writeFileSync(hmacKeyFile(spec), randomBytes(32).toString('hex'), { mode: 0o600 });
  const { uid, gid } = consulAccount();
  for (const node of [...controllerNames(), ...computeNames(spec)]) {
    const dir = novaHaDir(spec, node);
    mkdirSync(dir, { recursive: true });
    chownSync(dir, 0, 0);
    chmodSync(dir, 0o755);
    if (node.startsWith('ctl')) {
      copyFileSync(join(runDir(spec), 'ipmi.password'), join(dir, 'ipmi.password'));
      chownSync(join(dir, 'ipmi.password'), 0, gid);
      chmodSync(join(dir, 'ipmi.password'), 0o640);
      mkdirSync(dirname(metricsFile(spec, node)), { recursive: true });
      chownSync(dirname(metricsFile(spec, node)), uid, gid);
    }
    writeNodeConfig(spec, node, renderConfig(spec, node, options));
  }
}

/** install.sh for one node, run inside its namespace as an operator would run it on the node. */
export async function installOn(spec: LabSpec, node: string, extraArgs: readonly string[] = []): Promise<string> {
  const role = node.startsWith('ctl') ? 'controller' : 'compute';
  const agents = (['mgmt', 'storage', 'tenant'] as const).flatMap((net) => ['--agent', `${net}=${agentConfigDir(spec, node, net)},${agentConfigFile(spec, node, net)}`]);
  const result = await runInNamespace(namespaceOf(spec, node), [
    join(REPO_ROOT, 'install.sh'), '--role', role, '--config', novaHaConfig(spec, node), '--lib', installedLib(spec),
    '--bin-dir', join(novaHaDir(spec, node), 'bin'), '--consul', CONSUL_BINARY, '--consul-user', 'consul',
    '--sudoers-file', sudoersFile(spec, node), '--node', process.execPath, ...agents,
    '--restart', `mgmt=${join(REPO_ROOT, 'lab', 'bin', 'restart-agent.sh')} ${runDir(spec)} ${node} mgmt`,
    // No systemd in the lab: nova-ha's opt-in services are written here and started by lab/fencing.ts.
    '--systemd-dir', join(novaHaDir(spec, node), 'systemd'), ...extraArgs,
  ], { allowFailure: true });
  if (result.code !== 0) throw new Error(`install.sh on ${node} failed (exit ${result.code}): ${(result.stderr || result.stdout).trim().split('\n').slice(-6).join(' | ')}`);
  return result.stdout;
}

/** Configs, then install.sh on every node (controllers first: their watches must exist before computes report). */
export async function installNovaHa(spec: LabSpec, options: NovaHaLabOptions): Promise<void> {
  if (!existsSync(join(REPO_ROOT, 'dist', 'handlers', 'worker.js'))) throw new Error('dist/ is missing: run npm run build (node build.mjs) before installing nova-ha into the lab');
  writeConfigs(spec, options);
  await startMailSinks(spec);
  for (const controller of controllerNames()) await installOn(spec, controller);
  await inParallel(computeNames(spec), 4, async (compute) => {
    await installOn(spec, compute);
  });
}

const sinkName = (controller: string): string => `${controller}-smtp-sink`;
const smtpTlsDir = (spec: LabSpec): string => join(runDir(spec), 'smtp-tls');

/**
 * What a controller needs to send mail the way a real relay wants it (STARTTLS, then AUTH): the
 * sinks accept this user and password, and their certificate verifies against cafile.
 */
export function smtpAuth(spec: LabSpec): { username: string; password: string; cafile: string } {
  const [username, password] = readFileSync(join(smtpTlsDir(spec), 'auth'), 'utf8').trim().split(':') as [string, string];
  return { username, password, cafile: join(smtpTlsDir(spec), 'cert.pem') };
}

/** The sinks' certificate for 127.0.0.1 (self-signed, readable by all) and their user's password (root only). */
async function makeSmtpTls(spec: LabSpec): Promise<void> {
  const dir = smtpTlsDir(spec);
  if (existsSync(join(dir, 'auth'))) return;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const openssl = spawn('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '30', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const code = await new Promise<number | null>((resolve) => openssl.on('exit', resolve));
  if (code !== 0) throw new Error(`openssl could not make the SMTP sinks' certificate in ${dir} (exit ${code})`);
  chmodSync(join(dir, 'key.pem'), 0o600);
  chmodSync(join(dir, 'cert.pem'), 0o644);
  writeFileSync(join(dir, 'auth'), `nova-ha:${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
}

export async function startMailSinks(spec: LabSpec): Promise<void> {
  mkdirSync(mailDir(spec), { recursive: true });
  await makeSmtpTls(spec);
  for (const controller of controllerNames()) {
    const existing = readRecord(runDir(spec), sinkName(controller));
    if (existing && isRunning(existing)) continue;
    const log = join(runDir(spec), 'logs', `${sinkName(controller)}.log`);
    mkdirSync(join(runDir(spec), 'logs'), { recursive: true });
    const child = spawn('ip', ['netns', 'exec', namespaceOf(spec, controller), process.execPath, '--import', 'tsx', join(REPO_ROOT, 'lab', 'smtp-sink.ts'), '--dir', mailDir(spec), '--port', String(SMTP_PORT), '--name', controller, '--tls-dir', smtpTlsDir(spec)], { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, NODE_OPTIONS: '' } });
    child.unref();
    await new Promise((resolve) => setTimeout(resolve, 200));
    recordProcess(runDir(spec), sinkName(controller), child.pid!);
    writeFileSync(`${log}`, '', { flag: 'a' });
  }
}

export async function stopMailSinks(spec: LabSpec): Promise<void> {
  const records = controllerNames().map((c) => readRecord(runDir(spec), sinkName(c))).filter((r) => r !== undefined);
  await stopProcesses(records, 3000);
}

/** The sudoers drop-ins a lab's install.sh wrote: outside the run dir, so removed explicitly. */
export function removeLabSudoers(prefix: string): string[] {
  const mine = readdirSync(SUDOERS_DIR).filter((f) => f.startsWith(`nova-ha-lab-${prefix}-`));
  for (const file of mine) rmSync(join(SUDOERS_DIR, file), { force: true });
  return mine;
}

/** Empties the mailbox, for a test that counts what it caused. */
export function clearMail(spec: LabSpec): void {
  rmSync(mailDir(spec), { recursive: true, force: true });
  mkdirSync(mailDir(spec), { recursive: true });
}
