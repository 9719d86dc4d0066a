import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/shared/log.js';
import { NovaClient, NovaHttpError, NovaTransportError } from '../../lib/systems/nova/index.js';
import { reportedAt } from '../../lib/systems/nova/types.js';
import { FakeOpenStack, PASSWORD, json, novaSection } from '../support/fake-openstack.js';

const FAST = { retries: 3, minTimeoutMs: 1, maxTimeoutMs: 5 };
const SERVICE = { id: 'svc-1', binary: 'nova-compute', host: 'cmp2', zone: 'nova', status: 'enabled', state: 'down', forced_down: false, disabled_reason: null, updated_at: '2026-11-25T10:00:00.000000' };
const server = (id: string, host: string, taskState: string | null = null) => ({ id, name: id, status: 'ACTIVE', 'OS-EXT-STS:task_state': taskState, 'OS-EXT-STS:vm_state': 'active', 'OS-EXT-SRV-ATTR:host': host, tenant_id: 'p1', metadata: {}, locked: false });

let stateDir: string;
let cloud: FakeOpenStack;
let logLines: string[];

function client(options: { now?: () => number; extra?: Record<string, string> } = {}): NovaClient {
  const logger = createLogger({ component: 'test', level: 'debug', stream: { write: (line: string) => logLines.push(line) } });
  return new NovaClient({ nova: novaSection(options.extra), stateDir, logger, fetch: cloud.fetch, retry: FAST, ...(options.now ? { now: options.now } : {}) });
}

beforeEach(() => {
  stateDir = join(mkdtempSync(join(tmpdir(), 'nova-ha-test-')), 'state');
  cloud = new FakeOpenStack();
  logLines = [];
  cloud.routes.set('GET /os-services', () => json(200, { services: [SERVICE] }));
});

afterEach(() => {
  rmSync(join(stateDir, '..'), { recursive: true, force: true });
  // No log line may carry a password or a token, whatever the test did.
  const logs = logLines.join('');
  expect(logs).not.toContain(PASSWORD);
  for (const token of cloud.tokens) expect(logs).not.toContain(token);
});

describe('Keystone token', () => {
  it('is cached in a 0600 file that a second process reuses', async () => {
    await client().listComputeServices();
    await client().listComputeServices();
    expect(cloud.authentications).toBe(1);
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    const [file] = readdirSync(stateDir);
    // Per user too, so root's CLI and the agents' user's handlers never replace each other's.
    expect(file).toMatch(new RegExp(`^keystone-token-[0-9a-f]{16}-u${process.getuid!()}\\.json$`));
    expect(statSync(join(stateDir, file!)).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(stateDir, file!), 'utf8')).not.toContain(PASSWORD);
  });

  it('sends the token, the negotiated microversion and the password only to Keystone', async () => {
    await client().listComputeServices();
    const [auth, version, list] = cloud.calls;
    expect(JSON.stringify(auth!.body)).toContain(PASSWORD);
    expect(auth!.body).toMatchObject({ auth: { identity: { methods: ['password'] }, scope: { project: { name: 'admin', domain: { name: 'Default' } } } } });
    expect(version!.headers['openstack-api-version']).toBeUndefined();
    expect(list!.headers['x-auth-token']).toBe(cloud.tokens[0]);
    expect(list!.headers['openstack-api-version']).toBe('compute 2.93');
    expect(JSON.stringify(list)).not.toContain(PASSWORD);
  });

  it('authenticates with an application credential, without a scope', async () => {
    await client({ extra: { auth_type: 'v3applicationcredential', application_credential_id: 'ac-1', application_credential_secret: 'ac-secret-5678' } }).listComputeServices();
    expect(cloud.calls[0]!.body).toEqual({ auth: { identity: { methods: ['application_credential'], application_credential: { id: 'ac-1', secret: 'ac-secret-5678' } } } });
  });

  it('is refreshed when less than 5 minutes remain', async () => {
    const start = Date.now();
    await client({ now: () => start }).listComputeServices();
    await client({ now: () => start + 54 * 60_000 }).listComputeServices();
    expect(cloud.authentications).toBe(1);
    await client({ now: () => start + 56 * 60_000 }).listComputeServices();
    expect(cloud.authentications).toBe(2);
  });

  it('is replaced once after a 401, and a second 401 is an error', async () => {
    const nova = client();
    await nova.listComputeServices();
    cloud.revoked.add(cloud.tokens[0]!);
    await nova.listComputeServices();
    expect(cloud.authentications).toBe(2);
    // The next process finds the new token in the file, not the revoked one.
    await client().listComputeServices();
    expect(cloud.authentications).toBe(2);

    cloud.routes.set('GET /os-services', () => json(401, { error: { code: 401, message: 'The request you have made requires authentication.' } }));
    await expect(nova.listComputeServices()).rejects.toThrow(/HTTP 401 Unauthorized/);
    expect(cloud.authentications).toBe(3);
  });

  it('ignores a cache file others can read', async () => {
    await client().listComputeServices();
    const file = join(stateDir, readdirSync(stateDir)[0]!);
    chmodSync(file, 0o644);
    await client().listComputeServices();
    expect(cloud.authentications).toBe(2);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(logLines.join('')).toContain('token-cache-unsafe');
  });

  it('survives a corrupt cache file', async () => {
    await client().listComputeServices();
    writeFileSync(join(stateDir, readdirSync(stateDir)[0]!), '{not json', { mode: 0o600 });
    await client().listComputeServices();
    expect(cloud.authentications).toBe(2);
  });
});

