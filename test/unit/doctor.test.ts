/**
 * nova-ha doctor: the verdicts as tables (lib/decision/doctor.ts), then the whole run over the
 * fakes (lib/operator/doctor.ts): a simulated Consul per network, Keystone, Nova and Placement
 * behind a fetch, BMCs in memory. Healthy → OK; a BMC refusing its password → CRITICAL naming the
 * host; too little room for the most loaded host → CRITICAL with the shortfall; the periodic
 * check never sends the dry evacuate.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ConfigProblem } from '../../lib/config/load.js';
import type { Amounts, HostRoom } from '../../lib/decision/capacity.js';
import { parseRepairKeyLine, repairKeyLine } from '../../lib/decision/checks.js';
import {
  bmcVerdict,
  clockOffset,
  clocksVerdict,
  configVerdict,
  CONSUL_EXIT,
  consulVerdict,
  evacuatePermission,
  forceDownPermission,
  novaVerdict,
  nPlusOneVerdict,
  PLUGIN_EXIT,
  repairKeysVerdict,
  summarize,
  worst,
  type DoctorStatus,
  type DryAnswer,
  type HostLoad,
  type Listing,
} from '../../lib/decision/doctor.js';
import { FORCE_DOWN_ASK_EVERY, placementLoads, runDoctor, type DoctorMode, type DoctorSources } from '../../lib/operator/doctor.js';
import { repairKeyFingerprint } from '../../lib/recovery/repair-request.js';
import { Secret } from '../../lib/shared/secret.js';
import { KEYS } from '../../lib/state/records.js';
import { NovaClient } from '../../lib/systems/nova/index.js';
import { cloudsDisposedAfterEach, HMAC_KEY, type FakeCloud } from '../support/fake-cloud.js';
import { novaHa } from '../support/cli.js';
import { FakeOpenStack, json, type Call } from '../support/fake-openstack.js';

const amounts = (VCPU: number, MEMORY_MB: number, DISK_GB = 0): Amounts => ({ VCPU, MEMORY_MB, DISK_GB });
const room = (host: string, free: Amounts): HostRoom => ({ host, free });
const load = (host: string, free: Amounts, sizes: Amounts[], usable = true): HostLoad => ({ host, usable, room: room(host, free), instances: sizes.map((needs, i) => ({ id: `${host}-vm${i}`, name: `${host}-vm${i}`, needs })) });
const perf = (row: { perfdata: readonly { label: string; value: number | 'U' }[] }): Record<string, number | 'U'> => Object.fromEntries(row.perfdata.map((p) => [p.label, p.value]));

describe('doctor verdicts', () => {
  it.each<[string, ConfigProblem[], DoctorStatus]>([
    ['no problem', [], 'OK'],
    ['a warning', [{ section: 'ipmi', key: 'cipher_suite', message: 'cipher suite 3 is weak', warning: true }], 'WARNING'],
    ['an error', [{ section: 'nova', key: 'auth_url', message: 'missing' }], 'CRITICAL'],
  ])('config with %s: %s', (_, problems, status) => {
    expect(configVerdict('/etc/nova-ha/nova-ha.conf', problems).status).toBe(status);
  });

  it.each<[string, HostLoad[], DoctorStatus, Record<string, number>, RegExp]>([
    ['every host fits on the others', [load('cmp1', amounts(8, 8192), [amounts(2, 2048), amounts(2, 2048)]), load('cmp2', amounts(8, 8192), [amounts(4, 4096)]), load('cmp3', amounts(8, 8192), [])], 'OK', { n_plus_one_hosts_short: 0, n_plus_one_shortfall_vcpu: 0, n_plus_one_shortfall_memory_mb: 0 }, /the most loaded host, cmp1 \(2 instances, 4 vCPU and 4 GiB\), fits/],
    ['the most loaded host does not fit', [load('cmp1', amounts(0, 0), [amounts(8, 16384), amounts(8, 16384), amounts(8, 16384)]), load('cmp2', amounts(8, 16384), [])], 'CRITICAL', { n_plus_one_hosts_short: 1, n_plus_one_shortfall_vcpu: 16, n_plus_one_shortfall_memory_mb: 32768 }, /cmp1 \(3 instances, 24 vCPU and 48 GiB\) does not fit on the other usable hosts: room for 1 of 3 instances; 2 held: needs 16 vCPU and 32 GiB more/],
    ['a disabled host is no room', [load('cmp1', amounts(0, 0), [amounts(2, 2048)]), load('cmp2', amounts(64, 65536), [], false)], 'CRITICAL', { n_plus_one_hosts_short: 1, n_plus_one_shortfall_vcpu: 2, n_plus_one_shortfall_memory_mb: 2048 }, /no usable compute host/],
    ['no instance anywhere', [load('cmp1', amounts(8, 8192), []), load('cmp2', amounts(8, 8192), [])], 'OK', { n_plus_one_hosts_short: 0 }, /no instance on any of 2 compute hosts/],
  ])('N+1: %s', (_, hosts, status, expected, found) => {
    const row = nPlusOneVerdict({ ok: true, hosts });
    expect(row.status).toBe(status);
    expect(perf(row)).toMatchObject(expected);
    expect(row.found).toMatch(found);
  });

  describe('N+1 in the failed host\'s availability zone, with the spares a failure would borrow', () => {
    const zoned = (id: string, hosts: string[], zone: string) => ({ id, name: id, hosts, metadata: { availability_zone: zone } });
    // cmp1's two instances need 8 vCPU and 16 GiB; cmp2 (az1) has room for one, cmp3 (az2) for both.
    const hosts = [load('cmp1', amounts(0, 0), [amounts(4, 8192), amounts(4, 8192)]), load('cmp2', amounts(4, 8192), []), load('cmp3', amounts(16, 32768), []), load('cmp4', amounts(4, 8192), [], false)];
    const zones = { ok: true as const, value: [zoned('a1', ['cmp1', 'cmp2'], 'az1'), zoned('a2', ['cmp3'], 'az2'), zoned('a3', ['cmp4'], 'az2')] };
    const spares = (free: string[], joinZone = false) => ({ ok: true as const, value: { free, joinZone } });

    it.each<[string, Parameters<typeof nPlusOneVerdict>[0], DoctorStatus, RegExp]>([
      ['one zone (no aggregate names one): every usable host is room', { ok: true, hosts }, 'OK', /^the most loaded host, cmp1 \(2 instances, 8 vCPU and 16 GiB\), fits on the other usable hosts: room for all 2 instances \(2 usable hosts with/],
      ['zones: the room in another zone does not count', { ok: true, hosts, zones }, 'CRITICAL', /^cmp1 \(2 instances, 8 vCPU and 16 GiB\) does not fit on the other usable hosts: room for 1 of 2 instances; 1 held: needs 4 vCPU and 8 GiB more \(1 usable host in zone az1 with 4 vCPU, 8 GiB and 0 GB disk free\)$/],
      ['zones unread: every zone counted, and the row says so', { ok: true, hosts, zones: { ok: false, why: 'Nova GET /os-aggregates: HTTP 403' } }, 'OK', /; availability zones not checked, hosts of every zone counted: the host aggregates could not be read \(Nova GET \/os-aggregates: HTTP 403\)$/],
      ['a free spare covers the shortfall: OK, the spare named as lent', { ok: true, hosts: [hosts[0]!, hosts[1]!, hosts[3]!], spares: spares(['cmp4']) }, 'OK', /^the most loaded host, cmp1 \(2 instances, 8 vCPU and 16 GiB\), fits on the other usable hosts with 1 spare host \(cmp4\) lent: room for all 2 instances/],
      ['room enough without spares: none lent, none named', { ok: true, hosts: [hosts[0]!, load('cmp2', amounts(8, 16384), [])], spares: spares(['cmp4']) }, 'OK', /fits on the other usable hosts: room for all 2 instances \(1 usable host with/],
      ['a spare claimed by an incident (not free) does not count', { ok: true, hosts, zones, spares: spares([]) }, 'CRITICAL', /^cmp1 .* does not fit on the other usable hosts: room for 1 of 2/],
      ['a free spare in another zone does not count', { ok: true, hosts, zones, spares: spares(['cmp4']) }, 'CRITICAL', /^cmp1 .* does not fit on the other usable hosts: room for 1 of 2/],
      ['a free spare in another zone counts with spare_aggregates (it joins the failed host\'s zone)', { ok: true, hosts, zones, spares: spares(['cmp4'], true) }, 'OK', /fits on the other usable hosts with 1 spare host \(cmp4\) lent: room for all 2 instances \(2 usable hosts in zone az1 with/],
      ['the spares too small: CRITICAL, naming the spare lent all the same', { ok: true, hosts: [load('cmp1', amounts(0, 0), [amounts(4, 8192), amounts(4, 8192), amounts(4, 8192)]), ...hosts.slice(1)], zones, spares: spares(['cmp4'], true) }, 'CRITICAL', /^cmp1 \(3 instances, 12 vCPU and 24 GiB\) does not fit on the other usable hosts even with 1 spare host \(cmp4\) lent: room for 2 of 3/],
      ['another host than the most loaded one needs the spare: the row names it too', { ok: true, hosts: [load('cmp1', amounts(2, 4096), [amounts(8, 16384)]), load('cmp2', amounts(8, 16384), [amounts(4, 8192)]), hosts[3]!], spares: spares(['cmp4']) }, 'OK', /^the most loaded host, cmp1 \(1 instance, 8 vCPU and 16 GiB\), fits on the other usable hosts: .*; so does every other host \(cmp2 with 1 spare host \(cmp4\) lent\)$/],
      ['the claims unread: no spare counted, and the row says so', { ok: true, hosts, spares: { ok: false, why: 'no cluster leader' } }, 'OK', /; no spare counted: their claims could not be read \(no cluster leader\)$/],
    ])('%s', (_, reading, status, found) => {
      const row = nPlusOneVerdict(reading);
      expect(row.status).toBe(status);
      expect(row.found).toMatch(found);
    });
  });

  it('N+1: Placement unreadable is UNKNOWN, its perfdata U', () => {
    const row = nPlusOneVerdict({ ok: false, error: 'Placement GET /resource_providers: HTTP 503' });
    expect(row.status).toBe('UNKNOWN');
    expect(Object.values(perf(row))).toEqual(['U', 'U', 'U', 'U']);
  });

  it('BMC: a host whose BMC does not answer is CRITICAL and named; off still answers; none configured is a WARNING', () => {
    const failed = bmcVerdict({ configured: true, hosts: [{ host: 'cmp1', state: 'on' }, { host: 'cmp2', state: 'unknown', error: 'BMC 10.0.0.2: Unable to establish IPMI v2 / RMCP+ session' }, { host: 'cmp3', state: 'off' }] });
    expect(failed.status).toBe('CRITICAL');
    expect(failed.found).toMatch(/^1 of 3 BMCs did not answer a power status read: cmp2 \(BMC 10\.0\.0\.2: Unable to establish IPMI v2/);
    expect(perf(failed)).toEqual({ bmc_failed: 1, bmc_hosts: 3 });
    expect(bmcVerdict({ configured: true, hosts: [{ host: 'cmp1', state: 'off' }] })).toMatchObject({ status: 'OK', found: '1 BMC answered a power status read (powered off: cmp1)' });
    expect(bmcVerdict({ configured: false }).status).toBe('WARNING');
    expect(bmcVerdict({ configured: true, hosts: [] }).status).toBe('UNKNOWN');
  });

  const answer = (status: number | undefined, message: string): DryAnswer => ({ request: 'R', ...(status === undefined ? {} : { status }), message, at: 0 });
  it.each<[string, DryAnswer, string]>([
    ['404 after the policy check', answer(404, 'Service with id 0b0e could not be found.'), 'allowed'],
    ['403 from the policy', answer(403, "Policy doesn't allow os_compute_api:os-services:update to be performed."), 'denied'],
    ['404 of an unknown route', answer(404, 'The resource could not be routed.'), 'unclear'],
    ['no answer', answer(undefined, 'ECONNREFUSED'), 'unclear'],
  ])('force-down permission from %s: %s', (_, a, meaning) => {
    expect(forceDownPermission(a)).toBe(meaning);
  });

  it.each<[string, DryAnswer, string]>([
    ['400 force without a host', answer(400, "Can't force to a non-provided destination"), 'allowed'],
    ['403 from the policy', answer(403, "Policy doesn't allow os_compute_api:os-evacuate to be performed."), 'denied'],
    ['400 from the schema (before the policy)', answer(400, "Invalid input for field/attribute evacuate. Additional properties are not allowed ('force' was unexpected)"), 'unclear'],
    ['404: the server went away', answer(404, 'Instance x could not be found.'), 'unclear'],
  ])('evacuate permission from %s: %s', (_, a, meaning) => {
    expect(evacuatePermission(a)).toBe(meaning);
  });

  const listed: Listing = { ok: true, count: 3 };
  it.each<[string, Partial<Parameters<typeof novaVerdict>[0]>, DoctorStatus, RegExp]>([
    ['both allowed', { forceDown: answer(404, 'Service x could not be found.'), evacuate: answer(400, "Can't force to a non-provided destination") }, 'OK', /force down: allowed .*; evacuate: allowed/],
    ['evacuate never asked (the periodic check before the CLI ran)', { forceDown: answer(404, 'Service x could not be found.') }, 'UNKNOWN', /evacuate: unknown \(not asked yet: run nova-ha doctor once on a controller\)/],
    ['force down denied', { forceDown: answer(403, 'Policy does not allow'), evacuate: answer(400, "Can't force to a non-provided destination") }, 'CRITICAL', /force down: NOT allowed/],
    ['servers not listed', { servers: { ok: false, error: 'HTTP 403' }, forceDown: answer(404, 'could not be found'), evacuate: 'the servers could not be listed' }, 'CRITICAL', /servers of all projects: NOT listed \(HTTP 403\)/],
  ])('Nova: %s', (_, over, status, found) => {
    const row = novaVerdict({ services: listed, servers: listed, now: 3_600_000, ...over });
    expect(row.status).toBe(status);
    expect(row.found).toMatch(found);
  });

  it('Nova: says which request was sent, what Nova answered, and how long ago', () => {
    const row = novaVerdict({ services: listed, servers: listed, now: 7_200_000, forceDown: { request: 'PUT /os-services/abc {} at compute 2.53', status: 404, message: 'Service abc could not be found.', at: 0 }, evacuate: { request: 'POST /servers/s1/action {"evacuate":{"force":true}} at compute 2.29', status: 400, message: "Can't force to a non-provided destination", at: 3_600_000 } });
    expect(row.found).toContain('force down: allowed (refused after the policy check): PUT /os-services/abc {} at compute 2.53 → HTTP 404 "Service abc could not be found.", 2h ago');
    expect(row.found).toContain('evacuate: allowed (refused after the policy check): POST /servers/s1/action {"evacuate":{"force":true}} at compute 2.29 → HTTP 400 "Can\'t force to a non-provided destination", 1h ago');
  });

  it('Consul: a cluster whose token fails, or sees no node, is named', () => {
    const ok = { ok: true as const, count: 7 };
    expect(consulVerdict([{ network: 'mgmt', catalog: ok, kv: { ok: true, key: 'nova-ha/state/nova/poll' } }, { network: 'storage', catalog: ok }, { network: 'tenant', catalog: ok }]).status).toBe('OK');
    const failed = consulVerdict([{ network: 'mgmt', catalog: ok, kv: { ok: false, key: 'nova-ha/state/nova/poll', error: 'Permission denied' } }, { network: 'storage', catalog: { ok: true, count: 0 } }, { network: 'tenant', catalog: ok }]);
    expect(failed.status).toBe('CRITICAL');
    expect(failed.found).toMatch(/^nova-ha's token fails in mgmt, storage /);
  });

  it('repair keys: the line a compute prints parses back; a compute accepting another key is CRITICAL and named', () => {
    expect(parseRepairKeyLine(`OK: nova-compute: process 12 running\n${repairKeyLine({ current: 'hmac-sha256:aa', previous: 'hmac-sha256:bb' })}`)).toEqual({ current: 'hmac-sha256:aa', previous: 'hmac-sha256:bb' });
    expect(parseRepairKeyLine('OK: nova-compute: process 12 running')).toBeUndefined();
    const computes = [{ host: 'cmp1', keys: { current: 'A' } }, { host: 'cmp2', keys: { current: 'B' } }, { host: 'cmp3', keys: { current: 'B', previous: 'A' } }];
    const row = repairKeysVerdict({ ok: true, own: 'A', computes });
    expect(row).toMatchObject({ status: 'CRITICAL', perfdata: [{ label: 'repair_key_mismatch', value: 1 }] });
    expect(row.found).toMatch(/1 of 3 computes would refuse .*: cmp2 accepts B/);
    expect(repairKeysVerdict({ ok: true, own: 'A', computes: [{ host: 'cmp1', keys: { current: 'A' } }, { host: 'cmp2' }] }).status).toBe('WARNING');
  });

  it('clocks: the skew of the fresh records against the window; stale ones are left out and said', () => {
    const now = 10_000_000;
    const row = clocksVerdict({ records: [{ node: 'ctl1', offsetMs: -221, at: now }, { node: 'ctl2', offsetMs: 512, at: now - 60_000 }, { node: 'ctl3', offsetMs: 40_000, at: now - 7_200_000 }, { node: 'ctl0', offsetMs: 0, at: now - 2 * 86_400_000 }], now, windowMs: 60_000, staleAfterMs: 900_000 });
    expect(row.status).toBe('OK');
    expect(perf(row)).toEqual({ clock_skew_ms: 733, clock_controllers: 2 });
    expect(row.found).toMatch(/^2 controllers compared: skew 733 ms .*left out, too old: ctl3 \(measured 2h ago\)$/);
    expect(clocksVerdict({ records: [{ node: 'ctl1', offsetMs: 0, at: now }, { node: 'ctl2', offsetMs: 35_000, at: now }], now, windowMs: 60_000, staleAfterMs: 900_000 }).status).toBe('WARNING');
    expect(clocksVerdict({ records: [{ node: 'ctl1', offsetMs: 0, at: now }, { node: 'ctl2', offsetMs: 61_000, at: now }], now, windowMs: 60_000, staleAfterMs: 900_000 }).status).toBe('CRITICAL');
    expect(clocksVerdict({ records: [], now, windowMs: 60_000, staleAfterMs: 900_000 }).status).toBe('UNKNOWN');
    // Nova's Date has whole seconds: the middle of that second against the middle of the request.
    expect(clockOffset({ date: 1_000_000, sentAt: 1_000_100, receivedAt: 1_000_300 })).toBe(300);
  });

  it('summary: the worst status, the troubled rows first, perfdata after " | "; exit codes per caller', () => {
    expect(worst(['OK', 'UNKNOWN', 'WARNING'])).toBe('WARNING');
    expect(worst(['OK', 'UNKNOWN'])).toBe('UNKNOWN');
    const report = summarize([configVerdict('f', []), bmcVerdict({ configured: true, hosts: [{ host: 'cmp2', state: 'unknown', error: 'no answer' }] })]);
    expect(report.statusLine).toBe('CRITICAL: bmc: 1 of 1 BMCs did not answer a power status read: cmp2 (no answer); fix the credentials or the BMC\'s address before one of them fails | bmc_failed=1 bmc_hosts=1');
    expect(summarize([configVerdict('f', [])]).statusLine).toBe('OK: all 1 readiness checks passed');
    expect([PLUGIN_EXIT.UNKNOWN, CONSUL_EXIT.UNKNOWN, CONSUL_EXIT.CRITICAL]).toEqual([3, 1, 2]);
  });
});

// ---- the whole run over the fakes -------------------------------------------------------------

const OWN_KEY = repairKeyFingerprint(new Secret(HMAC_KEY));
const SERVER_ID = 'c0ffee00-0000-4000-8000-000000000001';
const flavor = (vcpus: number, ram: number) => ({ vcpus, ram, disk: 10, ephemeral: 0, swap: '', original_name: `f${vcpus}`, extra_specs: {} });
const serverJson = (id: string, host: string, size: ReturnType<typeof flavor>) => ({ id, name: id, status: 'ACTIVE', 'OS-EXT-STS:task_state': null, 'OS-EXT-STS:vm_state': 'active', 'OS-EXT-SRV-ATTR:host': host, tenant_id: 'p1', metadata: {}, locked: false, flavor: size, image: { id: 'img' } });

interface World {
  readonly cloud: FakeCloud;
  readonly openstack: FakeOpenStack;
  readonly sources: DoctorSources;
  now: number;
}

/**
 * Four computes, each with 16 vCPU and 32 GiB (ratio 1), each running two 4 vCPU / 8 GiB instances:
 * any one host's instances fit on the other three. Nova answers the dry requests as it does with
 * the admin role: 404 for the unknown service, 400 for force without a host.
 */
