/**
 * The lab from a shell (as root):
 *   npx tsx lab/cli.ts up --computes 4 [--prefix nh] [--keep-on-failure] [--acl]
 *   npx tsx lab/cli.ts status [--prefix nh] [--power]
 *   npx tsx lab/cli.ts down [--prefix nh]
 */
import { parseArgs } from 'node:util';
import { DEFAULT_PREFIX, Lab, type LabLog } from './lab.js';
import { inParallel } from './shell.js';

const USAGE = 'usage: npx tsx lab/cli.ts up --computes N [--prefix P] [--keep-on-failure] [--acl] | status [--prefix P] [--power] | down [--prefix P]';

const log: LabLog = (message) => process.stderr.write(`${new Date().toISOString().slice(11, 23)} lab: ${message}\n`);

async function status(prefix: string, withPower: boolean): Promise<void> {
  if (!(await Lab.exists(prefix))) {
    console.log(`lab ${prefix}: not running`);
    return;
  }
  const lab = await Lab.attach(prefix, log);
  const overview = await lab.status();
  console.log(`lab ${prefix}: ${overview.computes} computes, ${overview.namespaces}/${overview.expectedNamespaces} namespaces, ${overview.recordedRunning}/${overview.recordedTotal} recorded processes running${overview.acl ? ', Consul ACLs on' : ''}`);
  for (const cluster of overview.clusters) {
    const members = Object.entries(cluster.members ?? {});
    const notPassing = members.filter(([, health]) => health !== 'passing').map(([node, health]) => `${node}=${health}`);
    const summary = cluster.members ? `${members.length - notPassing.length}/${members.length} alive${notPassing.length ? ` (${notPassing.join(', ')})` : ''}` : 'no consistent answer';
    console.log(`  consul ${cluster.network.padEnd(7)} leader ${cluster.leader ?? 'none'}, ${summary}`);
  }
  const memory = await lab.memory();
  console.log(`  memory: ${(memory.rssBytes / 2 ** 20).toFixed(0)} MiB RSS in ${memory.processes} processes (${memory.consulAgents} Consul agents: ${(memory.consulRssBytes / 2 ** 20).toFixed(0)} MiB)`);
  if (withPower) {
    const lines: string[] = [];
    await inParallel(lab.computes, 4, async (compute) => {
      const power = await lab.powerStatus(compute).catch((error: Error) => `unknown (${error.message})`);
      lines.push(`  ${compute}: power ${power}`);
    });
    console.log(lines.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).join('\n'));
  }
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      prefix: { type: 'string', default: DEFAULT_PREFIX },
      computes: { type: 'string' },
      'keep-on-failure': { type: 'boolean', default: false },
      acl: { type: 'boolean', default: false },
      power: { type: 'boolean', default: false },
    },
  });
  const [command, ...extra] = positionals;
  if (extra.length > 0) throw new Error(`unexpected arguments ${extra.join(' ')}: ${USAGE}`);
  const prefix = values.prefix;
  switch (command) {
    case 'up': {
      if (!values.computes || !/^\d+$/.test(values.computes)) throw new Error(`up needs --computes N (1-100): ${USAGE}`);
      await Lab.up({ prefix, computes: Number(values.computes), log, keepOnFailure: values['keep-on-failure'], acl: values.acl });
      return;
    }
    case 'down':
      await Lab.down(prefix, log);
      return;
    case 'status':
      await status(prefix, values.power);
      return;
    default:
      throw new Error(command ? `unknown command ${command}: ${USAGE}` : USAGE);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`lab: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
