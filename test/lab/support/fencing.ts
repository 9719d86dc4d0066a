/** What the fencing lab tests share: config for fence devices, secrets the controllers read, argv sampling, timings. */
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { consulAccount } from '../../../lab/consul-agents.js';
import type { Lab } from '../../../lab/lab.js';
import type { Incident } from '../../../lib/state/incident.js';
import { addressOf, bmcOf } from '../../../lab/topology.js';

/** A secret file every controller's handlers (the Consul agents' user) read: one path for all three. */
export function controllerSecret(lab: Lab, name: string, content: string): string {
  const { uid, gid } = consulAccount();
  const dir = join(lab.runDir, 'fence-secrets');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chownSync(dir, uid, gid);
  const file = join(dir, name);
  writeFileSync(file, `${content}\n`, { mode: 0o600 });
  chownSync(file, uid, gid);
  return file;
}

export interface Device {
  readonly agent: string;
  /** Options for every host; each host also gets ip=<its BMC's out-of-band address>. */
  readonly options: string;
  readonly passwordFile?: string;
}

/** Controller config overrides: [fencing] method = agent with these levels, and one [fence_agent:NAME] per device. */
export function agentOverrides(lab: Lab, levels: readonly string[], devices: Readonly<Record<string, Device>>, extra: Record<string, Record<string, string>> = {}): Record<string, Record<string, string>> {
  const sections: Record<string, Record<string, string>> = { fencing: { method: 'agent', levels: levels.join(', '), fence_timeout: '10s' }, ...extra };
  for (const [name, device] of Object.entries(devices)) {
    sections[`fence_agent:${name}`] = { agent: device.agent, options: device.options, ...(device.passwordFile ? { password_file: device.passwordFile } : {}) };
    for (const compute of lab.computes) sections[`fence_agent:${name}:${compute}`] = { options: `ip=${addressOf(bmcOf(compute), 'oob')}` };
  }
  return sections;
}

/** When a step (with an outcome) was first recorded in the incident. */
export function stepAt(incident: Incident, step: string, outcome?: string, detail?: RegExp): number | undefined {
  return incident.timeline.find((e) => e.step === step && (!outcome || e.outcome === outcome) && (!detail || detail.test(e.detail ?? '')))?.at;
}

/** One line per fencing path for the report: from the failure to fenced, with the steps in between. */
export function reportTiming(path: string, failedAt: number, incident: Incident): Record<string, number | string> {
  const rel = (at: number | undefined): string => (at === undefined ? '-' : `${((at - failedAt) / 1000).toFixed(1)} s`);
  const fencedAt = incident.timeline.find((e) => e.step === 'phase fenced')?.at;
  const line = {
    path,
    detected: rel(incident.openedAt),
    'power-off': rel(stepAt(incident, 'power-off', 'done')),
    'evacuate started': rel(stepAt(incident, 'evacuate', 'started')),
    'evacuate done': rel(stepAt(incident, 'evacuate', 'done')),
    'power-off after dump': rel(stepAt(incident, 'power-off-after-dump', 'done')),
    fenced: rel(fencedAt),
  };
  process.stderr.write(`timing ${JSON.stringify(line)}\n`);
  return line;
}

/**
 * Samples every process's argv (/proc/PID/cmdline) in a loop, looking for secrets: what any local
 * user can read. Counts the samples and the processes whose argv matched `watch` (to show the
 * sampler saw the agent it is checking).
 */
export class ArgvSampler {
  readonly hits: { secret: string; args: string }[] = [];
  samples = 0;
  readonly watched = new Set<number>();
  #running = true;
  readonly #done: Promise<void>;

  constructor(private readonly secrets: readonly string[], private readonly watch: RegExp) {
    this.#done = this.#loop();
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        let args: string;
        try {
          args = readFileSync(`/proc/${entry}/cmdline`, 'latin1').replaceAll('\0', ' ');
        } catch {
          continue;
        }
        if (this.watch.test(args)) this.watched.add(Number(entry));
        for (const secret of this.secrets) if (args.includes(secret)) this.hits.push({ secret: '***', args: args.replaceAll(secret, '<SECRET>').slice(0, 200) });
      }
      this.samples++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }
}

/** Every log file of the lab (nova-ha's, Consul's, the lab's own, the stand-ins') and every mail: where a secret must never be. */
export function filesContaining(lab: Lab, secret: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      let stat;
      try {
        stat = statSync(path);
      } catch {
        continue;
      }
      if (stat.isDirectory()) {
        if (!['data', 'mysql', 'rabbitmq', 'fence-secrets', 'redfish', 'pids'].includes(entry)) walk(path);
      } else if (stat.isFile() && (/\.(log|json|eml)$/.test(entry) || dir.includes('/mail')) && stat.size < 50_000_000) {
        if (readFileSync(path, 'latin1').includes(secret)) found.push(path);
      }
    }
  };
  if (existsSync(lab.runDir)) walk(lab.runDir);
  return found;
}
