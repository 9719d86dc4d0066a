/**
 * The compute's remediation handler against real Consul events: only a request signed with the
 * shared key, fresh, never seen, addressed to this node and for an allowed action is acted on.
 * cmp1 is put in maintenance so nova-ha itself leaves its broken link alone while events are fired.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../lab/lab.js';
import { novaHaLog } from '../../lab/nova-ha.js';
import { runDir } from '../../lab/topology.js';
import { signRequest } from '../../lib/recovery/repair-request.js';
import { REMEDIATION_EVENT } from '../../lib/systems/consul/names.js';
import { Secret } from '../../lib/shared/secret.js';
import { KEYS } from '../../lib/state/records.js';
import { testLab } from './lab-context.js';
import { novaHaLab, resetHost, until, type NovaHaLab } from '../../lab/scenario.js';

let lab: Lab;
let ctx: NovaHaLab;
let key: Secret;

async function fire(payload: string, nodeFilter = '^cmp1$'): Promise<string> {
  const response = await lab.consul('ctl1', 'mgmt').put<{ ID: string }>(`/v1/event/fire/${REMEDIATION_EVENT}?node=${encodeURIComponent(nodeFilter)}`, payload);
  expect(response.status).toBe(200);
  return response.body.ID;
}

interface LogLine { event: string; consul_event?: string; reason?: string }
const handled = (id: string): Promise<LogLine> =>
  until(`cmp1 handled event ${id}`, 20_000, () => readFileSync(novaHaLog(lab.spec, 'cmp1'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine).find((l) => l.consul_event === id && l.event !== 'remediation-run'), (line) => line !== undefined) as Promise<LogLine>;

beforeAll(async () => {
  lab = await testLab();
  ctx = novaHaLab(lab);
  key = new Secret(readFileSync(join(runDir(lab.spec), 'nova-ha-hmac.key'), 'utf8').trim());
  await ctx.runtime.kv.write(ctx.runtime.kv.key(KEYS.maintenance('cmp1')), { reason: 'remediation test', since: Date.now(), by: 'test' });
  await lab.cutLink('cmp1', 'storage', 'host');
});

afterAll(async () => {
  await resetHost(ctx, 'cmp1');
});

describe('remediation events', () => {
  const request = { node: 'cmp1', action: 'restart-storage-network' as const, incident: 'cmp1-test' };

  it.each([
    ['forged (signed with another key)', () => signRequest(request, new Secret('f'.repeat(64))), /bad signature/],
    ['addressed to another node', () => signRequest({ ...request, node: 'cmp2' }, key), /addressed to cmp2/],
    ['stale (signed 5 minutes ago)', () => signRequest(request, key, Date.now() - 300_000), /outside the 60s window/],
    ['not JSON', () => 'please restart everything', /not JSON/],
  ])('a %s request is refused and logged, and the link stays down', async (_name, payload, reason) => {
    const line = await handled(await fire(payload()));
    expect(line.event).toBe('remediation-refused');
    expect(line.reason).toMatch(reason);
    expect(await lab.linkState('cmp1', 'storage', 'host')).toBe('down');
  });

  it('a valid request is acted on; the same request replayed is refused', async () => {
    const payload = signRequest(request, key);
    const line = await handled(await fire(payload));
    expect(line.event).toBe('remediation-done');
    expect(await lab.linkState('cmp1', 'storage', 'host')).toBe('up');
    await lab.cutLink('cmp1', 'storage', 'host');
    const replay = await handled(await fire(payload));
    expect(replay.event).toBe('remediation-refused');
    expect(replay.reason).toMatch(/replayed/);
    expect(await lab.linkState('cmp1', 'storage', 'host')).toBe('down');
  });

  it('the HMAC key never appears in the compute log', () => {
    expect(readFileSync(novaHaLog(lab.spec, 'cmp1'), 'utf8')).not.toContain(key.reveal());
  });
});
