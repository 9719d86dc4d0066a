/**
 * Safety invariant 8: no secret in argv, logs, KV or email. One whole recovery with every secret
 * the lab can configure in use: the HMAC key (a signed storage repair), the BMC password (the
 * fence), Nova's password (force down, evacuate), the SMTP password (the emails, over STARTTLS
 * with AUTH: the lab's sinks refuse anything else), the Consul tokens when the lab runs ACLs.
 * Every process's command line is sampled throughout; then nova-ha's logs, the Consul agents' logs
 * (where handler output lands), every KV value under nova-ha's prefix and every email are read.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { configureControllers, mailSince, bootOn, currentIncident, stepsOf, until } from '../../lab/scenario.js';
import { novaHaConfig, novaHaLog, smtpAuth } from '../../lab/nova-ha.js';
import { runDir } from '../../lab/topology.js';
import { parseConfig } from '../../lib/config/load.js';
import { SCHEMA } from '../../lib/config/schema.js';
import { Secret } from '../../lib/shared/secret.js';
import { scenarioLab } from './lab-context.js';

const env = scenarioLab({ fencing: 'ipmi' });

/** Every non-empty secret option in a node's config, by name, and the BMC password it names. */
function secretsOf(node: string): Map<string, string> {
  const { config } = parseConfig(readFileSync(novaHaConfig(env.lab.spec, node), 'utf8'));
  const found = new Map<string, string>();
  for (const [section, options] of Object.entries(SCHEMA)) {
    for (const key of Object.keys(options)) {
      const value = (config as unknown as Record<string, Record<string, unknown>>)[section]![key];
      if (value instanceof Secret && !value.isEmpty) found.set(`[${section}] ${key}`, value.reveal());
    }
  }
  if (config!.ipmi.password_file) found.set('BMC password', readFileSync(config!.ipmi.password_file, 'utf8').trim());
  return found;
}

/** Command lines of every process on the machine, sampled until stopped (distinct ones kept). */
function sampleArgv(everyMs: number): { stop(): Set<string>; samples(): number } {
  const seen = new Set<string>();
  let samples = 0;
  const timer = setInterval(() => {
    samples++;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (argv) seen.add(argv.replaceAll('\0', ' '));
      } catch {
        // Gone between the listing and the read.
      }
    }
  }, everyMs);
  return { stop: () => (clearInterval(timer), seen), samples: () => samples };
}

beforeAll(() => {
  const smtp = smtpAuth(env.lab.spec);
  configureControllers(env.lab, { fencing: 'ipmi', overrides: { notifications: { smtp_tls: 'starttls', smtp_username: smtp.username, smtp_password: smtp.password, smtp_cafile: smtp.cafile } } });
});

describe('secrets during a recovery', () => {
  it('a storage cut repaired in vain, then fenced and evacuated: no secret in argv, logs, KV or email', async () => {
    const secrets = new Map([...secretsOf('ctl1'), ...secretsOf('cmp1')]);
    expect([...secrets.keys()]).toEqual(expect.arrayContaining(['[nova] password', '[notifications] smtp_password', '[remediation] hmac_key', 'BMC password']));
    const since = Date.now();
    await bootOn(env.ctx, 'cmp1', 2, 'secrets');
    env.touch('cmp1');
    const argv = sampleArgv(100);
    let lines: Set<string>;
    try {
      await env.lab.cutLink('cmp1', 'storage', 'switch');
      const fenced = await until('fenced', 240_000, () => currentIncident(env.ctx, 'cmp1'), (i) => i?.phase === 'fenced' || (i?.phase === 'held' && i.hold?.needsOperator === true));
      expect(fenced!.phase).toBe('fenced');
      expect(stepsOf(fenced!)).toEqual(expect.arrayContaining(['restart-storage-network:done', 'power-off:done', 'evacuate:done']));
      await until('the fenced email', 60_000, () => mailSince(env.ctx, since, 'cmp1'), (m) => m.some((x) => x.subject.includes('fenced')));
    } finally {
      lines = argv.stop();
    }
    // The sampler saw nova-ha at work: its handlers and workers, and ipmitool fencing the host.
    const commands = [...lines];
    expect(commands.some((c) => c.includes('handlers/worker.js'))).toBe(true);
    expect(commands.some((c) => c.startsWith('ipmitool '))).toBe(true);

    const mail = mailSince(env.ctx, since);
    // Sent as a real relay wants it: over STARTTLS, authenticated with the SMTP password.
    expect(mail.length).toBeGreaterThan(0);
    for (const m of mail) expect([m.tls, m.user]).toEqual([true, smtpAuth(env.lab.spec).username]);

    const logs = [...env.lab.controllers, ...env.lab.computes].map((node) => [`${node} nova-ha log`, readFileSync(novaHaLog(env.lab.spec, node), 'utf8')] as const);
    const logDir = join(runDir(env.lab.spec), 'logs');
    const agentLogs = readdirSync(logDir).filter((f) => f.includes('consul')).map((f) => [`Consul log ${f}`, readFileSync(join(logDir, f), 'utf8')] as const);
    const kv = [...(await env.ctx.runtime.clusters.mgmt.kvTree(env.ctx.runtime.kv.key('')))].map((e) => [`KV ${e.Key}`, e.Value ?? ''] as const);
    const places: (readonly [string, string])[] = [...commands.map((c) => ['argv', c] as const), ...logs, ...agentLogs, ...kv, ...mail.map((m) => [`email "${m.subject}"`, m.raw] as const)];
    const leaks = places.flatMap(([where, text]) => [...secrets].filter(([, value]) => text.includes(value)).map(([name]) => `${name} in ${where}`));
    expect(leaks).toEqual([]);
    process.stderr.write(`secret scan: ${secrets.size} secrets, ${argv.samples()} argv samples (${commands.length} distinct command lines), ${logs.length + agentLogs.length} logs, ${kv.length} KV values, ${mail.length} emails: nothing found\n`);
  });
});
