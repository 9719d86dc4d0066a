/**
 * The Nova part of the lab for tests: a thin wrapper over lab/nova/*.sh and lab/nova/lab.py.
 *
 * Tests stay in the root namespace; everything that talks to the lab's addresses runs inside the
 * controller namespace (ip netns exec <prefix>-ctl1), and only after `ip -n <ns> route get`
 * showed the address is reached through a lab device (the lab's hard network rule).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabPyWorkers } from './nova-workers.js';
import { LAB_DEVICES, OPENSTACK_NODE, REPO_ROOT, addressOf, namespaceOf, openstackAddress, runDir, type LabSpec } from './topology.js';

const SCRIPTS = join(REPO_ROOT, 'lab', 'nova');
const SYSTEM_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
const WORKERS = new Map<string, LabPyWorkers>();

/** What nova-ha's [nova] section needs to reach the lab's cloud as admin (admin.json). */
export interface AdminCredentials {
  readonly auth_url: string;
  readonly auth_type: 'password';
  readonly username: string;
  readonly password: string;
  readonly user_domain_name: string;
  readonly project_name: string;
  readonly project_domain_name: string;
  readonly region_name: string;
  readonly interface: 'public' | 'internal' | 'admin';
}

export interface StepTiming {
  readonly step: string;
  readonly seconds: number;
}

export interface UpResult { readonly prefix: string; readonly computes: number; readonly servicesSeconds: number; readonly upSeconds: number }
export interface SeedResult { readonly flavor: string; readonly image: string; readonly network: string; readonly subnet: string; readonly seconds: number }
export interface BootResult {
  readonly count: number;
  readonly postSeconds: number;
  readonly settledSeconds: number;
  /** Servers per host. */
  readonly spread: Readonly<Record<string, number>>;
  readonly active: number;
  readonly errors: readonly { id: string; fault: string | null }[];
  readonly servers: readonly string[];
}
export interface BootOptions {
  /** A flavor's name (default lab.tiny). */
  readonly flavor?: string;
  /** A Glance image's name (default lab-img). */
  readonly image?: string;
}
export interface LabFlavor { readonly id: string; readonly name: string; readonly extra_specs: Record<string, string> }
export interface LabImage { readonly id: string; readonly name: string; readonly status: string; readonly properties: Record<string, string | null> }
export interface LabAggregate { readonly id: number; readonly name: string; readonly hosts: readonly string[]; readonly metadata: Record<string, string> }
export interface LabServer { readonly id: string; readonly name: string; readonly status: string; readonly task_state: string | null; readonly host: string | null; readonly metadata: Record<string, string>; readonly fault: string | null }
export interface LabService { readonly id: string; readonly host: string; readonly state: 'up' | 'down'; readonly status: 'enabled' | 'disabled'; readonly forced_down: boolean; readonly disabled_reason: string | null; readonly updated_at: string | null }
export interface LabMigration { readonly id: number; readonly uuid: string; readonly instance_uuid: string; readonly migration_type: string; readonly status: string; readonly source_compute: string; readonly dest_compute: string | null; readonly created_at: string; readonly updated_at: string | null }
export interface FloorResult { readonly host: string; readonly instances: number; readonly evacuated: number; readonly failed: number; readonly wallSeconds: number; readonly firstPost: number | null; readonly lastPost: number | null; readonly lists: number }
export interface DaemonStatus { readonly running: boolean; readonly pid: number; readonly processes: number; readonly rssKiB: number; readonly pssKiB: number }
export interface LabStatus {
  readonly up: boolean;
  readonly computesEnabled: boolean;
  readonly daemons: Readonly<Record<string, DaemonStatus>>;
  readonly processes: number;
  readonly rssKiB: number;
  readonly pssKiB: number;
}

interface RunOptions {
  readonly timeoutMs?: number;
  readonly env?: Readonly<Record<string, string>>;
}

