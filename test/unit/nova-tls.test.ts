/**
 * [nova] cafile against a real HTTPS server on 127.0.0.1 with a throwaway self-signed
 * certificate (made with openssl, skipped where there is none).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NovaClient, NovaConfigError, NovaTransportError } from '../../lib/systems/nova/index.js';
import { novaSection } from '../support/fake-openstack.js';

const haveOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!haveOpenssl)('CA bundle', () => {
  let dir: string;
  let server: Server;
  let base: string;
  let requests = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nova-ha-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (request, response) => {
      requests++;
      const now = Date.now();
      if (request.url === '/v3/auth/tokens') {
        response.writeHead(201, { 'Content-Type': 'application/json', 'X-Subject-Token': 'tls-test-token-abcdef' });
        response.end(JSON.stringify({ token: { issued_at: new Date(now).toISOString(), expires_at: new Date(now + 3_600_000).toISOString(), user: { id: 'u' }, project: { id: 'p' }, catalog: [{ type: 'compute', endpoints: [{ interface: 'internal', region_id: 'RegionOne', url: `${base}/v2.1` }] }] } }));
      } else {
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ version: { id: 'v2.1', version: '2.93', min_version: '2.1' } }));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('trusts the configured bundle', async () => {
    const client = new NovaClient({ nova: novaSection({ auth_url: `${base}/v3`, cafile: join(dir, 'cert.pem') }), stateDir: '' });
    expect(await client.microversion()).toBe('2.93');
  });

  it('fails at once, without retries, naming cafile, when the certificate is not trusted', async () => {
    requests = 0;
    const client = new NovaClient({ nova: novaSection({ auth_url: `${base}/v3` }), stateDir: '', retry: { retries: 3, minTimeoutMs: 1, maxTimeoutMs: 5 } });
    const error = await client.microversion().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NovaTransportError);
    expect((error as Error).message).toMatch(/TLS failed \(DEPTH_ZERO_SELF_SIGNED_CERT: .*\); set \[nova\] cafile/);
    expect(requests).toBe(0);
  });

  it('refuses a cafile that is missing or not PEM', async () => {
    await expect(new NovaClient({ nova: novaSection({ auth_url: `${base}/v3`, cafile: join(dir, 'nope.pem') }), stateDir: '' }).microversion()).rejects.toThrow(NovaConfigError);
    await expect(new NovaClient({ nova: novaSection({ auth_url: `${base}/v3`, cafile: join(dir, 'key.pem') }), stateDir: '' }).microversion()).rejects.toThrow(/holds no PEM certificate/);
  });
});
