/**
 * nova-ha under least-privilege Consul ACLs (docs/consul-acl/): its own small lab (prefix nha,
 * 2 computes, ACLs on with default deny, no Nova), nova-ha installed with install.sh and each
 * node's tokens from the lab in its nova-ha.conf. It never touches the shared lab nht, so it is a
 * project of its own, which scripts/test.sh runs beside the demo:
 *   npx vitest run --project acl
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { novaHaToken } from '../../lab/consul-acl.js';
import type { ConsulResponse } from '../../lab/consul-http.js';
import { Lab } from '../../lab/lab.js';
import { installNovaHa, novaHaLog } from '../../lab/nova-ha.js';
import { CONSUL_NETWORKS } from '../../lab/topology.js';
import { rejoin } from '../../lib/systems/consul/rejoin.js';
import { agentApi } from './lab-context.js';
import { closedIncidents, currentIncident, novaHaLab, stepsOf, until, type NovaHaLab } from '../../lab/scenario.js';

const PREFIX = 'nha';
const log = (message: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 23)} lab: ${message}\n`);
/** What Consul answers when a token may not do something, or is not a token at all. */
const ACL_ERROR = /Permission denied|ACL not found/i;

/**
 * Refused: 403 "Permission denied". A 500 is no verdict (a cluster without a leader for a moment,
 * seen under the load of the demo beside this lab): the request is made again, for up to 10 s.
 */
async function expectDenied(request: () => Promise<ConsulResponse<unknown>>): Promise<void> {
  let response = await request();
  for (const deadline = Date.now() + 10_000; response.status === 500 && Date.now() < deadline; response = await request()) await new Promise((resolve) => setTimeout(resolve, 500));
  expect(response.status, String(response.body)).toBe(403);
  expect(String(response.body)).toMatch(/Permission denied/);
}

let lab: Lab;
let ctx: NovaHaLab;

beforeAll(async () => {
  // Our own prefix, left over from a crashed run: nobody else's lab.
  if (await Lab.exists(PREFIX)) await Lab.down(PREFIX, log);
  lab = await Lab.up({ prefix: PREFIX, computes: 2, acl: true, log });
  try {
    await installNovaHa(lab.spec, {
      fencing: 'none',
      // No Nova here: the nova-compute check watches a process every compute runs (its Consul
      // agents), so nova-compute reads as up on the node and its state in Nova's API as unknown.
      overrides: { nova_compute: { pid_file: '', process_name: 'consul' } },
    });
  } catch (error) {
    await Lab.down(PREFIX, log).catch((downError: Error) => log(`taking lab ${PREFIX} down failed too: ${downError.message}`));
    throw error;
  }
  // nova-ha's own reads from the root namespace, with ctl1's least-privilege tokens.
  ctx = novaHaLab(lab);
});

afterAll(async () => {
  if (await Lab.exists(PREFIX)) await Lab.down(PREFIX, log);
});

interface Check {
  readonly Node: string;
  readonly CheckID: string;
  readonly Status: string;
  readonly Output: string;
}

const checkOf = async (node: string, id: string): Promise<Check | undefined> => (await lab.consul('ctl1', 'mgmt').getOk<Check[]>(`/v1/health/node/${node}?consistent`)).find((c) => c.CheckID === id);

/** Lines of a node's nova-ha log that show Consul refusing a token. */
function aclErrorsIn(node: string): string[] {
  let text = '';
  try {
    text = readFileSync(novaHaLog(lab.spec, node), 'utf8');
  } catch {
    // A compute logs only when it handles a request: no log, no error.
  }
  return text.split('\n').filter((line) => ACL_ERROR.test(line) || line.includes('HTTP 403'));
}