function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: REPO_ROOT, maxBuffer: 64 << 20, timeout: options.timeoutMs ?? 600_000, env: { ...process.env, PATH: `${SYSTEM_PATH}:${process.env['PATH'] ?? ''}`, ...options.env } }, (error, stdout, stderr) => {
      if (error) {
        const tail = stderr.trim().split('\n').slice(-5).join(' | ');
        reject(new Error(`${[file, ...args].join(' ').slice(0, 200)} failed (${error.code ?? error.signal ?? 'error'}): ${tail || stdout.trim().slice(-500)}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

/** KEY=VALUE arguments of lab.py. */
const keyValues = (values: Readonly<Record<string, string>>): string[] => Object.entries(values).map(([key, value]) => `${key}=${value}`);

/**
 * Refuses unless `namespace` reaches `address` through a lab device. A local address routes via
 * lo, so it counts only when it is assigned to a lab device of that namespace.
 */
export async function assertLabRoute(namespace: string, address: string): Promise<void> {
  const route = (await run('ip', ['-n', namespace, 'route', 'get', address])).trim();
  let device = /\bdev (\S+)/.exec(route)?.[1];
  if (route.startsWith('local')) {
    const addresses = await run('ip', ['-n', namespace, '-o', '-4', 'addr', 'show']);
    device = addresses.split('\n').map((line) => line.split(/\s+/)).find((f) => f[3]?.split('/')[0] === address)?.[1];
  }
  if (!device || !LAB_DEVICES.includes(device)) {
    throw new Error(`refusing to send to ${address} from namespace ${namespace}: its route uses device ${device ?? 'none'}, not a lab device (${LAB_DEVICES.join(', ')}); fix the lab's network first`);
  }
}

export class NovaLab {
  readonly spec: LabSpec;
  /** lab/run/<prefix>/nova */
  readonly dir: string;
  readonly controllerNamespace: string;
  readonly controllerAddress = openstackAddress();
  /** How long each step took, in call order. */
  readonly timings: StepTiming[] = [];

  constructor(spec: LabSpec) {
    this.spec = spec;
    this.dir = join(runDir(spec), 'nova');
    this.controllerNamespace = namespaceOf(spec, OPENSTACK_NODE);
  }

  /** The lab named by NOVA_LAB_PREFIX (and NOVA_LAB_COMPUTES, default 4), or undefined. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): NovaLab | undefined {
    const prefix = env['NOVA_LAB_PREFIX'];
    return prefix ? new NovaLab({ prefix, computes: Number(env['NOVA_LAB_COMPUTES'] ?? 4) }) : undefined;
  }

  /** up.sh finished (its lab.json is written first, computes.enabled last). */
  isUp(): boolean {
    return existsSync(join(this.dir, 'computes.enabled'));
  }

  /** Starts the whole Nova lab; the namespaces must exist. */
  async up(): Promise<UpResult> {
    return this.timed('up', async () => JSON.parse(await run(join(SCRIPTS, 'up.sh'), [this.spec.prefix, String(this.spec.computes)], { timeoutMs: 900_000 })) as UpResult);
  }

  /** Stops everything up.sh and start-compute.sh started; keeps the logs (last-logs/). */
  async down(): Promise<void> {
    NovaLab.closeWorkers(this.spec.prefix);
    await this.timed('down', () => run(join(SCRIPTS, 'down.sh'), [this.spec.prefix], { timeoutMs: 180_000 }));
  }

  async ensureUp(): Promise<void> {
    if (!this.isUp()) await this.up();
  }

  adminCredentials(): AdminCredentials {
    const file = join(this.dir, 'admin.json');
    if (!existsSync(file)) throw new Error(`${file} is missing: the Nova lab ${this.spec.prefix} is not up; run lab/nova/up.sh ${this.spec.prefix} ${this.spec.computes}`);
    return JSON.parse(readFileSync(file, 'utf8')) as AdminCredentials;
  }

  /** Flavor lab.tiny, image lab-img, network lab-net with a subnet (idempotent). */
  seed(): Promise<SeedResult> {
    return this.timed('seed', () => this.labPy<SeedResult>('seed'));
  }

  /** Boots count servers in one request (the scheduler spreads them) and waits until all are ACTIVE or ERROR; by default of flavor lab.tiny and image lab-img. */
  boot(count: number, name = 'vm', options: BootOptions = {}): Promise<BootResult> {
    const named = [...(options.flavor ? ['--flavor', options.flavor] : []), ...(options.image ? ['--image', options.image] : [])];
    return this.timed(`boot ${count}`, () => this.labPy<BootResult>('boot', String(count), name, ...named));
  }

  /** A public flavor with these extra specs (an existing one of the name keeps its size and gets them). */
  createFlavor(name: string, size: { vcpus: number; ramMb: number; diskGb: number }, extraSpecs: Readonly<Record<string, string>> = {}): Promise<LabFlavor> {
    return this.labPy('flavor', name, String(size.vcpus), String(size.ramMb), String(size.diskGb), ...keyValues(extraSpecs));
  }

  deleteFlavor(name: string): Promise<{ deleted: boolean }> {
    return this.labPy('delete-flavor', name);
  }

  /** A public 1 MiB raw Glance image, as seed's lab-img, with these properties. */
  createImage(name: string, properties: Readonly<Record<string, string>> = {}): Promise<LabImage> {
    return this.labPy('image', name, ...keyValues(properties));
  }

  deleteImage(name: string): Promise<{ deleted: boolean }> {
    return this.labPy('delete-image', name);
  }

  /** A host aggregate of these hosts with this metadata (an existing one gets them added). */
  createAggregate(name: string, hosts: readonly string[], metadata: Readonly<Record<string, string>> = {}): Promise<LabAggregate> {
    return this.labPy('aggregate', name, hosts.join(','), ...keyValues(metadata));
  }

  /** Removes the aggregate's hosts, then the aggregate. */
  deleteAggregate(name: string): Promise<{ deleted: boolean }> {
    return this.labPy('delete-aggregate', name);
  }

  /** Creates (again) the application credential nova-ha-lab; its secret goes to appcred.json (0600). */
  applicationCredential(): Promise<{ id: string; file: string }> {
    return this.labPy('appcred');
  }

  servers(host?: string): Promise<LabServer[]> {
    return host ? this.labPy('servers', host) : this.labPy('servers');
  }

  services(): Promise<LabService[]> {
    return this.labPy('services');
  }

  migrations(sourceHost?: string, type?: string): Promise<LabMigration[]> {
    // lab.py takes them positionally: an empty host means any host.
    return this.labPy('migrations', sourceHost ?? '', type ?? '');
  }

  forceDown(host: string, forcedDown: boolean): Promise<LabService> {
    return this.labPy('force', host, String(forcedDown));
  }

  enable(host: string): Promise<LabService> {
    return this.labPy('enable', host);
  }

  disable(host: string, reason: string): Promise<LabService> {
    return this.labPy('disable', host, reason);
  }

  /** Placement usages per resource provider (compute host). */
  allocations(): Promise<Record<string, Record<string, number>>> {
    return this.labPy('allocations');
  }

  /**
   * The warnings and errors Nova's services logged about these servers (the last `max` of them),
   * for a failure message: a server in ERROR without a fault says nothing else, and a CI run
   * keeps no logs to read.
   */
  logLinesAbout(ids: readonly string[], max = 6): string[] {
    const logs = join(this.dir, 'log');
    if (ids.length === 0 || !existsSync(logs)) return [];
    const lines: string[] = [];
    for (const file of readdirSync(logs).filter((f) => f.endsWith('.log')).sort()) {
      for (const line of readFileSync(join(logs, file), 'utf8').split('\n')) {
        if (/ (ERROR|WARNING|CRITICAL) /.test(line) && ids.some((id) => line.includes(id))) lines.push(`${file}: ${line.slice(0, 400)}`);
      }
    }
    return lines.slice(-max);
  }

  /**
   * Deletes these servers (default: every server of every project) and waits until they are gone.
   * A nova-compute that lost its message bus for a minute can miss the delete (its consumer still
   * waits on the dead connection, as waitComputeUp in lab/scenario.ts describes): servers still there after
   * a minute have the nova-compute of their host restarted, if Nova sees it up, since a starting
   * nova-compute finishes the deletes it was sent; then they are deleted again.
   */
  async deleteServers(ids: readonly string[] = []): Promise<{ deleted: number; seconds: number; restarted: string[] }> {
    return this.timed('delete servers', async () => {
      const started = performance.now();
      const seconds = (): number => Math.round((performance.now() - started) / 100) / 10;
      const first = await this.labPy<{ deleted: number }>('delete-servers', '--timeout', '60', ...ids).catch((error: Error) => {
        if (/still present/.test(error.message)) return undefined;
        throw error;
      });
      if (first) return { deleted: first.deleted, seconds: seconds(), restarted: [] };
      const wanted = new Set(ids);
      const left = (await this.servers()).filter((s) => wanted.size === 0 || wanted.has(s.id));
      const up = new Set((await this.services()).filter((s) => s.state === 'up').map((s) => s.host));
      const restarted = [...new Set(left.map((s) => s.host))].filter((host): host is string => host !== null && /^cmp\d+$/.test(host) && up.has(host));
      for (const host of restarted) await this.restartCompute(Number(host.replace('cmp', '')));
      const again = await this.labPy<{ deleted: number }>('delete-servers', ...left.map((s) => s.id));
      return { deleted: again.deleted, seconds: seconds(), restarted };
    });
  }

  /**
   * Nova's own floor for evacuating host (powered off): force down, one evacuate POST per server
   * back to back, one server list a second until all are ACTIVE elsewhere; timed from the first call.
   */
  floor(host: string, timeoutS = 900): Promise<FloorResult> {
    return this.labPy('floor', host, String(timeoutS));
  }

  /** Starts nova-compute on cmpN unless it runs. */
  async startCompute(index: number): Promise<void> {
    await run(join(SCRIPTS, 'start-compute.sh'), [this.spec.prefix, String(index)]);
  }

  /** The "nova-compute dies" fault: SIGKILL, or SIGTERM with graceful. */
  async stopCompute(index: number, options: { graceful?: boolean } = {}): Promise<void> {
    await run(join(SCRIPTS, 'stop-compute.sh'), [this.spec.prefix, String(index), ...(options.graceful ? ['--graceful'] : [])]);
  }

  /** When cmpN's running nova-compute was started (ms since the epoch, from its PID record), or undefined when none was. */
  computeStartedAt(index: number): number | undefined {
    const record = join(this.dir, 'pid', `nova-compute-cmp${index}.pid`);
    return existsSync(record) ? statSync(record).mtimeMs : undefined;
  }

  /**
   * Sets nova.conf options of cmpN alone (reserved_host_cpus, cpu_allocation_ratio ...: its
   * [DEFAULT] section, in its own overlay file), replacing what an earlier call set ({} removes
   * them), then restarts its nova-compute and waits until the new process has reported: its new
   * inventory is in Placement by then (nova-compute updates it before it first reports), and Nova
   * calls it up again (it is down from service_down_time after the old process's last report
   * until the new one's first, which comes 5 s after its start).
   */
  async setComputeOptions(index: number, options: Readonly<Record<string, string>>): Promise<void> {
    const file = join(this.dir, 'etc', 'nova', `cmp${index}.conf`);
    const marker = '# set by NovaLab.setComputeOptions';
    const kept = readFileSync(file, 'utf8').split('\n').filter((line, i, all) => line !== marker && all[i - 1] !== marker);
    const at = kept.indexOf('[DEFAULT]') + 1;
    if (at === 0) throw new Error(`${file} has no [DEFAULT] section; remove it and start cmp${index}'s nova-compute again (start-compute.sh renders it)`);
    kept.splice(at, 0, ...Object.entries(options).flatMap(([key, value]) => [marker, `${key} = ${value}`]));
    writeFileSync(file, kept.join('\n'));
    await this.restartCompute(index);
    await this.waitReportedByRunning(index, 120);
  }

  /**
   * Until Nova calls cmpN's nova-compute up on a report of the process running now. Nova's state
   * alone is not that: the previous process's last report keeps the service up for
   * service_down_time, and a new process first reports 5 s after its start (once its inventory is
   * in Placement). Nor is the service's updated_at: any change to the service (forced down,
   * enabled) sets it. Up, asked more than service_down_time after the running process started,
   * can only rest on a report of that process.
   */
  async waitReportedByRunning(index: number, timeoutS = 120): Promise<void> {
    const host = `cmp${index}`;
    const startedAt = this.computeStartedAt(index);
    if (startedAt === undefined) throw new Error(`${host}'s nova-compute is not running (no PID record in lab/run/${this.spec.prefix}/nova/pid); start it with lab/nova/start-compute.sh ${this.spec.prefix} ${index}`);
    // A second more: the database may store a report's time rounded up to the next second.
    const upOnlyOnItsReports = startedAt + this.serviceDownTimeMs() + 1000;
    const waitStart = performance.now();
    for (;;) {
      const askedAt = Date.now();
      const service = (await this.services()).find((s) => s.host === host);
      if (service?.state === 'up' && askedAt > upOnlyOnItsReports) return;
      if (performance.now() - waitStart > timeoutS * 1000) throw new Error(`${host}'s nova-compute has not reported to Nova within ${timeoutS} s; see lab/run/${this.spec.prefix}/nova/log/nova-compute-${host}.log`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  /** How long a report keeps a service up in Nova: service_down_time of the lab's nova.conf. */
  private serviceDownTimeMs(): number {
    const file = join(this.dir, 'etc', 'nova', 'nova.conf');
    const setting = /^service_down_time\s*=\s*(\d+)\s*$/m.exec(readFileSync(file, 'utf8'));
    if (!setting) throw new Error(`${file} sets no service_down_time; bring the lab's Nova up again (lab/nova/templates/nova.conf sets it)`);
    return Number(setting[1]) * 1000;
  }

  async restartCompute(index: number): Promise<void> {
    await run(join(SCRIPTS, 'restart-compute.sh'), [this.spec.prefix, String(index)]);
  }

  /** Stops a server (os-stop) and waits until it is SHUTOFF. */
  stopServer(id: string): Promise<unknown> {
    return this.labPy('stop-server', id);
  }

  setMetadata(id: string, key: string, value: string): Promise<Record<string, string>> {
    return this.labPy('meta', id, key, value);
  }

  /** The "Nova's API is down" fault: stop nova-api, and start it again (waiting until it answers). */
  async stopApi(): Promise<void> {
    await run(join(SCRIPTS, 'api.sh'), [this.spec.prefix, 'stop'], { timeoutMs: 60_000 });
  }

  async startApi(): Promise<void> {
    await run(join(SCRIPTS, 'api.sh'), [this.spec.prefix, 'start'], { timeoutMs: 180_000 });
  }

  /** Which daemons run, and the memory of each (RSS/PSS of their process trees). */
  async status(): Promise<LabStatus> {
    return JSON.parse(await run(join(SCRIPTS, 'status.sh'), [this.spec.prefix])) as LabStatus;
  }

  /** The command line that restarts cmpN's nova-compute: the lab's [remediation] restart_nova_compute. */
  restartCommand(index: number): string[] {
    return [join(SCRIPTS, 'restart-compute.sh'), this.spec.prefix, String(index)];
  }

  /** Runs argv inside the controller namespace, after checking its route to the cloud; resolves with stdout. */
  async runInController(argv: readonly string[], options: RunOptions = {}): Promise<string> {
    await assertLabRoute(this.controllerNamespace, this.controllerAddress);
    return run('ip', ['netns', 'exec', this.controllerNamespace, ...argv], options);
  }

  /** Address of cmpN on the mgmt network (what nova-compute binds). */
  computeAddress(index: number): string {
    return addressOf(`cmp${index}`, 'mgmt');
  }

  /** One lab.py command; lab.py checks the lab route itself, inside the namespace, before each. */
  private labPy<T>(...args: string[]): Promise<T> {
    return this.workers().call<T>(args, 900_000);
  }

  /** This lab's lab.py workers, shared by every NovaLab of the prefix in this process. */
  private workers(): LabPyWorkers {
    let workers = WORKERS.get(this.spec.prefix);
    if (!workers) {
      workers = new LabPyWorkers(['ip', 'netns', 'exec', this.controllerNamespace, '/usr/bin/python3', join(SCRIPTS, 'lab.py'), this.spec.prefix, 'serve'], { ...process.env, PATH: `${SYSTEM_PATH}:${process.env['PATH'] ?? ''}` });
      WORKERS.set(this.spec.prefix, workers);
    }
    return workers;
  }

  /** Ends this lab's lab.py workers (they also end by themselves when this process does). */
  static closeWorkers(prefix: string): void {
    WORKERS.get(prefix)?.close();
    WORKERS.delete(prefix);
  }

  private async timed<T>(step: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await fn();
    } finally {
      this.timings.push({ step, seconds: Math.round((performance.now() - started) / 100) / 10 });
    }
  }
}
