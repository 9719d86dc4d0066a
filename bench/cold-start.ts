/**
 * Cold start of the compiled handlers: Consul starts a new process for every watch call and every
 * check run, so this is paid on every health transition and every check interval. Prints min /
 * median / max wall time over N runs for: bare node, each bundled handler up to its argument check,
 * and two complete real runs that need no Consul (the remediation handler on an empty event list,
 * the nova-compute check).
 *   npx tsx bench/cold-start.ts [runs]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const runs = Number(process.argv[2] ?? 20);
const node = process.execPath;
const dir = mkdtempSync(join(tmpdir(), 'nova-ha-bench-'));
const config = join(dir, 'nova-ha.conf');
writeFileSync(config, `[DEFAULT]\nrole = compute\nnode_name = cmp1\nstate_dir = ${dir}/state\nlog_file =\n[remediation]\nhmac_key = ${'k'.repeat(40)}\n[nova_compute]\nsystemd_unit =\nprocess_name = node\n`, { mode: 0o600 });

function time(args: string[], input?: string): number[] {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    const result = spawnSync(node, args, { input: input ?? '', stdio: ['pipe', 'ignore', 'ignore'] });
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (result.error) throw result.error;
  }
  return samples.sort((a, b) => a - b);
}

const row = (name: string, s: number[]): string => `${name.padEnd(44)} ${s[0]!.toFixed(0).padStart(5)} ${s[Math.floor(s.length / 2)]!.toFixed(0).padStart(7)} ${s[s.length - 1]!.toFixed(0).padStart(5)}`;

console.log(`cold start, ${runs} runs each, node ${process.version} (ms)`);
console.log(`${'process'.padEnd(44)} ${'min'.padStart(5)} ${'median'.padStart(7)} ${'max'.padStart(5)}`);
console.log(row('node -e 0 (baseline)', time(['-e', '0'])));
for (const file of readdirSync('dist/handlers').filter((f) => f.endsWith('.js')).sort()) {
  console.log(row(`${file} (load, parse arguments, exit)`, time([join('dist/handlers', file), '--no-such-option'])));
}
console.log(row('remediate.js full run (no events)', time(['dist/handlers/remediate.js', '--config', config], 'null')));
console.log(row('nova-compute-check.js full run', time(['dist/handlers/nova-compute-check.js', '--config', config])));
console.log(row('cli nova-ha.js check-config', time(['dist/cli/nova-ha.js', '--config', config, 'check-config'])));
rmSync(dir, { recursive: true, force: true });