function world(cloud: FakeCloud): World {
  const openstack = new FakeOpenStack();
  openstack.clock = Date.now;
  const servers = cloud.computes.flatMap((host) => [0, 1].map((i) => serverJson(`${host}-vm${i}`, host, flavor(4, 8192))));
  const servicesJson = () => [...cloud.nova.services.values()].filter((s) => cloud.computes.includes(s.host)).map((s) => ({ id: s.id, binary: 'nova-compute', host: s.host, zone: 'nova', status: s.status, state: s.state, forced_down: s.forcedDown, disabled_reason: s.disabledReason, updated_at: null }));
  openstack.routes.set('GET /os-services', () => json(200, { services: servicesJson() }));
  openstack.routes.set('GET /os-aggregates', () => json(200, { aggregates: [] }));
  openstack.routes.set('GET /servers', () => json(200, { servers: [{ id: SERVER_ID, name: 'vm', links: [] }] }));
  openstack.routes.set('GET /servers/detail', (call) => json(200, { servers: servers.filter((s) => s['OS-EXT-SRV-ATTR:host'] === call.url.searchParams.get('host')) }));
  openstack.patterns.push([/^PUT \/os-services\/[0-9a-f-]{36}$/, (call) => json(404, { itemNotFound: { code: 404, message: `Service ${call.url.pathname.split('/').at(-1)} could not be found.` } })]);
  openstack.routes.set(`POST /servers/${SERVER_ID}/action`, () => json(400, { badRequest: { code: 400, message: "Can't force to a non-provided destination" } }));
  openstack.routes.set('GET placement:/resource_providers', (call) => json(200, { resource_providers: [{ uuid: `uuid-${call.url.searchParams.get('name')}`, name: call.url.searchParams.get('name'), generation: 1 }] }));
  for (const host of cloud.computes) {
    openstack.routes.set(`GET placement:/resource_providers/uuid-${host}/inventories`, () => json(200, { resource_provider_generation: 1, inventories: { VCPU: { total: 16, reserved: 0, allocation_ratio: 1 }, MEMORY_MB: { total: 32768, reserved: 0, allocation_ratio: 1 }, DISK_GB: { total: 500, reserved: 0, allocation_ratio: 1 } } }));
    openstack.routes.set(`GET placement:/resource_providers/uuid-${host}/usages`, () => json(200, { resource_provider_generation: 1, usages: { VCPU: 8, MEMORY_MB: 16384, DISK_GB: 20 } }));
    cloud.consul.mgmt.node(host, { novaComputeOutput: `OK: nova-compute: process 4242 running\n${repairKeyLine({ current: OWN_KEY })}` });
  }
  const nova = new NovaClient({ nova: cloud.runtime.config.nova, stateDir: '', fetch: openstack.fetch, retry: { retries: 0 } });
  const w: World = {
    cloud,
    openstack,
    now: Date.now(),
    sources: {
      config: cloud.runtime.config,
      configFile: 'fake-cloud.conf',
      configProblems: () => [],
      node: cloud.runtime.node,
      clusters: cloud.runtime.clusters,
      kv: cloud.runtime.kv,
      nova,
      providers: (hosts) => placementLoads(nova, cloud.runtime.config, hosts),
      bmcConfigured: true,
      readPower: (host) => cloud.bmc.readPowerResult(host),
      logger: cloud.logger,
      now: () => w.now,
    },
  };
  return w;
}

