/**
 * The handlers' input handling, through their process interface (arguments, stdin, exit code,
 * log): bad input gets one line naming what is wrong, a non-zero exit, and no action (invariant
 * 9). Each handler's Consul agents are a loopback HTTP server that records every request, so
 * "no action" is seen: not a single request.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { signRequest } from '../../lib/recovery/repair-request.js';
import { Secret } from '../../lib/shared/secret.js';

// Each test starts handlers from source (tsx), a few seconds each on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

const KEY = 'k'.repeat(40);
const dir = mkdtempSync(join(tmpdir(), 'nova-ha-handlers-'));
const requests: string[] = [];
let consul: Server;
let address = '';

beforeAll(async () => {
  consul = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(500, { 'Content-Type': 'text/plain' });
    res.end('No cluster leader');
  });
  await new Promise<void>((resolve) => consul.listen(0, '127.0.0.1', resolve));
  address = `http://127.0.0.1:${(consul.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => consul.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => void (requests.length = 0));

function config(role: 'controller' | 'compute', extra = ''): string {
  const name = `${role}-${Math.random().toString(36).slice(2)}`;
  const file = join(dir, `${name}.conf`);
  const common = `[DEFAULT]\nrole = ${role}\nnode_name = ${role === 'controller' ? 'ctl1' : 'cmp1'}\nstate_dir = ${join(dir, 'state', name)}\nlog_file = ${join(dir, 'log', `${name}.log`)}\n[consul]\nmgmt_address = ${address}\nstorage_address = ${address}\ntenant_address = ${address}\ntimeout = 2s\n[remediation]\nhmac_key = ${KEY}\n`;
  const controller = '[nova]\nauth_url = http://127.0.0.1:9/v3\nusername = nova-ha\npassword = secret-password-123\n[notifications]\nsmtp_host = 127.0.0.1\nsmtp_port = 9\nto = ops@example.com\n';
  writeFileSync(file, `${common}${role === 'controller' ? controller : ''}${extra}`, { mode: 0o600 });
  return file;
}

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function handler(name: string, args: readonly string[], stdin = ''): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', `handlers/${name}.ts`, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
    child.stdin?.end(stdin);
  });
}

function logOf(file: string): Record<string, unknown>[] {
  const log = readFileSync(file, 'utf8').replace(/^[\s\S]*?\nlog_file = (.*)\n[\s\S]*$/, '$1');
  return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) : [];
}

describe('watch-checks', () => {
  it('a --network that is not one of the three: exit 2, one line naming it, no Consul request', async () => {
    const file = config('controller');
    const ran = await handler('watch-checks', ['--config', file, '--network', 'storag'], '[]');
    expect(ran.code).toBe(2);
    expect(logOf(file)).toEqual([expect.objectContaining({ event: 'bad-arguments', error: '--network must be one of mgmt, storage, tenant, found storag' })]);
    expect(requests).toEqual([]);
  });

  it.each([
    ['not JSON', '{"Node": ', /^stdin is not JSON \(/],
    ['not a list', '{"Node": "cmp1"}', /^stdin is not a list of checks \(found object\)$/],
    ['an item without Status', '[{"Node": "cmp1", "CheckID": "serfHealth"}]', /^stdin item 0 is not a health check \(it needs Node, CheckID and Status\)$/],
    ['null', 'null', /^stdin is not a list of checks \(found null\)$/],
  ])('stdin %s: exit 2, the reason logged, no Consul request', async (_what, stdin, reason) => {
    const file = config('controller');
    const ran = await handler('watch-checks', ['--config', file, '--network', 'mgmt'], stdin);
    expect(ran.code).toBe(2);
    const [line] = logOf(file).filter((l) => l['event'] === 'bad-watch-input');
    expect(line).toMatchObject({ network: 'mgmt', error: expect.stringMatching(reason) });
    expect(requests).toEqual([]);
  });

  it('an option it does not know: exit 2 with one line', async () => {
    const ran = await handler('watch-checks', ['--config', config('controller'), '--network', 'mgmt', '--netwrok', 'x'], '[]');
    expect(ran.code).toBe(2);
    expect(ran.stderr.trim().split('\n')).toHaveLength(1);
    expect(ran.stderr).toMatch(/^nova-ha watch-checks: Unknown option '--netwrok'/);
    expect(requests).toEqual([]);
  });
});

describe('remediate (compute nodes)', () => {
  it('stdin that is not a list of events: exit 2, nothing run', async () => {
    const marker = join(dir, 'ran-1');
    const file = config('compute', `restart_storage_network = /usr/bin/touch ${marker}\n`);
    const ran = await handler('remediate', ['--config', file], '{"ID": 1}');
    expect(ran.code).toBe(2);
    expect(logOf(file)).toEqual([expect.objectContaining({ event: 'bad-watch-input', error: 'stdin is not a list of events (found object)' })]);
    expect(existsSync(marker)).toBe(false);
  });

  it('a forged request, or one for another node, is refused and logged; only a good one runs', async () => {
    const marker = join(dir, 'ran-2');
    // The config's [remediation] section, with the storage repair allowed and the nova-compute one not.
    const file = config('compute', `restart_storage_network = /usr/bin/touch ${marker}\nrestart_nova_compute =\n`);
    const event = (id: string, payload: string, ltime: number) => ({ ID: id, Name: 'nova-ha-remediate', Payload: Buffer.from(payload).toString('base64'), LTime: ltime });
    const forged = signRequest({ node: 'cmp1', action: 'restart-storage-network', incident: 'cmp1-x' }, new Secret('f'.repeat(40)));
    const elsewhere = signRequest({ node: 'cmp2', action: 'restart-storage-network', incident: 'cmp2-x' }, new Secret(KEY));
    const refused = await handler('remediate', ['--config', file], JSON.stringify([event('e1', forged, 1), event('e2', elsewhere, 2)]));
    expect(refused.code).toBe(0);
    expect(logOf(file).filter((l) => l['event'] === 'remediation-refused').map((l) => l['reason'])).toEqual(['bad signature (forged, or signed with another hmac_key)', 'addressed to cmp2, not to this node (cmp1)']);
    expect(existsSync(marker)).toBe(false);
    // Not configured as allowed here: refused even when signed correctly.
    const nova = signRequest({ node: 'cmp1', action: 'restart-nova-compute', incident: 'cmp1-x' }, new Secret(KEY));
    await handler('remediate', ['--config', file], JSON.stringify([event('e3', nova, 3)]));
    expect(logOf(file).filter((l) => l['event'] === 'remediation-refused').at(-1)?.['reason']).toMatch(/not allowed here/);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('worker and the checks', () => {
  it('a worker without --host: exits non-zero and says so', async () => {
    const ran = await handler('worker', ['--config', config('controller')]);
    expect(ran.code).toBe(3);
    expect(ran.stderr.trim()).toBe('nova-ha worker: --host is required');
    expect(requests).toEqual([]);
  });

  it('a config with a bad value: a handler exits 2 naming the section and key; a check exits 1 (unknown, never critical)', async () => {
    const bad = config('controller', '[policy]\nconfirmation_window = soon\n');
    const watch = await handler('watch-checks', ['--config', bad, '--network', 'mgmt'], '[]');
    expect(watch.code).toBe(2);
    expect(watch.stderr).toMatch(/^nova-ha watch-checks: .*\[policy\] confirmation_window: /);
    const check = await handler('evaluate', ['--config', bad]);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/^UNKNOWN: nova-ha evaluate: .*\[policy\] confirmation_window/);
    expect(requests).toEqual([]);
  });

  it('a secret in a bad config never reaches the output', async () => {
    const bad = config('controller', '[nova]\nauth_url = not a url\n');
    const ran = await handler('evaluate', ['--config', bad]);
    expect(ran.code).toBe(1);
    expect(`${ran.stdout}${ran.stderr}`).not.toContain('secret-password-123');
  });
});
