/**
 * A simulation of Keystone and Nova's compute API on loopback, just enough for nova-ha's Nova
 * poller: a token with a catalog, the version document, and the service list of N compute hosts
 * (all up and enabled, each reporting now) plus a scheduler and a conductor. It also takes the
 * notifications nova-ha posts to its webhook (POST /hook), and counts them.
 */
import { createServer, type Server } from 'node:http';

export class NovaSimulation {
  private server: Server | undefined;
  port = 0;
  /** GET /os-services calls answered. */
  serviceLists = 0;
  notifications = 0;

  constructor(private readonly hosts: () => readonly string[]) {}

  get webhookUrl(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  get authUrl(): string {
    return `http://127.0.0.1:${this.port}/v3`;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
        res.end(text);
      };
      req.resume();
      const path = (req.url ?? '').split('?')[0];
      if (req.method === 'POST' && path === '/hook') {
        this.notifications++;
        res.writeHead(204);
        return res.end();
      }
      if (req.method === 'POST' && path === '/v3/auth/tokens') {
        const now = Date.now();
        return send(201, {
          token: {
            issued_at: new Date(now).toISOString(),
            expires_at: new Date(now + 3_600_000).toISOString(),
            user: { id: 'u1', name: 'nova-ha' },
            project: { id: 'p1', name: 'admin' },
            catalog: [{ type: 'compute', name: 'nova', endpoints: [{ interface: 'internal', region_id: 'RegionOne', url: `http://127.0.0.1:${this.port}/v2.1` }] }],
          },
        }, { 'X-Subject-Token': `sim-token-${now}` });
      }
      if (req.method === 'GET' && (path === '/v2.1' || path === '/v2.1/')) return send(200, { version: { id: 'v2.1', status: 'CURRENT', version: '2.93', min_version: '2.1' } });
      if (req.method === 'GET' && path === '/v2.1/os-services') {
        this.serviceLists++;
        const updated = new Date().toISOString().slice(0, 19);
        const service = (id: string, binary: string, host: string): unknown => ({ id, binary, host, zone: binary === 'nova-compute' ? 'nova' : 'internal', status: 'enabled', state: 'up', forced_down: false, disabled_reason: null, updated_at: updated });
        return send(200, { services: [service('s-sched', 'nova-scheduler', 'ctl1'), service('s-cond', 'nova-conductor', 'ctl1'), ...this.hosts().map((host, i) => service(`s-${i}`, 'nova-compute', host))] });
      }
      send(404, { itemNotFound: { code: 404, message: `simulation: no route for ${req.method} ${path}` } });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
