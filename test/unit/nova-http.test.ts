/**
 * The Nova client's HTTP exchange over node:http, against a real HTTP server on 127.0.0.1 (the
 * unit tests of the client itself use a simulated Keystone and Nova behind a fetch function).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NovaClient, NovaTransportError } from '../../lib/systems/nova/index.js';
import { novaSection } from '../support/fake-openstack.js';

type Route = (request: IncomingMessage, body: string, response: ServerResponse) => void;

describe('the Nova client over node:http', () => {
  let server: Server;
  let base: string;
  let route: Route;
  const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];

  const keystoneAndVersion: Route = (request, _body, response) => {
    const now = Date.now();
    if (request.url === '/v3/auth/tokens') {
      response.writeHead(201, { 'Content-Type': 'application/json', 'X-Subject-Token': 'http-test-token-abcdef' });
      response.end(JSON.stringify({ token: { issued_at: new Date(now).toISOString(), expires_at: new Date(now + 3_600_000).toISOString(), user: { id: 'u' }, project: { id: 'p' }, catalog: [{ type: 'compute', endpoints: [{ interface: 'internal', region_id: 'RegionOne', url: `${base}/v2.1` }] }] } }));
    } else {
      response.writeHead(200, { 'Content-Type': 'application/json', 'X-OpenStack-Request-Id': 'req-version' });
      response.end(JSON.stringify({ version: { id: 'v2.1', version: '2.93', min_version: '2.1' } }));
    }
  };

  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      request.on('end', () => {
        seen.push({ method: request.method!, url: request.url!, headers: request.headers, body });
        route(request, body, response);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const client = (extra: Record<string, string> = {}): NovaClient => new NovaClient({ nova: novaSection({ auth_url: `${base}/v3`, ...extra }), stateDir: '', retry: { retries: 0, minTimeoutMs: 1, maxTimeoutMs: 1 } });

  it('sends JSON with its length, reads the token header and the JSON answer', async () => {
    route = keystoneAndVersion;
    seen.length = 0;
    expect(await client().microversion()).toBe('2.93');
    const auth = seen.find((s) => s.url === '/v3/auth/tokens')!;
    expect(auth.method).toBe('POST');
    expect(auth.headers['content-type']).toBe('application/json');
    expect(Number(auth.headers['content-length'])).toBe(Buffer.byteLength(auth.body));
    expect(JSON.parse(auth.body)).toMatchObject({ auth: { identity: { methods: ['password'] } } });
    const version = seen.find((s) => s.url === '/v2.1')!;
    expect(version.headers['x-auth-token']).toBe('http-test-token-abcdef');
    expect(version.headers['accept']).toBe('application/json');
  });

  it('an error status is an answer with Nova\'s message and request ID, not a transport failure', async () => {
    route = (request, body, response) => {
      if (request.url === '/v2.1') {
        response.writeHead(503, { 'Content-Type': 'application/json', 'X-Compute-Request-Id': 'req-503' });
        response.end(JSON.stringify({ computeFault: { code: 503, message: 'nova-api is restarting' } }));
      } else keystoneAndVersion(request, body, response);
    };
    await expect(client().microversion()).rejects.toThrow(/503.*nova-api is restarting.*req-503|req-503.*nova-api is restarting/);
  });

  it('a redirect is not followed', async () => {
    route = (request, body, response) => {
      if (request.url === '/v3/auth/tokens') {
        response.writeHead(302, { Location: 'http://192.0.2.1/v3/auth/tokens' });
        response.end();
      } else keystoneAndVersion(request, body, response);
    };
    seen.length = 0;
    await expect(client().microversion()).rejects.toThrow(/302/);
    expect(seen.map((s) => s.url)).toEqual(['/v3/auth/tokens']);
  });

  it('no answer within [nova] timeout: a timeout that names the service and the setting', async () => {
    route = () => undefined;
    const error = await client({ timeout: '1s' }).microversion().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NovaTransportError);
    expect((error as Error).message).toMatch(/^Keystone POST http:\/\/127\.0\.0\.1:\d+\/v3\/auth\/tokens: no answer within 1000 ms; check that Keystone is running, or raise \[nova\] timeout$/);
    expect((error as NovaTransportError).maybeSent).toBe(true);
  });

  it('nothing listening: refused, named, and known not to have been sent', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await new NovaClient({ nova: novaSection({ auth_url: `http://127.0.0.1:${port}/v3` }), stateDir: '', retry: { retries: 0, minTimeoutMs: 1, maxTimeoutMs: 1 } }).microversion().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NovaTransportError);
    expect((error as Error).message).toMatch(/ECONNREFUSED .*check that Keystone is reachable from this node/);
    expect([(error as NovaTransportError).code, (error as NovaTransportError).maybeSent]).toEqual(['ECONNREFUSED', false]);
  });
});
