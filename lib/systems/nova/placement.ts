/**
 * nova-ha's reads of the Placement API: a compute host's resource provider, its inventories and
 * its usages, with the Keystone session of the Nova client (one token for both), the endpoint
 * from the same catalog (type "placement") or from [capacity] placement_endpoint. Reads only:
 * nova-ha never changes Placement.
 */
import type { Logger } from '../../shared/log.js';
import { selectEndpoint, type Interface } from './catalog.js';
import { expectStatus, type HttpRequest, type HttpResponse, type HttpTransport } from './http.js';
import { Reply } from './reply.js';
import { withRetry, type RetryPolicy } from './retry.js';
import type { KeystoneSession } from './session.js';

/**
 * Every call here is Placement's 1.0; naming it keeps the replies' shape fixed whatever newer
 * version the cloud speaks (a cloud serves every version from 1.0 to its newest).
 */
export const PLACEMENT_MICROVERSION = '1.0';

export interface ResourceProvider {
  readonly uuid: string;
  readonly name: string;
}

/** One resource class of an inventory, in Placement's own names. */
export interface PlacementInventory {
  readonly total: number;
  readonly reserved: number;
  readonly allocation_ratio: number;
  readonly min_unit: number;
  readonly max_unit: number;
  readonly step_size: number;
}

export interface PlacementClientOptions {
  readonly session: KeystoneSession;
  readonly http: HttpTransport;
  readonly retry: RetryPolicy;
  readonly log: Logger;
  readonly region: string;
  readonly interface: Interface;
  /** Instead of the catalog's endpoint ([capacity] placement_endpoint). */
  readonly endpoint?: URL;
}

export class PlacementClient {
  constructor(private readonly options: PlacementClientOptions) {}

  /**
   * The compute node provider of a host: Nova names it after the hypervisor's hostname, which is
   * the service's host name or its FQDN. Undefined when Placement has none (a host whose
   * nova-compute never reported).
   */
  async providerOf(host: string): Promise<ResourceProvider | undefined> {
    const exact = await this.providersNamed(host);
    if (exact.length > 0) return exact[0];
    const all = await this.get('/resource_providers', `find the resource provider of ${host}`);
    return all.at('resource_providers').array().map(parseProvider).find((p) => p.name.startsWith(`${host}.`));
  }

  async inventories(uuid: string): Promise<Record<string, PlacementInventory>> {
    const reply = await this.get(`/resource_providers/${encodeURIComponent(uuid)}/inventories`, `read the inventories of resource provider ${uuid}`);
    const inventories = reply.at('inventories');
    return Object.fromEntries(Object.keys(inventories.object()).map((resource) => [resource, parseInventory(inventories.at(resource))]));
  }

  async usages(uuid: string): Promise<Record<string, number>> {
    const reply = await this.get(`/resource_providers/${encodeURIComponent(uuid)}/usages`, `read the usages of resource provider ${uuid}`);
    const usages = reply.at('usages');
    return Object.fromEntries(Object.keys(usages.object()).map((resource) => [resource, usages.at(resource).number()]));
  }

  private async providersNamed(name: string): Promise<ResourceProvider[]> {
    const reply = await this.get(`/resource_providers?${new URLSearchParams({ name })}`, `find the resource provider named ${name}`);
    return reply.at('resource_providers').array().map(parseProvider);
  }

  private async endpoint(): Promise<string> {
    if (this.options.endpoint) return this.options.endpoint.href.replace(/\/+$/, '');
    const token = await this.options.session.token();
    return selectEndpoint(token.catalog, { type: 'placement', region: this.options.region, interface: this.options.interface });
  }

  private async get(path: string, what: string): Promise<Reply> {
    const url = new URL((await this.endpoint()) + path);
    const { result } = await withRetry(async () => {
      for (let reauthenticated = false; ; reauthenticated = true) {
        const token = await this.options.session.token();
        const request: HttpRequest = { service: 'Placement', method: 'GET', url, headers: { 'X-Auth-Token': token.value.reveal(), 'OpenStack-API-Version': `placement ${PLACEMENT_MICROVERSION}` } };
        const response: HttpResponse = await this.options.http.send(request);
        if (response.status === 401 && !reauthenticated) {
          this.options.session.discard(token);
          continue;
        }
        return expectStatus(request, response, [200]);
      }
    }, { policy: this.options.retry, kind: 'idempotent', what, log: this.options.log });
    return new Reply(result.body, `Placement GET ${url.pathname}${result.requestId ? ` (request ${result.requestId})` : ''}`);
  }
}

function parseProvider(reply: Reply): ResourceProvider {
  return { uuid: reply.at('uuid').string(), name: reply.at('name').string() };
}

function parseInventory(reply: Reply): PlacementInventory {
  const number = (key: string, fallback: number): number => (reply.has(key) ? reply.at(key).number() : fallback);
  return { total: reply.at('total').number(), reserved: number('reserved', 0), allocation_ratio: number('allocation_ratio', 1), min_unit: number('min_unit', 1), max_unit: number('max_unit', Number.MAX_SAFE_INTEGER), step_size: number('step_size', 1) };
}