describe('nova-ha with least-privilege Consul ACLs', () => {
  it('the agents synced, the checks registered with nova-ha tokens, and the evaluation passes without ACL errors', async () => {
    for (const network of CONSUL_NETWORKS) {
      const nodes = await lab.consul('ctl1', network).getOk<{ Node: string; Meta: Record<string, string> | null }[]>('/v1/catalog/nodes?consistent');
      expect(Object.fromEntries(nodes.map((n) => [n.Node, n.Meta?.['nova-ha-role']])), network).toEqual({ ctl1: 'controller', ctl2: 'controller', ctl3: 'controller', cmp1: 'compute', cmp2: 'compute' });
    }
    // Checks registered from the agents' config reach the catalog only with a token that may write the node.
    for (const controller of lab.controllers) {
      const check = await until(`${controller}'s evaluation passing`, 90_000, () => checkOf(controller, 'nova-ha-evaluate'), (c) => c?.Status === 'passing');
      // "OK: 2 compute hosts": it saw both computes (a token that may not read nodes sees none),
      // and no part of the world it reads (KV, every cluster) came back as an error.
      expect(check!.Output.trim()).toBe('OK: 2 compute hosts, no open incident');
    }
    for (const compute of lab.computes) await until(`${compute}'s nova-compute check passing`, 60_000, () => checkOf(compute, 'nova-ha-nova-compute'), (c) => c?.Status === 'passing');
    // The evaluation wrote each host's record with ctl1's token (the controller policy's KV rule).
    for (const compute of lab.computes) expect(await ctx.runtime.kv.read(ctx.runtime.kv.key('hosts', compute))).toBeDefined();
    for (const node of [...lab.controllers, ...lab.computes]) expect(aclErrorsIn(node), node).toEqual([]);
  });

  it('a storage link cut on a compute is repaired through the signed remediation event', async () => {
    const since = Date.now();
    await lab.cutLink('cmp1', 'storage', 'host');
    // cmp1's remediation handler, started by its event watch (which needs the token's event:read),
    // runs "ip link set dev stor0 up" through sudo: the link comes back by itself.
    await until('cmp1 storage link repaired by nova-ha', 90_000, () => lab.linkState('cmp1', 'storage', 'host'), (state) => state === 'up');
    await lab.waitForMember('cmp1', 'storage', 'alive', 60_000);
    // Without Nova the incident may stay open (nova-compute's state in Nova's API stays unknown): look at both.
    const incident = await until('the repair recorded in the incident', 30_000, async () => [await currentIncident(ctx, 'cmp1'), ...(await closedIncidents(ctx, 'cmp1'))].find((i) => i !== undefined && i.openedAt >= since - 1000), (i) => i !== undefined && stepsOf(i).includes('restart-storage-network:done'));
    expect(incident!.cause).toBe('storage-network');
    const handled = readFileSync(novaHaLog(lab.spec, 'cmp1'), 'utf8').split('\n').filter((line) => line.includes('"remediation-done"'));
    expect(handled.some((line) => line.includes(incident!.id) && line.includes('restart-storage-network'))).toBe(true);
    // Its report came back through the one KV key its mgmt token may write, and its storage token
    // let it list the storage servers it checked (compute-node-mgmt.hcl, compute-storage.hcl).
    const reported = await until('the node\'s report recorded', 30_000, async () => [await currentIncident(ctx, 'cmp1'), ...(await closedIncidents(ctx, 'cmp1'))].find((i) => i?.id === incident!.id), (i) => i?.repairReports?.['restart-storage-network'] !== undefined);
    expect(reported!.repairReports!['restart-storage-network']).toMatchObject({ result: 'works', detail: expect.stringMatching(/^stor0 up with \S+, 3 of 3 storage servers reachable/) });
    for (const node of ['ctl1', 'ctl2', 'ctl3', 'cmp1']) expect(aclErrorsIn(node), node).toEqual([]);
  });

  it("a compute's token reads the remediation events but cannot write nova-ha's state nor fire a request", async () => {
    const compute = lab.consul('cmp1', 'mgmt').withToken(novaHaToken(lab.spec, 'cmp1', 'mgmt')!);
    expect((await compute.get('/v1/event/list?name=nova-ha-remediate')).status).toBe(200);
    await expectDenied(() => compute.put('/v1/kv/nova-ha/pause', JSON.stringify({ reason: 'forged by a compute', since: Date.now(), by: 'cmp1' })));
    await expectDenied(() => compute.put('/v1/kv/nova-ha/incidents/cmp2', '{}'));
    await expectDenied(() => compute.get('/v1/kv/nova-ha/hosts/cmp2'));
    await expectDenied(() => compute.put('/v1/event/fire/nova-ha-remediate?node=cmp2', '{}'));
    await expectDenied(() => compute.put('/v1/session/create', { Name: 'forged lock', TTL: '10s' }));
    // Its own report key and no other: not another compute's, not the folder.
    expect((await compute.put('/v1/kv/nova-ha/repair-reports/cmp1', '{}')).status).toBe(200);
    await expectDenied(() => compute.put('/v1/kv/nova-ha/repair-reports/cmp2', '{}'));
    await expectDenied(() => compute.put('/v1/kv/nova-ha/repair-reports/cmp1x', '{}'));
    await ctx.runtime.kv.delete(ctx.runtime.kv.key('repair-reports', 'cmp1'));
    // Its storage token reads the members (to find the storage servers), and writes nothing.
    const storage = lab.consul('cmp1', 'storage').withToken(novaHaToken(lab.spec, 'cmp1', 'storage')!);
    const members = await storage.get<{ Name: string }[]>('/v1/agent/members');
    expect(members.body.map((m) => m.Name)).toEqual(expect.arrayContaining(['ctl1', 'ctl2', 'ctl3']));
    // Its storage and tenant tokens only let install.sh reload its own agents.
    for (const network of ['storage', 'tenant'] as const) await expectDenied(() => lab.consul('cmp1', network).withToken(novaHaToken(lab.spec, 'cmp1', network)!).put('/v1/kv/nova-ha/pause', '{}'));
    // Nothing of it landed: the pause switch is still off.
    expect(await ctx.runtime.kv.read(ctx.runtime.kv.key('pause'))).toBeUndefined();
  });

  it("a controller's tokens stop at nova-ha's prefix, its own node and the remediation event", async () => {
    const controller = lab.consul('ctl1', 'mgmt').withToken(novaHaToken(lab.spec, 'ctl1', 'mgmt')!);
    await expectDenied(() => controller.put('/v1/kv/not-nova-ha/x', '{}'));
    await expectDenied(() => controller.put('/v1/event/fire/some-other-event', '{}'));
    await expectDenied(() => controller.put('/v1/session/create', { Node: 'ctl2', Name: 'on another node', TTL: '10s' }));
    await expectDenied(() => lab.consul('ctl2', 'mgmt').withToken(novaHaToken(lab.spec, 'ctl1', 'mgmt')!).put('/v1/agent/reload'));
    // nova-ha keeps no state and sends no request in the storage and tenant clusters.
    await expectDenied(() => lab.consul('ctl1', 'storage').withToken(novaHaToken(lab.spec, 'ctl1', 'storage')!).put('/v1/kv/nova-ha/pause', '{}'));
    // What it needs works: its own session on its own node.
    const session = await controller.put<{ ID: string }>('/v1/session/create', { Name: 'acl test', TTL: '10s' });
    expect(session.status).toBe(200);
    expect((await controller.put(`/v1/session/destroy/${session.body.ID}`)).status).toBe(200);
    // And the workers' rejoin requests, in every cluster (lib/systems/consul/rejoin.ts): joining a live member is harmless.
    for (const network of CONSUL_NETWORKS) {
      expect(await rejoin(agentApi(lab, 'ctl1', network, novaHaToken(lab.spec, 'ctl1', network)!), 'cmp2'), network).toBe('joined');
    }
  });
});
