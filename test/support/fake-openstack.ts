/**
 * A fake Keystone + Nova (+ Placement, Glance) behind a fetch function, for unit tests of lib/nova:
 * it hands out tokens, serves the version document, records every call, and routes the rest to
 * handlers a test sets per "METHOD /path" (Placement's as "GET placement:/path", Glance's as
 * "GET /v2/images/ID").
 */
import { parseConfig } from '../../lib/config/load.js';
import type { NovaSection } from '../../lib/systems/nova/client.js';
import type { FetchLike } from '../../lib/systems/nova/http.js';

export const KEYSTONE = 'http://keystone.test:5000/v3';
export const NOVA = 'http://nova.test:8774/v2.1';
/** Placement's routes are keyed "GET placement:/resource_providers" and so on. */
export const PLACEMENT = 'http://placement.test:8778';
export const GLANCE = 'http://glance.test:9292';
export const PASSWORD = 'fake-cloud-password-1234';

export interface Call {
  readonly method: string;
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

export type Handler = (call: Call, count: number) => Response | Promise<Response>;

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', 'x-openstack-request-id': `req-${status}-${Math.random().toString(16).slice(2, 10)}`, ...headers } });

const newer = (a: string, b: string): boolean => {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number) as [number, number]);
  return x![0] !== y![0] ? x![0] > y![0] : x![1] > y![1];
};

export class FakeOpenStack {
  readonly calls: Call[] = [];
  readonly routes = new Map<string, Handler>();
  /** Tokens issued so far; each is a fresh value. */
  readonly tokens: string[] = [];
  maxMicroversion = '2.93';
  tokenLifetimeMs = 3_600_000;
  placementInCatalog = true;
  /** Nova's clock: when set, its version document carries a Date header from it. */
  clock: (() => number) | undefined;
  /** Nova routes by pattern over "METHOD /path", tried when no exact route matches (paths with an ID nova-ha makes up). */
  readonly patterns: [RegExp, Handler][] = [];
  /** Tokens Nova no longer accepts (a 401 for them). */
  readonly revoked = new Set<string>();

  readonly fetch: FetchLike = async (input, init) => {
    const url = new URL(String(input));
    const headers = Object.fromEntries(Object.entries((init?.headers ?? {}) as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v]));
    const call: Call = { method: init?.method ?? 'GET', url, headers, body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined };
    this.calls.push(call);
    if (url.href === `${KEYSTONE}/auth/tokens` && call.method === 'POST') return this.issueToken();
    if (url.origin === new URL(PLACEMENT).origin) {
      if (this.revoked.has(headers['x-auth-token'] ?? '')) return json(401, { error: { code: 401, message: 'The request you have made requires authentication.' } });
      const key = `${call.method} placement:${url.pathname}`;
      const handler = this.routes.get(key);
      if (!handler) return json(404, { errors: [{ status: 404, title: 'Not Found', detail: `fake: no route for ${key}` }] });
      return handler(call, this.calls.filter((c) => `${c.method} placement:${c.url.pathname}` === key && c.url.origin === url.origin).length);
    }
    if (url.origin !== new URL(NOVA).origin && url.origin !== new URL(GLANCE).origin) throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(`getaddrinfo ENOTFOUND ${url.hostname}`), { code: 'ENOTFOUND' }) });
    if (this.revoked.has(headers['x-auth-token'] ?? '')) return json(401, { error: { code: 401, message: 'The request you have made requires authentication.' } });
    if (url.pathname === '/v2.1' && call.method === 'GET') {
      return json(200, { version: { id: 'v2.1', status: 'CURRENT', version: this.maxMicroversion, min_version: '2.1' } }, this.clock ? { Date: new Date(this.clock()).toUTCString() } : {});
    }
    const asked = headers['openstack-api-version']?.replace(/^compute /, '');
    if (asked && newer(asked, this.maxMicroversion)) return json(406, { computeFault: { code: 406, message: `Version ${asked} is not supported by the API. Minimum is 2.1 and maximum is ${this.maxMicroversion}.` } });
    const key = `${call.method} ${url.pathname.replace(/^\/v2\.1/, '')}`;
    const handler = this.routes.get(key) ?? this.patterns.find(([pattern]) => pattern.test(key))?.[1];
    if (!handler) return json(404, { itemNotFound: { code: 404, message: `fake: no route for ${key}` } });
    return handler(call, this.calls.filter((c) => `${c.method} ${c.url.pathname.replace(/^\/v2\.1/, '')}` === key).length);
  };

  /** Calls to Nova for one route (e.g. "POST /servers/abc/action"). */
  callsTo(key: string): Call[] {
    return this.calls.filter((c) => `${c.method} ${c.url.pathname.replace(/^\/v2\.1/, '')}` === key);
  }

  get authentications(): number {
    return this.calls.filter((c) => c.url.href === `${KEYSTONE}/auth/tokens`).length;
  }

  private issueToken(): Response {
    const token = `gAAAAAB-fake-token-${this.tokens.length + 1}-${Math.random().toString(36).slice(2)}`;
    this.tokens.push(token);
    const issued = Date.now();
    return json(
      201,
      {
        token: {
          issued_at: new Date(issued).toISOString(),
          expires_at: new Date(issued + this.tokenLifetimeMs).toISOString(),
          user: { id: 'u1', name: 'nova-ha' },
          project: { id: 'p1', name: 'admin' },
          catalog: [
            { type: 'compute', name: 'nova', endpoints: [{ interface: 'internal', region_id: 'RegionOne', url: NOVA }] },
            ...(this.placementInCatalog ? [{ type: 'placement', name: 'placement', endpoints: [{ interface: 'internal', region_id: 'RegionOne', url: PLACEMENT }] }] : []),
            { type: 'image', name: 'glance', endpoints: [{ interface: 'internal', region_id: 'RegionOne', url: GLANCE }] },
          ],
        },
      },
      { 'X-Subject-Token': token },
    );
  }
}

/** A [nova] section as check-config would produce it, with extra options (e.g. cafile = ...). */
export function novaSection(extra: Record<string, string> = {}): NovaSection {
  const options = { auth_url: KEYSTONE, username: 'nova-ha', password: PASSWORD, timeout: '5s', ...extra };
  const text = `[DEFAULT]\nrole = controller\n[nova]\n${Object.entries(options).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`;
  return parseConfig(text, 'test').config!.nova;
}