describe('microversion', () => {
  it('uses the newest both know and refuses a cloud below the floor', async () => {
    cloud.maxMicroversion = '2.60';
    expect(await client().microversion()).toBe('2.60');
    cloud.maxMicroversion = '2.40';
    // Nova changed under a cached token: its 406 makes the client read the versions again.
    await expect(client().listComputeServices()).rejects.toThrow(/below \[nova\] microversion_floor = 2\.53/);
    await expect(client().listComputeServices()).rejects.toThrow(/below \[nova\] microversion_floor = 2\.53/);
  });

  it('is read once per token: a later process with the cached token asks Nova for nothing first', async () => {
    await client().listComputeServices();
    await client().listComputeServices();
    expect(cloud.calls.filter((c) => c.url.pathname === '/v2.1').length).toBe(1);
    expect(cloud.callsTo('GET /os-services').map((c) => c.headers['openstack-api-version'])).toEqual(['compute 2.93', 'compute 2.93']);
  });

  it('is read again when Nova refuses the remembered one (406), and the refused call is not resent under another', async () => {
    await client().listComputeServices();
    cloud.maxMicroversion = '2.87';
    const later = client();
    await expect(later.listComputeServices()).rejects.toThrow(/refused compute microversion 2\.93 .*now speaks 2\.87\); nothing was done: run it again/);
    expect(await later.listComputeServices()).toHaveLength(1);
    expect(cloud.callsTo('GET /os-services').map((c) => c.headers['openstack-api-version'])).toEqual(['compute 2.93', 'compute 2.93', 'compute 2.87']);
    // ...and remembered with the token for the next process.
    await client().listComputeServices();
    expect(cloud.callsTo('GET /os-services').at(-1)!.headers['openstack-api-version']).toBe('compute 2.87');
  });
});

describe('retries', () => {
  it('retries a 5xx GET and a refused connection, not a 400', async () => {
    cloud.routes.set('GET /os-services', (_call, n) => (n < 3 ? json(503, { computeFault: { message: 'try later' } }) : json(200, { services: [SERVICE] })));
    expect(await client().listComputeServices()).toHaveLength(1);
    expect(cloud.callsTo('GET /os-services')).toHaveLength(3);

    cloud.routes.set('PUT /os-services/svc-1', () => json(400, { badRequest: { message: 'Invalid input' } }));
    await expect(client().forceDown('svc-1', true)).rejects.toThrow(/HTTP 400 Bad Request: Invalid input/);
    expect(cloud.callsTo('PUT /os-services/svc-1')).toHaveLength(1);
  });

  it('gives up after the retries with a one-line transport error', async () => {
    const nova = new NovaClient({
      nova: novaSection(),
      stateDir,
      retry: FAST,
      fetch: async () => {
        throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5000'), { code: 'ECONNREFUSED' }) });
      },
    });
    const error = await nova.listComputeServices().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NovaTransportError);
    expect((error as Error).message).toMatch(/^Keystone POST http:\/\/keystone\.test:5000\/v3\/auth\/tokens: ECONNREFUSED \(connect ECONNREFUSED 10\.0\.0\.1:5000\); check that Keystone is reachable/);
  });
});

