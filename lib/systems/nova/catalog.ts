/**
 * The service catalog that comes with a Keystone token, and picking an endpoint from it by
 * service type, region and interface, as every OpenStack client does.
 */
import { NovaConfigError, NovaReplyError } from './errors.js';

export type Interface = 'public' | 'internal' | 'admin';

export interface CatalogEndpoint {
  readonly interface: string;
  /** region_id in Keystone v3; older deployments only fill "region". */
  readonly region: string;
  readonly url: string;
}

export interface CatalogService {
  readonly type: string;
  readonly name: string;
  readonly endpoints: readonly CatalogEndpoint[];
}

export type Catalog = readonly CatalogService[];

/** Checks the token's "catalog" list; names the first entry that is not usable. */
export function parseCatalog(raw: unknown): Catalog {
  if (!Array.isArray(raw)) throw new NovaReplyError('Keystone token: catalog: expected a list, found ' + describe(raw) + '; the token must be scoped to a project');
  return raw.map((entry: unknown, i): CatalogService => {
    const service = (entry ?? {}) as { type?: unknown; name?: unknown; endpoints?: unknown };
    if (typeof service.type !== 'string') throw new NovaReplyError(`Keystone token: catalog[${i}].type: expected a string, found ${describe(service.type)}`);
    if (!Array.isArray(service.endpoints)) throw new NovaReplyError(`Keystone token: catalog[${i}] (${service.type}).endpoints: expected a list, found ${describe(service.endpoints)}`);
    const endpoints = service.endpoints.map((e: unknown, j): CatalogEndpoint => {
      const endpoint = (e ?? {}) as { interface?: unknown; region_id?: unknown; region?: unknown; url?: unknown };
      if (typeof endpoint.url !== 'string' || typeof endpoint.interface !== 'string') {
        throw new NovaReplyError(`Keystone token: catalog[${i}] (${service.type}).endpoints[${j}]: expected url and interface strings`);
      }
      const region = typeof endpoint.region_id === 'string' ? endpoint.region_id : typeof endpoint.region === 'string' ? endpoint.region : '';
      return { interface: endpoint.interface, region, url: endpoint.url };
    });
    return { type: service.type, name: typeof service.name === 'string' ? service.name : '', endpoints };
  });
}

export interface EndpointQuery {
  readonly type: string;
  readonly region: string;
  readonly interface: Interface;
}

/**
 * The URL of the one endpoint of `type` in `region` with `interface`. An empty region accepts
 * any region, but only when that leaves exactly one endpoint: nova-ha must never pick one of
 * two clouds' Novas by chance.
 */
export function selectEndpoint(catalog: Catalog, query: EndpointQuery): string {
  const services = catalog.filter((s) => s.type === query.type);
  if (services.length === 0) {
    const types = [...new Set(catalog.map((s) => s.type))].sort().join(', ') || 'none';
    throw new NovaConfigError(`the Keystone catalog has no service of type ${query.type} (it has: ${types}); register Nova's endpoints or check that the token is scoped to the right project`);
  }
  const all = services.flatMap((s) => s.endpoints);
  const matching = all.filter((e) => e.interface === query.interface && (query.region === '' || e.region === query.region));
  const urls = [...new Set(matching.map((e) => e.url.replace(/\/+$/, '')))];
  if (urls.length === 1) return urls[0]!;
  const offered = all.map((e) => `${e.interface}@${e.region || '(no region)'}`).sort().join(', ');
  if (urls.length === 0) {
    throw new NovaConfigError(`the Keystone catalog has no ${query.interface} ${query.type} endpoint in region ${query.region || '(any)'} (it has: ${offered}); set [nova] interface and region_name to one of these`);
  }
  throw new NovaConfigError(`the Keystone catalog has ${urls.length} ${query.interface} ${query.type} endpoints in region ${query.region || '(any)'} (${urls.join(', ')}); set [nova] region_name to choose one`);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  return (JSON.stringify(value) ?? String(value)).slice(0, 60);
}
