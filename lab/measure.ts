/**
 * Measure the lab: up time, memory, failure detection of a cut storage link and a hung agent,
 * power off -> failed on every network, power on -> alive again, down time.
 *   npx tsx lab/measure.ts --computes 20 [--prefix nhm] [--samples 5]
 * Brings up its own lab (refused if one with the prefix runs) and always takes it down.
 */
import { parseArgs } from 'node:util';
import { Lab, type LabLog, type LinkSide } from './lab.js';
import { CONSUL_NETWORKS } from './topology.js';

const log: LabLog = (message) => process.stderr.write(`${new Date().toISOString().slice(11, 23)} measure: ${message}\n`);

function summary(label: string, samples: readonly number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  const s = (ms: number): string => (ms / 1000).toFixed(2);
  return `${label}: ${s(sorted[0]!)} / ${s(median)} / ${s(sorted.at(-1)!)} s (min / median / max of ${samples.length})`;
}

async function measure(lab: Lab, samples: number): Promise<string[]> {
  const results: string[] = [];
  const computes = lab.computes;
  const pick = (i: number): string => computes[i % computes.length]!;

  const cutDetect: number[] = [];
  const cutRecover: number[] = [];
  for (let i = 0; i < samples; i++) {
    const compute = pick(i);
    const side: LinkSide = i % 2 ? 'switch' : 'host';
    await lab.cutLink(compute, 'storage', side);
    cutDetect.push(await lab.waitForMember(compute, 'storage', 'failed', 60_000));
    for (const network of ['mgmt', 'tenant'] as const) {
      if ((await lab.memberHealth(compute, network)) !== 'passing') throw new Error(`${compute} failed in ${network} too while only its storage link was cut`);
    }
    await lab.restoreLink(compute, 'storage', side);
    cutRecover.push(await lab.waitForMember(compute, 'storage', 'alive', 120_000));
  }
  results.push(summary('storage link cut -> serfHealth critical (leader view)', cutDetect), summary('storage link restored -> passing again', cutRecover));

  const hangDetect: number[] = [];
  for (let i = 0; i < samples; i++) {
    const compute = pick(i + 1);
    await lab.hangAgent(compute, 'mgmt');
    hangDetect.push(await lab.waitForMember(compute, 'mgmt', 'failed', 60_000));
    await lab.resumeAgent(compute, 'mgmt');
    await lab.waitForMember(compute, 'mgmt', 'alive', 120_000);
  }
  results.push(summary('agent SIGSTOPped -> serfHealth critical', hangDetect));

  const offToFailed: number[] = [];
  const onToAlive: number[] = [];
  for (let i = 0; i < samples; i++) {
    const compute = pick(i + 2);
    // Wait from the moment the ipmitool command is issued: the sim acts on its next 1 s tick.
    const failed = Promise.all(CONSUL_NETWORKS.map((network) => lab.waitForMember(compute, network, 'failed', 60_000)));
    await lab.powerOff(compute);
    offToFailed.push(Math.max(...(await failed)));
    const alive = Promise.all(CONSUL_NETWORKS.map((network) => lab.waitForMember(compute, network, 'alive', 120_000)));
    await lab.powerOn(compute);
    onToAlive.push(Math.max(...(await alive)));
  }
  results.push(summary('ipmitool power off -> failed on all 3 networks', offToFailed), summary('ipmitool power on -> alive on all 3 networks', onToAlive));
  return results;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { computes: { type: 'string', default: '4' }, prefix: { type: 'string', default: 'nhm' }, samples: { type: 'string', default: '5' } } });
  const computes = Number(values.computes);
  const samples = Number(values.samples);
  const lab = await Lab.up({ prefix: values.prefix, computes, log });
  const results = [`up with ${computes} computes: ${((lab.upReport?.totalMs ?? 0) / 1000).toFixed(1)} s (network ${lab.upReport?.networkMs} ms, Consul healthy ${((lab.upReport?.clustersMs ?? 0) / 1000).toFixed(1)} s after the first agent)`];
  try {
    await new Promise((resolveWait) => setTimeout(resolveWait, 5_000)); // let RSS settle after the joins
    const memory = await lab.memory();
    results.push(
      `memory: ${(memory.rssBytes / 2 ** 20).toFixed(0)} MiB RSS in ${memory.processes} processes; ${memory.consulAgents} Consul agents ${(memory.consulRssBytes / 2 ** 20).toFixed(0)} MiB (${(memory.consulRssBytes / memory.consulAgents / 2 ** 20).toFixed(0)} MiB each)`,
    );
    results.push(...(await measure(lab, samples)));
  } finally {
    const down = await lab.down();
    results.push(`down: ${(down.durationMs / 1000).toFixed(1)} s`);
    console.log(results.join('\n'));
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`measure: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
