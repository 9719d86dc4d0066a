/**
 * The operator's side against the lab: the status table and its --json shape, maintenance during
 * a real failure, the Prometheus metrics file, and install.sh run again and uninstalled.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agentConfigDir } from '../../lab/consul-config.js';
import { installOn, installedLib, metricsFile, novaHaDir, sudoersFile } from '../../lab/nova-ha.js';
import { cliOnController, closedIncidents, currentIncident, hang, mailSince, until } from '../../lab/scenario.js';
import { scenarioLab } from './lab-context.js';
import { hostRecord, LAB_CONFIRMATION_WINDOW, untilFreshEvaluation } from './support/evaluations.js';

const env = scenarioLab({ fencing: 'ipmi' });

afterAll(async () => {
  await installOn(env.lab.spec, 'cmp4');
});

describe('nova-ha status', () => {
  it('shows every compute host in a table, from a controller', async () => {
    // Healthy rows once the pollers have seen the lab as it is: a host the file before left
    // unreachable reads "unknown" power until the next BMC poll.
    const healthy = (stdout: string): boolean => env.lab.computes.every((host) => new RegExp(`${host}\\s+alive\\s+alive\\s+alive\\s+on\\s+up/up\\s+-\\s+-`).test(stdout));
    const result = await until('every host healthy in nova-ha status', 60_000, () => cliOnController(env.ctx, ['status']), (r) => r.code !== 0 || healthy(r.stdout), 2000);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/HOST\s+MGMT\s+STORAGE\s+TENANT\s+POWER\s+NOVA node\/api\s+MAINTENANCE\s+INCIDENT/);
    for (const host of env.lab.computes) expect(result.stdout).toMatch(new RegExp(`${host}\\s+alive\\s+alive\\s+alive\\s+on\\s+up/up\\s+-\\s+-`));
    expect(result.stdout).toMatch(/4 compute hosts, read from ctl1/);
  });

  it('--json has the documented shape (docs/status-json.md)', async () => {
    const result = await cliOnController(env.ctx, ['status', '--json']);
    const status = JSON.parse(result.stdout) as Record<string, unknown> & { hosts: Record<string, unknown>[] };
    expect(Object.keys(status).sort()).toEqual(['clusters', 'errors', 'generatedAt', 'hosts', 'nova', 'observer', 'paused', 'storm']);
    expect(status['clusters']).toEqual({ mgmt: { ok: true }, storage: { ok: true }, tenant: { ok: true } });
    expect(status.hosts).toHaveLength(4);
    expect(Object.keys(status.hosts[0]!).sort()).toEqual(['decision', 'host', 'incident', 'maintenance', 'networks', 'novaCompute', 'power']);
    // The shape, whatever state the lab is in (Nova's view of a host just reset can lag a poll).
    const member = expect.stringMatching(/^(alive|failed|left|unknown)$/);
    const service = expect.stringMatching(/^(up|down|unknown)$/);
    expect(status.hosts[0]).toMatchObject({ networks: { mgmt: member, storage: member, tenant: member }, power: expect.stringMatching(/^(on|off|unknown)$/), novaCompute: { node: service, api: service }, maintenance: { on: expect.any(Boolean) }, decision: { action: expect.any(String) } });
    const documented = readFileSync('docs/status-json.md', 'utf8');
    for (const key of ['generatedAt', 'observer', 'clusters', 'paused', 'storm', 'nova', 'hosts', 'networks', 'power', 'novaCompute', 'maintenance', 'incident', 'decision', 'errors']) expect(documented).toContain(`"${key}"`);
  });
});

describe('maintenance', () => {
  it('a host in maintenance is never acted on during a real failure, and shown as such', async () => {
    const since = Date.now();
    env.touch('cmp2');
    const on = await cliOnController(env.ctx, ['maintenance', 'on', 'cmp2', '--reason', 'disk swap']);
    expect(on.code, on.stderr).toBe(0);
    const typo = await cliOnController(env.ctx, ['maintenance', 'on', 'cmp22']);
    expect(typo.code).toBe(1);
    await hang(env.ctx, 'cmp2');
    // nova-ha saw the hang and left it alone, and has evaluated again since the confirmation window passed.
    const seen = await until('an evaluation that saw cmp2 down everywhere', 60_000, () => hostRecord(env.ctx, 'cmp2'), (r) => r !== undefined && Object.values(r.networks).every((n) => n.state === 'failed'));
    expect(seen!.decision).toMatchObject({ action: 'none', guard: 'maintenance' });
    await until('the confirmation window passed', 30_000, () => Date.now(), (now) => now > Math.max(...Object.values(seen!.networks).map((n) => n.since)) + LAB_CONFIRMATION_WINDOW);
    await untilFreshEvaluation(env.ctx);
    expect(await currentIncident(env.ctx, 'cmp2')).toBeUndefined();
    expect(await env.lab.powerStatus('cmp2')).toBe('on');
    expect(mailSince(env.ctx, since, 'cmp2')).toEqual([]);
    const status = JSON.parse((await cliOnController(env.ctx, ['status', '--json'])).stdout) as { hosts: { host: string; maintenance: unknown; decision: { action: string } }[] };
    const cmp2 = status.hosts.find((h) => h.host === 'cmp2')!;
    expect(cmp2.maintenance).toEqual({ on: true, reason: 'disk swap' });
    expect(cmp2.decision.action).toBe('none');
  });
});

describe('metrics', () => {
  it('the textfile is valid Prometheus text and counts the incidents this test caused', async () => {
    const file = metricsFile(env.lab.spec, 'ctl1');
    const count = (text: string): number => Number(/^nova_ha_incidents_closed\{outcome="recovered",cause="tenant-network"\} (\d+)/m.exec(text)?.[1] ?? 0);
    const before = count(await until('metrics file', 60_000, () => (existsSync(file) ? readFileSync(file, 'utf8') : ''), (t) => t.length > 0));
    env.touch('cmp3');
    await env.lab.cutLink('cmp3', 'tenant', 'host');
    const held = await until('tenant incident', 60_000, () => currentIncident(env.ctx, 'cmp3'), (i) => i?.phase === 'held');
    await env.lab.restoreLink('cmp3', 'tenant', 'host');
    await until('closed', 90_000, () => closedIncidents(env.ctx, 'cmp3'), (list) => list.some((i) => i.id === held!.id));
    const text = await until('metrics counting it', 60_000, () => readFileSync(file, 'utf8'), (t) => count(t) === before + 1);
    for (const line of text.split('\n').filter(Boolean)) {
      expect(line, line).toMatch(/^(# (HELP|TYPE) [a-z_:][a-z0-9_:]* .+|[a-z_:][a-z0-9_:]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+|[a-z_:][a-z0-9_:]*(\{.*\})? (NaN|[+-]Inf))$/);
    }
    for (const name of ['nova_ha_hosts', 'nova_ha_incidents_open', 'nova_ha_time_to_recovery_seconds_bucket', 'nova_ha_instances', 'nova_ha_handler_runs_total', 'nova_ha_handler_last_success_timestamp_seconds']) expect(text).toContain(name);
  });
});

describe('install.sh on a lab node', () => {
  const snapshot = (): Record<string, string> => {
    const files: Record<string, string> = {};
    for (const net of ['mgmt', 'storage', 'tenant'] as const) {
      const dir = agentConfigDir(env.lab.spec, 'cmp4', net);
      for (const f of readdirSync(dir)) files[join(dir, f)] = readFileSync(join(dir, f), 'utf8');
    }
    for (const f of [sudoersFile(env.lab.spec, 'cmp4'), join(novaHaDir(env.lab.spec, 'cmp4'), 'bin', 'nova-ha')]) if (existsSync(f)) files[f] = readFileSync(f, 'utf8');
    return files;
  };

  it('run twice changes nothing; --uninstall removes exactly what it added', async () => {
    const installed = snapshot();
    expect(Object.keys(installed).length).toBeGreaterThanOrEqual(5);
    const again = await installOn(env.lab.spec, 'cmp4');
    expect(again).toMatch(/nothing to change/);
    expect(snapshot()).toEqual(installed);

    const removed = await installOn(env.lab.spec, 'cmp4', ['--uninstall']);
    expect(removed).toMatch(/nova-ha is uninstalled/);
    expect(snapshot()).toEqual({});
    // The shared handler directory stays while other nodes' installs use it.
    expect(existsSync(join(installedLib(env.lab.spec), 'handlers', 'worker.js'))).toBe(true);
    const checks = (await env.lab.consul('ctl1', 'mgmt').getOk<{ Node: string; CheckID: string }[]>('/v1/health/node/cmp4')).map((c) => c.CheckID);
    expect(checks).toEqual(['serfHealth']);
  });
});
