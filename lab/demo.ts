/**
 * The lab demo (the README's first command): a whole cloud in network namespaces, with real
 * Consul, Nova and BMCs; nova-ha installed with install.sh; instances booted on one host; that
 * host broken; nova-ha's recovery followed live; then the incident's timeline and the time to
 * recovery. Everything it started is taken down on exit, Ctrl-C included (--keep leaves it up).
 *
 *   npx tsx lab/demo.ts [--scenario storage|hang|power|nova-compute|mgmt|tenant] [--instances N] [--prefix nh] [--keep]
 */
import { parseArgs } from 'node:util';
import { formatDuration } from '../lib/shared/duration.js';
import type { Incident } from '../lib/state/incident.js';
import { renderIncident } from '../cli/commands/status.js';
import { Lab } from './lab.js';
import { NovaLab } from './nova.js';
import { installNovaHa } from './nova-ha.js';
import { bootOn, currentIncident, closedIncidents, configureNode, hang, mailSince, novaHaLab, serversById, type NovaHaLab } from './scenario.js';

const SCENARIOS = ['storage', 'hang', 'power', 'nova-compute', 'mgmt', 'tenant'] as const;
type Scenario = (typeof SCENARIOS)[number];
const WHAT: Record<Scenario, string> = {
  storage: 'cut its storage link at the switch (a repair on the node cannot fix it)',
  hang: 'freeze every process on it (a hung kernel: the BMC still says on)',
  power: 'cut its power at the BMC (not by nova-ha)',
  'nova-compute': 'kill nova-compute on it',
  mgmt: 'cut its management network link',
  tenant: 'cut its tenant network link',
};

const { values } = parseArgs({ options: { scenario: { type: 'string', default: 'storage' }, instances: { type: 'string', default: '6' }, prefix: { type: 'string', default: 'nh' }, keep: { type: 'boolean', default: false }, computes: { type: 'string', default: '4' } } });
const scenario = values.scenario as Scenario;
if (!SCENARIOS.includes(scenario)) throw new Error(`--scenario must be one of ${SCENARIOS.join(', ')}, found "${values.scenario}"`);
const instances = Number(values.instances);
const spec = { prefix: values.prefix!, computes: Number(values.computes) };
const victim = 'cmp1';
const start = Date.now();
const say = (m: string): void => console.log(`[${formatDuration(Date.now() - start).padStart(6)}] ${m}`);
const quiet = (): void => undefined;

let stopping = false;
async function cleanUp(): Promise<void> {
  if (values.keep) {
    say(`lab ${spec.prefix} left up (--keep): npx tsx lab/cli.ts down --prefix ${spec.prefix}`);
    return;
  }
  say(`taking lab ${spec.prefix} down`);
  await Lab.down(spec.prefix, quiet).catch((error: unknown) => say(`lab down failed: ${(error as Error).message}`));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping`);
    void cleanUp().then(() => process.exit(130));
  });
}

async function follow(ctx: NovaHaLab, done: (incident: Incident | undefined, closed: Incident | undefined) => boolean, timeoutMs: number): Promise<Incident> {
  const seen = new Set<string>();
  let shownInstances = '';
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await currentIncident(ctx, victim);
    const closed = (await closedIncidents(ctx, victim)).find((i) => i.openedAt >= start);
    const incident = open ?? closed;
    for (const entry of incident?.timeline ?? []) {
      const key = `${entry.at}:${entry.step}:${entry.outcome}`;
      if (seen.has(key)) continue;
      seen.add(key);
      say(`  nova-ha ${entry.by}: ${entry.step} ${entry.outcome}${entry.detail ? `: ${entry.detail.slice(0, 150)}` : ''}`);
    }
    const moved = (incident?.instances ?? []).filter((o) => o.outcome === 'evacuated').length;
    const progress = incident?.instances?.length ? `  instances evacuated: ${moved}/${incident.instances.length}` : '';
    if (progress && progress !== shownInstances) {
      say(progress);
      shownInstances = progress;
    }
    if (incident && done(open, closed)) return incident;
    if (Date.now() > deadline) throw new Error(`nova-ha did not finish within ${formatDuration(timeoutMs)}; see lab/run/${spec.prefix}/ctl*/nova-ha/log/nova-ha.log`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

try {
  say(`bringing up lab ${spec.prefix}: 3 controllers, ${spec.computes} computes, 3 Consul clusters, ${spec.computes} BMCs`);
  if (await Lab.exists(spec.prefix)) await Lab.down(spec.prefix, quiet);
  const lab = await Lab.up({ ...spec, log: quiet });
  say('starting a mini OpenStack (Keystone, Placement, Glance, Neutron, Nova; nova-compute in every compute namespace)');
  const nova = new NovaLab(lab.spec);
  await nova.up();
  await nova.seed();
  say('installing nova-ha on every node with install.sh (fencing by IPMI)');
  await installNovaHa(lab.spec, { fencing: 'ipmi' });
  const ctx = novaHaLab(lab);
  say(`booting ${instances} instances on ${victim}`);
  const ids = await bootOn(ctx, victim, instances, 'demo');
  await new Promise((resolve) => setTimeout(resolve, 5000));

  const broken = Date.now();
  say(`breaking ${victim}: ${WHAT[scenario]}`);
  if (scenario === 'storage') await lab.cutLink(victim, 'storage', 'switch');
  else if (scenario === 'hang') await hang(ctx, victim);
  else if (scenario === 'power') await lab.powerOff(victim);
  else if (scenario === 'nova-compute') {
    // A restart that fails too, so the demo shows the fence path (a plain restart would just work).
    configureNode(lab, victim, { fencing: 'ipmi', overrides: { remediation: { restart_nova_compute: '/usr/bin/false' } } });
    await nova.stopCompute(1);
  } else await lab.cutLink(victim, scenario, 'host');

  const fences = scenario === 'storage' || scenario === 'hang' || scenario === 'nova-compute';
  const incident = await follow(ctx, (open, closed) => (fences ? open?.phase === 'fenced' || (open?.phase === 'held' && open.hold?.needsOperator === true) : scenario === 'power' ? closed !== undefined : mailSince(ctx, broken, victim).length > 0), 600_000);

  console.log(`\n${renderIncident(incident)}\n`);
  if (fences) {
    const servers = await serversById(ctx);
    const elsewhere = ids.filter((id) => servers.get(id)?.status === 'ACTIVE' && servers.get(id)?.host !== victim).length;
    const end = incident.timeline.find((e) => e.step === 'evacuate' && e.outcome === 'done')?.at ?? Date.now();
    say(`${elsewhere} of ${ids.length} instances ACTIVE on other hosts; time to recovery (failure injected -> every instance ACTIVE elsewhere): ${formatDuration(end - broken)}`);
  } else if (scenario === 'power') {
    say(`${victim} powered back on by nova-ha and healthy again: time to recovery ${formatDuration((incident.closedAt ?? Date.now()) - broken)}`);
  }
  for (const mail of mailSince(ctx, broken)) say(`email to ${mail.to.join(', ')}: ${mail.subject}`);
  if (!fences && scenario !== 'power') say('the instances keep running: nova-ha only alerts for this failure');
} finally {
  if (!stopping) await cleanUp();
}