const doctor = (w: World, mode: DoctorMode) => runDoctor(w.sources, mode);
const rowOf = (report: Awaited<ReturnType<typeof runDoctor>>, check: string) => report.rows.find((r) => r.check === check)!;
const evacuateProbes = (w: World): Call[] => w.openstack.callsTo(`POST /servers/${SERVER_ID}/action`);

describe('nova-ha doctor over the fakes', () => {
  const newCloud = cloudsDisposedAfterEach();

  it('a healthy cloud: OK on every row, perfdata after " | ", and nothing in Nova changed', async () => {
    const w = world(newCloud());
    const before = structuredClone([...w.cloud.nova.services.values()]);
    const report = await doctor(w, 'cli');
    expect(report.rows.map((r) => [r.check, r.status])).toEqual([['config', 'OK'], ['n-plus-one', 'OK'], ['bmc', 'OK'], ['nova', 'OK'], ['consul', 'OK'], ['repair-keys', 'OK'], ['clocks', 'OK']]);
    expect(report.statusLine).toMatch(/^OK: all 7 readiness checks passed \| n_plus_one_hosts_short=0 n_plus_one_shortfall_vcpu=0 n_plus_one_shortfall_memory_mb=0 n_plus_one_shortfall_disk_gb=0 bmc_failed=0 bmc_hosts=4 repair_key_mismatch=0 clock_skew_ms=0 clock_controllers=1$/);
    expect([...w.cloud.nova.services.values()]).toEqual(before);
    // The dry requests as documented: an empty update of a made-up service at 2.53, force without a host at 2.29.
    const [forceDown] = w.openstack.calls.filter((c) => c.method === 'PUT');
    expect(forceDown!.body).toEqual({});
    expect(forceDown!.headers['openstack-api-version']).toBe('compute 2.53');
    const [evacuate] = evacuateProbes(w);
    expect(evacuate!.body).toEqual({ evacuate: { force: true } });
    expect(evacuate!.headers['openstack-api-version']).toBe('compute 2.29');
    expect(w.cloud.bmc.calls('powerOffVerified')).toEqual([]);
    expect(w.cloud.bmc.calls('powerOn')).toEqual([]);
  });

  it('a BMC refusing its password: CRITICAL, naming the host', async () => {
    const w = world(newCloud());
    w.cloud.bmc.refusing.set('cmp2', 'BMC cmp2-bmc.test: Unable to establish IPMI v2 / RMCP+ session');
    const report = await doctor(w, 'cli');
    expect(report.status).toBe('CRITICAL');
    expect(rowOf(report, 'bmc')).toMatchObject({ status: 'CRITICAL', perfdata: [{ label: 'bmc_failed', value: 1 }, { label: 'bmc_hosts', value: 4 }] });
    expect(report.statusLine).toMatch(/^CRITICAL: bmc: 1 of 4 BMCs did not answer a power status read: cmp2 \(BMC cmp2-bmc\.test: Unable to establish IPMI v2/);
    expect(report.statusLine).toContain(' | ');
  });

  it('only one other host left usable: the most loaded host does not fit, CRITICAL with the shortfall', async () => {
    const w = world(newCloud());
    for (const host of ['cmp3', 'cmp4']) w.cloud.nova.service(host, { status: 'disabled' });
    const report = await doctor(w, 'cli');
    // cmp1's two instances (8 vCPU, 16 GiB) have room on cmp2 alone, which has 8 vCPU and 16 GiB free.
    expect(rowOf(report, 'n-plus-one').status).toBe('OK');
    // cmp2 fuller: cmp1 no longer fits, while every other host still fits on cmp1 and cmp2.
    w.openstack.routes.set('GET placement:/resource_providers/uuid-cmp2/usages', () => json(200, { resource_provider_generation: 1, usages: { VCPU: 12, MEMORY_MB: 24576, DISK_GB: 20 } }));
    const short = rowOf(await doctor(w, 'cli'), 'n-plus-one');
    expect(short.status).toBe('CRITICAL');
    expect(short.found).toMatch(/^cmp1 \(2 instances, 8 vCPU, 16 GiB and 20 GB disk\) does not fit on the other usable hosts: room for 1 of 2 instances; 1 held: needs 4 vCPU and 8 GiB more/);
    expect(perf(short)).toMatchObject({ n_plus_one_hosts_short: 1, n_plus_one_shortfall_vcpu: 4, n_plus_one_shortfall_memory_mb: 8192 });
  });

  it('a configured spare is room when free and up: a cloud its spare carries through reads OK, and CRITICAL once the spare is claimed', async () => {
    const w = world(newCloud({ config: { capacity: { spare_hosts: 'cmp4' } } }));
    w.cloud.nova.service('cmp3', { status: 'disabled' });
    w.cloud.nova.service('cmp4', { status: 'disabled', disabledReason: 'spare' });
    w.openstack.routes.set('GET placement:/resource_providers/uuid-cmp2/usages', () => json(200, { resource_provider_generation: 1, usages: { VCPU: 12, MEMORY_MB: 24576, DISK_GB: 20 } }));
    const lent = rowOf(await doctor(w, 'cli'), 'n-plus-one');
    expect(lent.status).toBe('OK');
    expect(lent.found).toMatch(/^the most loaded host, cmp1 \(2 instances, 8 vCPU, 16 GiB and 20 GB disk\), fits on the other usable hosts with 1 spare host \(cmp4\) lent: room for all 2 instances/);
    await w.cloud.runtime.kv.write(w.cloud.runtime.kv.key(KEYS.spare('cmp4')), { spare: 'cmp4', incident: 'cmp3-x', host: 'cmp3', at: 1, by: 'ctl2', aggregates: [] });
    const claimed = rowOf(await doctor(w, 'cli'), 'n-plus-one');
    expect(claimed.status).toBe('CRITICAL');
    expect(claimed.found).toMatch(/^cmp1 \(2 instances, 8 vCPU, 16 GiB and 20 GB disk\) does not fit on the other usable hosts: room for 1 of 2 instances/);
  });

  it('Placement unreadable: n-plus-one UNKNOWN, the rest still checked', async () => {
    const w = world(newCloud());
    w.openstack.routes.set('GET placement:/resource_providers', () => json(503, { errors: [{ status: 503, title: 'Service Unavailable' }] }));
    const report = await doctor(w, 'cli');
    expect(rowOf(report, 'n-plus-one').status).toBe('UNKNOWN');
    expect(report.status).toBe('UNKNOWN');
    expect(report.statusLine).toMatch(/n_plus_one_hosts_short=U/);
  });

  it('the periodic check never sends the dry evacuate: UNKNOWN until the CLI ran, then its stored answer with its age', async () => {
    const w = world(newCloud());
    const first = await doctor(w, 'check');
    expect(rowOf(first, 'nova')).toMatchObject({ status: 'UNKNOWN' });
    expect(rowOf(first, 'nova').found).toMatch(/evacuate: unknown \(not asked yet: run nova-ha doctor once on a controller\)/);
    expect(evacuateProbes(w)).toEqual([]);
    await doctor(w, 'cli');
    expect(evacuateProbes(w)).toHaveLength(1);
    const stored = w.cloud.consul.mgmt.peek<{ evacuate: DryAnswer }>(w.cloud.key(KEYS.doctorDryAnswers(w.cloud.runtime.node)));
    expect(stored!.evacuate).toMatchObject({ status: 400, at: w.now });
    w.now += 3 * 3_600_000;
    const later = await doctor(w, 'check');
    expect(rowOf(later, 'nova')).toMatchObject({ status: 'OK' });
    expect(rowOf(later, 'nova').found).toMatch(/evacuate: allowed .*HTTP 400 "Can't force to a non-provided destination" \(request req-400-\w+\), 3h ago/);
    expect(evacuateProbes(w)).toHaveLength(1);
  });

  it('the periodic check sends the dry force-down at most once a day', async () => {
    const w = world(newCloud());
    const puts = (): number => w.openstack.calls.filter((c) => c.method === 'PUT').length;
    await doctor(w, 'check');
    await doctor(w, 'check');
    expect(puts()).toBe(1);
    w.now += FORCE_DOWN_ASK_EVERY;
    await doctor(w, 'check');
    expect(puts()).toBe(2);
  });

  it("a role without force-down: CRITICAL, saying Nova's answer", async () => {
    const w = world(newCloud());
    w.openstack.patterns.unshift([/^PUT \/os-services\//, () => json(403, { forbidden: { code: 403, message: "Policy doesn't allow os_compute_api:os-services:update to be performed." } })]);
    const row = rowOf(await doctor(w, 'cli'), 'nova');
    expect(row.status).toBe('CRITICAL');
    expect(row.found).toMatch(/force down: NOT allowed \(refused by the policy\): PUT \/os-services\/[0-9a-f-]{36} \{\} at compute 2\.53 → HTTP 403 "Policy doesn't allow/);
  });

  it('a compute verifying with another repair key: CRITICAL, naming it', async () => {
    const w = world(newCloud());
    w.cloud.consul.mgmt.node('cmp3', { novaComputeOutput: `OK: nova-compute: process 1 running\n${repairKeyLine({ current: repairKeyFingerprint(new Secret('x'.repeat(40))) })}` });
    const row = rowOf(await doctor(w, 'cli'), 'repair-keys');
    expect(row.status).toBe('CRITICAL');
    expect(row.found).toMatch(/^1 of 4 computes would refuse this controller's repair requests \(its key hmac-sha256:[0-9a-f]{16}\): cmp3 accepts hmac-sha256:/);
  });

  it("clocks: each controller's record is compared, the others' too", async () => {
    const w = world(newCloud());
    w.cloud.consul.mgmt.seed(w.cloud.key(KEYS.doctorClock('ctl2')), { node: 'ctl2', offsetMs: 70_000, at: w.now });
    const row = rowOf(await doctor(w, 'check'), 'clocks');
    expect(row.status).toBe('CRITICAL');
    expect(perf(row)).toMatchObject({ clock_controllers: 2 });
  });

  it('a Consul cluster that does not answer: CRITICAL, naming it', async () => {
    const w = world(newCloud());
    w.cloud.consul.tenant.down();
    const row = rowOf(await doctor(w, 'cli'), 'consul');
    expect(row.status).toBe('CRITICAL');
    expect(row.found).toMatch(/^nova-ha's token fails in tenant /);
  });
});

describe('nova-ha doctor, the command', () => {
  it('an invalid config: CRITICAL on config, every other check not checked, exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nova-ha-doctor-'));
    try {
      const file = join(dir, 'nova-ha.conf');
      writeFileSync(file, '[DEFAULT]\nrole = controller\n[nova]\nauth_url = not-a-url\n');
      const result = await novaHa(['--config', file, 'doctor']);
      expect(result.code).toBe(2);
      const [status, , header, ...rows] = result.stdout.trimEnd().split('\n');
      expect(status).toMatch(/^CRITICAL: config: .*nova-ha\.conf: \d+ problems?: /);
      expect(header).toMatch(/^CHECK\s+STATUS\s+WHAT WAS FOUND$/);
      expect(rows.map((r) => r.split(/\s+/).slice(0, 2).join(' '))).toEqual(['config CRITICAL', 'n-plus-one UNKNOWN', 'bmc UNKNOWN', 'nova UNKNOWN', 'consul UNKNOWN', 'repair-keys UNKNOWN', 'clocks UNKNOWN']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