describe('servers on a host', () => {
  it('follows the next links to the last page, keeping the filters', async () => {
    cloud.routes.set('GET /servers/detail', (call) => {
      const marker = call.url.searchParams.get('marker');
      if (!marker) return json(200, { servers: [server('a', 'cmp2'), server('b', 'cmp2')], servers_links: [{ rel: 'next', href: 'http://elsewhere:8774/v2.1/servers/detail?limit=2&marker=b' }] });
      return json(200, { servers: [server('c', 'cmp2')] });
    });
    const servers = await client().listServersOnHost('cmp2', 2);
    expect(servers.map((s) => s.id)).toEqual(['a', 'b', 'c']);
    const pages = cloud.callsTo('GET /servers/detail');
    expect(pages.map((c) => c.url.origin)).toEqual(['http://nova.test:8774', 'http://nova.test:8774']);
    expect(Object.fromEntries(pages[1]!.url.searchParams)).toEqual({ all_tenants: '1', host: 'cmp2', limit: '2', marker: 'b' });
  });

  it('refuses an empty host (that would list the whole cloud) and a reply without the admin-only host field', async () => {
    await expect(client().listServersOnHost('')).rejects.toThrow(/empty host name/);
    const { 'OS-EXT-SRV-ATTR:host': _, ...withoutHost } = server('a', 'cmp2');
    cloud.routes.set('GET /servers/detail', () => json(200, { servers: [withoutHost] }));
    await expect(client().listServersOnHost('cmp2')).rejects.toThrow(/servers\[0\]\.OS-EXT-SRV-ATTR:host: expected a value \(Nova shows it to admins only/);
  });

  it('marks servers of an unreachable cell as partial', async () => {
    cloud.routes.set('GET /servers/detail', () => json(200, { servers: [{ id: 'x', status: 'UNKNOWN', tenant_id: 'p1', links: [] }] }));
    expect((await client().listServersOnHost('cmp2'))[0]).toMatchObject({ id: 'x', partial: true, host: null });
  });
});

describe('servers changed since', () => {
  it("asks for every project's servers changed since a time of Nova's clock, deleted ones included, with their faults", async () => {
    const failed = { ...server('b', 'cmp2'), status: 'ERROR', fault: { code: 500, created: '2026-11-25T10:00:01Z', message: 'No valid host was found. There are not enough hosts available.', details: 'Traceback (most recent call last): ...' } };
    cloud.routes.set('GET /servers/detail', () => json(200, { servers: [server('a', 'cmp3'), failed, { ...server('c', 'cmp2'), status: 'DELETED' }] }));
    const servers = await client().listServersChangedSince(Date.parse('2026-11-25T10:00:00Z'));
    expect(Object.fromEntries(cloud.callsTo('GET /servers/detail')[0]!.url.searchParams)).toEqual({ all_tenants: '1', 'changes-since': '2026-11-25T10:00:00.000Z' });
    expect(servers.map((x) => [x.id, x.status, x.host, x.fault])).toEqual([
      ['a', 'ACTIVE', 'cmp3', null],
      // Only the message and code: the details are a traceback for admins, not for an email.
      ['b', 'ERROR', 'cmp2', { message: 'No valid host was found. There are not enough hosts available.', code: 500 }],
      ['c', 'DELETED', 'cmp2', null],
    ]);
  });

  it('leaves out a server it cannot read rather than failing the whole list', async () => {
    const { 'OS-EXT-SRV-ATTR:host': _, ...odd } = server('x', 'cmp2');
    cloud.routes.set('GET /servers/detail', () => json(200, { servers: [server('a', 'cmp3'), odd] }));
    expect((await client().listServersChangedSince(0)).map((s) => s.id)).toEqual(['a']);
    expect(logLines.join('')).toContain('nova-server-unreadable');
  });
});

describe('evacuate', () => {
  const action = 'POST /servers/s1/action';

  it("returns when Nova accepted the call by Nova's own clock (its Date header)", async () => {
    cloud.routes.set(action, () => json(202, undefined, { date: 'Wed, 25 Nov 2026 10:00:07 GMT' }));
    expect((await client().evacuate('s1', { fromHost: 'cmp2' })).acceptedAt).toBe(Date.parse('2026-11-25T10:00:07Z'));
  });

  it('sends {"evacuate": {}} and returns the request ID', async () => {
    cloud.routes.set(action, () => json(202, undefined, { 'x-openstack-request-id': 'req-evac-1' }));
    const result = await client().evacuate('s1', { fromHost: 'cmp2' });
    expect(result).toEqual({ requestId: 'req-evac-1', attempts: 1, confirmedBy: 'response' });
    expect(cloud.callsTo(action)[0]!.body).toEqual({ evacuate: {} });
  });

  it('after an ambiguous 500, does not send again when the server is already being rebuilt', async () => {
    cloud.routes.set(action, () => json(500, { computeFault: { message: 'Unexpected API Error.' } }));
    cloud.routes.set('GET /servers/s1', () => json(200, { server: server('s1', 'cmp2', 'rebuilding') }));
    const result = await client().evacuate('s1', { fromHost: 'cmp2' });
    expect(result).toMatchObject({ confirmedBy: 'server-state', attempts: 1, evidence: 'its task_state is rebuilding' });
    expect(cloud.callsTo(action)).toHaveLength(1);
  });

  it('after an ambiguous 500, sends again when the server is still idle on the source', async () => {
    cloud.routes.set(action, (_call, n) => (n === 1 ? json(500, { computeFault: { message: 'Unexpected API Error.' } }) : json(202, undefined)));
    cloud.routes.set('GET /servers/s1', () => json(200, { server: server('s1', 'cmp2') }));
    expect(await client().evacuate('s1', { fromHost: 'cmp2' })).toMatchObject({ confirmedBy: 'response', attempts: 2 });
  });

  it('retries while another task runs, and stops when the server has left the host', async () => {
    const busy = () => json(409, { conflictingRequest: { message: 'Cannot \'evacuate\' instance s1 while it is in task_state powering-off' } });
    let host = 'cmp2';
    cloud.routes.set(action, (_call, n) => (n < 3 ? busy() : json(202, undefined)));
    cloud.routes.set('GET /servers/s1', () => json(200, { server: server('s1', host, 'powering-off') }));
    expect(await client().evacuate('s1', { fromHost: 'cmp2' })).toMatchObject({ confirmedBy: 'response', attempts: 3 });

    host = 'cmp3';
    cloud.routes.set(action, () => busy());
    expect(await client().evacuate('s1', { fromHost: 'cmp2' })).toMatchObject({ confirmedBy: 'server-state', evidence: 'it is on cmp3 now, not cmp2' });
  });

  it('does not retry "still in use" (the service is not down yet)', async () => {
    cloud.routes.set(action, () => json(400, { badRequest: { message: 'Compute service of cmp2 is still in use.' } }));
    const error = await client().evacuate('s1', { fromHost: 'cmp2' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NovaHttpError);
    expect((error as NovaHttpError).status).toBe(400);
    expect((error as Error).message).toMatch(/^Nova POST \/v2\.1\/servers\/s1\/action: HTTP 400 Bad Request: Compute service of cmp2 is still in use\. \(request req-400-/);
    expect(cloud.callsTo(action)).toHaveLength(1);
  });
});

describe('services and migrations', () => {
  it('forces down by service ID and parses the answer', async () => {
    cloud.routes.set('PUT /os-services/svc-1', (call) => json(200, { service: { ...SERVICE, forced_down: (call.body as { forced_down: boolean }).forced_down } }));
    expect(await client().forceDown('svc-1', true)).toMatchObject({ id: 'svc-1', host: 'cmp2', forcedDown: true, state: 'down' });
    expect(cloud.callsTo('PUT /os-services/svc-1')[0]!.body).toEqual({ forced_down: true });
  });

  it('finds exactly one service per host', async () => {
    cloud.routes.set('GET /os-services', () => json(200, { services: [] }));
    await expect(client().getComputeService('cmp9')).rejects.toThrow(/lists 0 nova-compute services on host cmp9/);
  });

  it('lists migrations with filters and pagination', async () => {
    const migration = (id: number) => ({ id, uuid: `m${id}`, instance_uuid: 's1', migration_type: 'evacuation', status: 'done', source_compute: 'cmp2', dest_compute: 'cmp3', created_at: 'x', updated_at: null });
    cloud.routes.set('GET /os-migrations', (call) =>
      call.url.searchParams.get('marker') ? json(200, { migrations: [migration(2)] }) : json(200, { migrations: [migration(1)], migrations_links: [{ rel: 'next', href: `${call.url.href}&marker=m1` }] }),
    );
    const migrations = await client().listMigrations({ type: 'evacuation', sourceCompute: 'cmp2' });
    expect(migrations.map((m) => [m.id, m.status, m.destCompute])).toEqual([['1', 'done', 'cmp3'], ['2', 'done', 'cmp3']]);
    expect(cloud.callsTo('GET /os-migrations')[0]!.url.search).toBe('?migration_type=evacuation&source_compute=cmp2');
  });

  it('filters migrations by project only where Nova can (2.80+)', async () => {
    cloud.routes.set('GET /os-migrations', () => json(200, { migrations: [] }));
    await client().listMigrations({ projectId: 'p1' });
    expect(cloud.callsTo('GET /os-migrations')[0]!.url.searchParams.get('project_id')).toBe('p1');
    cloud.maxMicroversion = '2.79';
    rmSync(stateDir, { recursive: true, force: true }); // a new token: the versions are read again
    await expect(client().listMigrations({ projectId: 'p1' })).rejects.toThrow(/needs compute microversion 2\.80, the cloud speaks 2\.79/);
  });

  it('names the call and the field when a reply is malformed', async () => {
    cloud.routes.set('GET /os-services', () => json(200, { services: [{ ...SERVICE, state: 'sideways' }] }));
    await expect(client().listComputeServices()).rejects.toThrow(/^Nova GET \/os-services \(request req-200-\w+\): services\[0\]\.state: expected one of up, down, found "sideways"/);
  });
});

describe("a service's last report", () => {
  it("reads Nova's zone-less updated_at as UTC, whatever the machine's time zone", () => {
    expect(reportedAt({ updatedAt: '2026-11-25T10:00:00.000000' })).toBe(Date.parse('2026-11-25T10:00:00Z'));
    expect(reportedAt({ updatedAt: '2026-11-25T10:00:00+01:00' })).toBe(Date.parse('2026-11-25T09:00:00Z'));
    expect(reportedAt({ updatedAt: null })).toBeUndefined();
    expect(reportedAt({ updatedAt: 'yesterday' })).toBeUndefined();
  });
});

describe('host aggregates', () => {
  it('lists aggregates with their hosts; add_host and remove_host say whether they changed anything', async () => {
    cloud.routes.set('GET /os-aggregates', () => json(200, { aggregates: [{ id: 1, name: 'ssd', availability_zone: null, hosts: ['cmp1', 'cmp2'], metadata: { ssd: 'true' } }, { id: 2, name: 'empty', availability_zone: 'az1', hosts: [], metadata: {} }] }));
    cloud.routes.set('POST /os-aggregates/1/action', (call) => {
      const body = call.body as { add_host?: { host: string }; remove_host?: { host: string } };
      if (body.add_host?.host === 'cmp1') return json(409, { conflictingRequest: { code: 409, message: 'Aggregate 1 already has host cmp1.' } });
      if (body.remove_host?.host === 'cmp9') return json(404, { itemNotFound: { code: 404, message: 'Cannot remove host cmp9 in aggregate 1' } });
      return json(200, { aggregate: { id: 1, name: 'ssd', hosts: [] } });
    });
    const nova = client();
    expect(await nova.listAggregates()).toEqual([
      { id: '1', name: 'ssd', hosts: ['cmp1', 'cmp2'], metadata: { ssd: 'true' } },
      { id: '2', name: 'empty', hosts: [], metadata: {} },
    ]);
    expect(await nova.addHostToAggregate('1', 'cmp4')).toBe(true);
    expect(await nova.addHostToAggregate('1', 'cmp1')).toBe(false);
    expect(await nova.removeHostFromAggregate('1', 'cmp4')).toBe(true);
    expect(await nova.removeHostFromAggregate('1', 'cmp9')).toBe(false);
    expect(cloud.callsTo('POST /os-aggregates/1/action').map((c) => c.body)).toEqual([{ add_host: { host: 'cmp4' } }, { add_host: { host: 'cmp1' } }, { remove_host: { host: 'cmp4' } }, { remove_host: { host: 'cmp9' } }]);
  });

  it('any other refusal is an error naming the call', async () => {
    cloud.routes.set('POST /os-aggregates/7/action', () => json(404, { itemNotFound: { code: 404, message: 'Compute host cmp4 could not be found.' } }));
    await expect(client().addHostToAggregate('7', 'cmp4')).rejects.toThrow(/Nova POST \/v2\.1\/os-aggregates\/7\/action: HTTP 404 Not Found: Compute host cmp4 could not be found\./);
  });
});
