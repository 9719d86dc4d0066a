/**
 * nova-ha's client of the compute API: the handful of calls the recovery workflow needs, typed,
 * with the microversion negotiated once per process, the token shared across processes, a
 * single re-authentication on 401, and retries of transient failures.
 */
import type { Config } from '../../config/load.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import { evacuateBody, liveMigrateBody, serviceUpdateBody, type EvacuateOptions, type LiveMigrateOptions, type ServiceUpdate } from './bodies.js';
import { selectEndpoint } from './catalog.js';
import { NovaConfigError, NovaHttpError, NovaReplyError, extractApiMessage } from './errors.js';
import { HttpTransport, describeUrl, expectStatus, type FetchLike, type HttpRequest, type HttpResponse } from './http.js';
import type { KeystoneSettings } from './keystone.js';
import { MV, NEWEST_KNOWN, atLeast, chooseMicroversion, formatMicroversion, parseMicroversion, versionRangeFromDocument, type Microversion, type VersionRange } from './microversion.js';
import { nextHref, nextPageUrl } from './pagination.js';
import { PlacementClient } from './placement.js';
import { Reply } from './reply.js';
import { AlreadyApplied, DEFAULT_RETRY, withRetry, type CallKind, type RetryPolicy } from './retry.js';
import { KeystoneSession } from './session.js';
import { TokenCache, tokenCacheKey } from './token-cache.js';
import { parseAggregate, parseImage, parseMigration, parseServer, parseServerAction, parseService, type Aggregate, type ComputeService, type Image, type Migration, type Server, type ServerAction } from './types.js';

export type NovaSection = Config['nova'];

export interface NovaClientOptions {
  readonly nova: NovaSection;
  /** [DEFAULT] state_dir: the token cache lives there; '' keeps the token in this process only. */
  readonly stateDir: string;
  readonly logger?: Logger;
  readonly retry?: Partial<RetryPolicy>;
  /** For tests. */
  readonly fetch?: FetchLike;
  readonly newestKnown?: string;
  readonly now?: () => number;
}

/** What a server action (evacuate, live-migrate) call came to. */
export interface ActionResult {
  /** Nova's request ID of the accepted call: matches the server's os-instance-actions entry. */
  readonly requestId: string | undefined;
  readonly attempts: number;
  /**
   * response: Nova answered 202. server-state: an attempt failed ambiguously (or found the server
   * busy) and re-reading the server showed the action under way or done, so it was not repeated.
   */
  readonly confirmedBy: 'response' | 'server-state';
  readonly evidence?: string;
  /**
   * When Nova accepted the call, by Nova's own clock (its reply's Date header, whole seconds):
   * what a later "changed since" query compares with, whatever this node's clock says.
   */
  readonly acceptedAt?: number;
}

export interface MigrationFilter {
  /** evacuation, live-migration, migration, resize. */
  readonly type?: string;
  readonly sourceCompute?: string;
  readonly instanceUuid?: string;
  /** ISO time: only migrations changed since (2.59+). */
  readonly changesSince?: string;
  /** Only migrations of servers of this user / project (2.80+). */
  readonly userId?: string;
  readonly projectId?: string;
}

/** Task states of a server being rebuilt elsewhere by an evacuation. */
const EVACUATING = new Set(['rebuilding', 'rebuild_block_device_mapping', 'rebuild_spawning']);

export class NovaClient {
  private readonly http: HttpTransport;
  private readonly session: KeystoneSession;
  private readonly log: Logger;
  private readonly retry: RetryPolicy;
  private readonly now: () => number;
  private negotiated: Promise<Negotiated> | undefined;

  static fromConfig(config: Config, options: Omit<NovaClientOptions, 'nova' | 'stateDir'> = {}): NovaClient {
    return new NovaClient({ ...options, nova: config.nova, stateDir: config.DEFAULT.state_dir });
  }

  constructor(private readonly options: NovaClientOptions) {
    const nova = options.nova;
    if (!nova.auth_url) throw new NovaConfigError('[nova] auth_url is not set; set it to the Keystone v3 URL');
    this.log = (options.logger ?? silentLogger).child({ component: 'nova' });
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.now = options.now ?? Date.now;
    this.http = new HttpTransport({ timeoutMs: nova.timeout, caFile: nova.cafile, ...(options.fetch ? { fetch: options.fetch } : {}) });
    const settings: KeystoneSettings = {
      authUrl: nova.auth_url,
      authType: nova.auth_type,
      username: nova.username,
      password: nova.password,
      userDomainName: nova.user_domain_name,
      projectName: nova.project_name,
      projectDomainName: nova.project_domain_name,
      applicationCredentialId: nova.application_credential_id,
      applicationCredentialSecret: nova.application_credential_secret,
    };
    const cache = options.stateDir ? new TokenCache(options.stateDir, tokenCacheKey(settings), this.log) : null;
    this.session = new KeystoneSession(settings, this.http, cache, this.retry, this.log, this.now);
  }

  /** The compute microversion this client speaks (negotiated on first use). */
  async microversion(): Promise<string> {
    return formatMicroversion((await this.negotiate()).microversion);
  }

  /** Placement reads with this client's Keystone session; `endpoint` instead of the catalog's ([capacity] placement_endpoint). */
  placement(endpoint?: URL): PlacementClient {
    const nova = this.options.nova;
    // An estimate is advisory: a Placement that does not answer is worth one more try, not the
    // seconds of backoff a Nova call gets, since the evacuation waits for it.
    return new PlacementClient({ session: this.session, http: this.http, retry: { ...this.retry, retries: Math.min(this.retry.retries, 1) }, log: this.log, region: nova.region_name, interface: nova.interface, ...(endpoint ? { endpoint } : {}) });
  }

  /** The compute endpoint picked from the catalog. */
  async endpoint(): Promise<string> {
    return (await this.negotiate()).endpoint;
  }

  // ---- compute services ---------------------------------------------------------------------

  /** nova-compute services (of one host when given), with state, status and forced_down. */
  async listComputeServices(host?: string): Promise<ComputeService[]> {
    const query = new URLSearchParams({ binary: 'nova-compute', ...(host ? { host } : {}) });
    const response = await this.call('GET', `/os-services?${query}`, { ok: [200], kind: 'idempotent', what: 'list compute services' });
    return this.reply(response, 'GET /os-services').at('services').array().map(parseService);
  }

  /** Every service of every binary (nova-compute, nova-scheduler, nova-conductor) in one call. */
  async listServices(): Promise<ComputeService[]> {
    const response = await this.call('GET', '/os-services', { ok: [200], kind: 'idempotent', what: 'list services' });
    return this.reply(response, 'GET /os-services').at('services').array().map(parseService);
  }

  /** The nova-compute service of host; fails unless there is exactly one. */
  async getComputeService(host: string): Promise<ComputeService> {
    const services = await this.listComputeServices(host);
    if (services.length !== 1) {
      throw new NovaReplyError(`Nova lists ${services.length} nova-compute services on host ${host}; expected exactly one (check the host name against "openstack compute service list")`);
    }
    return services[0]!;
  }

  /** forced_down true: Nova treats the host as down at once (needed before evacuating); false: undo. */
  forceDown(serviceId: string, forcedDown: boolean): Promise<ComputeService> {
    return this.updateService(serviceId, { forcedDown }, `${forcedDown ? 'force down' : 'unforce'} service ${serviceId}`);
  }

  /** Fencing's one call: forced down (Nova treats the host as down at once) and disabled with reason (no new instances land on it). */
  forceDownAndDisable(serviceId: string, reason: string): Promise<ComputeService> {
    return this.updateService(serviceId, { forcedDown: true, status: 'disabled', disabledReason: reason }, `force down and disable service ${serviceId}`);
  }

  disableService(serviceId: string, reason: string): Promise<ComputeService> {
    return this.updateService(serviceId, { status: 'disabled', disabledReason: reason }, `disable service ${serviceId}`);
  }

  enableService(serviceId: string): Promise<ComputeService> {
    return this.updateService(serviceId, { status: 'enabled' }, `enable service ${serviceId}`);
  }

  private async updateService(serviceId: string, update: ServiceUpdate, what: string): Promise<ComputeService> {
    const { microversion } = await this.negotiate();
    const response = await this.call('PUT', `/os-services/${encodeURIComponent(serviceId)}`, { json: serviceUpdateBody(microversion, update), ok: [200], kind: 'idempotent', what });
    this.log.info('nova-service-updated', { service: serviceId, what, requestId: response.requestId });
    return parseService(this.reply(response, 'PUT /os-services').at('service'));
  }

  // ---- host aggregates ----------------------------------------------------------------------

  /** Every host aggregate with its hosts and metadata (admin only): one call for the whole cloud. */
  async listAggregates(): Promise<Aggregate[]> {
    const response = await this.call('GET', '/os-aggregates', { ok: [200], kind: 'idempotent', what: 'list host aggregates' });
    return this.reply(response, 'GET /os-aggregates').at('aggregates').array().map(parseAggregate);
  }

  /** Adds host to the aggregate; false when it was in it already (Nova's 409), so a repeat is harmless. */
  addHostToAggregate(aggregateId: string, host: string): Promise<boolean> {
    return this.aggregateAction(aggregateId, { add_host: { host } }, 409, `add host ${host} to aggregate ${aggregateId}`);
  }

  /** Removes host from the aggregate; false when it was not in it (Nova's 404). */
  removeHostFromAggregate(aggregateId: string, host: string): Promise<boolean> {
    return this.aggregateAction(aggregateId, { remove_host: { host } }, 404, `remove host ${host} from aggregate ${aggregateId}`);
  }

  private async aggregateAction(aggregateId: string, body: unknown, alreadyStatus: number, what: string): Promise<boolean> {
    try {
      const response = await this.call('POST', `/os-aggregates/${encodeURIComponent(aggregateId)}/action`, { json: body, ok: [200], kind: 'idempotent', what });
      this.log.info('nova-aggregate-updated', { aggregate: aggregateId, what, requestId: response.requestId });
      return true;
    } catch (error) {
      if (error instanceof NovaHttpError && error.status === alreadyStatus) return false;
      throw error;
    }
  }

  // ---- servers ------------------------------------------------------------------------------

  /** Every server on host, of all projects, following pagination to the end. */
  async listServersOnHost(host: string, pageSize?: number): Promise<Server[]> {
    if (!host) throw new NovaConfigError('listServersOnHost: empty host name (it would list every server of the cloud)');
    const query = new URLSearchParams({ all_tenants: '1', host, ...(pageSize ? { limit: String(pageSize) } : {}) });
    const pages = await this.paginate(`/servers/detail?${query}`, 'servers', 'servers_links', `list servers on ${host}`);
    const byId = new Map<string, Server>();
    for (const page of pages) for (const server of page.map(parseServer)) byId.set(server.id, server);
    // A server created or deleted between two pages can shift the marker's neighbours: IDs are unique.
    return [...byId.values()];
  }

  /**
   * Every server of every project that changed since `since` (ms, by Nova's clock), deleted ones
   * included (status DELETED): one call, whatever the number of servers followed, and their new
   * hosts. Nova compares with each server's updated_at, written by the Nova service that changed it.
   */
  async listServersChangedSince(since: number, pageSize?: number): Promise<Server[]> {
    const query = new URLSearchParams({ all_tenants: '1', 'changes-since': new Date(since).toISOString(), ...(pageSize ? { limit: String(pageSize) } : {}) });
    const pages = await this.paginate(`/servers/detail?${query}`, 'servers', 'servers_links', 'list servers changed since');
    const byId = new Map<string, Server>();
    for (const entry of pages.flat()) {
      // The list spans the whole cloud: one odd server (a deleted one, say) must not blind the
      // caller to the others. It is left out, and a caller that needs it reads it by itself.
      try {
        const server = parseServer(entry);
        byId.set(server.id, server);
      } catch (error) {
        if (!(error instanceof NovaReplyError)) throw error;
        this.log.warn('nova-server-unreadable', { error: error.message, detail: 'left out of the list of servers changed since' });
      }
    }
    return [...byId.values()];
  }

  async getServer(serverId: string): Promise<Server> {
    const response = await this.call('GET', `/servers/${encodeURIComponent(serverId)}`, { ok: [200], kind: 'idempotent', what: `get server ${serverId}` });
    return parseServer(this.reply(response, 'GET /servers/{id}').at('server'));
  }

  /**
   * Rebuilds the server on another host (the scheduler picks unless options.host). fromHost is
   * where the caller saw it: a retry after an ambiguous failure first re-reads the server and
   * stops if it has left fromHost or is being rebuilt, so it is never evacuated twice.
   */
  async evacuate(serverId: string, options: EvacuateOptions & { readonly fromHost: string }): Promise<ActionResult> {
    const { microversion } = await this.negotiate();
    const { fromHost, ...bodyOptions } = options;
    return this.serverAction(serverId, evacuateBody(microversion, bodyOptions), `evacuate server ${serverId} from ${fromHost}`, (server) => {
      if (server.host !== fromHost) return `it is on ${server.host ?? 'no host'} now, not ${fromHost}`;
      if (server.taskState && EVACUATING.has(server.taskState)) return `its task_state is ${server.taskState}`;
      return undefined;
    });
  }

  /** Live-migrates the server away from fromHost (scheduler's choice unless options.host); same guard as evacuate. */
  async liveMigrate(serverId: string, options: LiveMigrateOptions & { readonly fromHost: string }): Promise<ActionResult> {
    const { microversion } = await this.negotiate();
    const { fromHost, ...bodyOptions } = options;
    return this.serverAction(serverId, liveMigrateBody(microversion, bodyOptions), `live-migrate server ${serverId} from ${fromHost}`, (server) => {
      if (server.host !== fromHost) return `it is on ${server.host ?? 'no host'} now, not ${fromHost}`;
      if (server.taskState === 'migrating') return 'its task_state is migrating';
      return undefined;
    });
  }

  private async serverAction(serverId: string, body: unknown, what: string, appliedEvidence: (server: Server) => string | undefined): Promise<ActionResult> {
    let attempts = 0;
    const guard = async (): Promise<void> => {
      const evidence = appliedEvidence(await this.getServer(serverId));
      if (evidence) throw new AlreadyApplied(evidence);
    };
    try {
      const response = await this.call('POST', `/servers/${encodeURIComponent(serverId)}/action`, { json: body, ok: [200, 202], kind: 'action', what, guard, onAttempt: (n) => (attempts = n) });
      this.log.info('nova-server-action', { what, server: serverId, attempts, requestId: response.requestId });
      const acceptedAt = Date.parse(response.headers.get('date') ?? '');
      return { requestId: response.requestId, attempts, confirmedBy: 'response', ...(Number.isNaN(acceptedAt) ? {} : { acceptedAt }) };
    } catch (error) {
      if (!(error instanceof AlreadyApplied)) throw error;
      this.log.warn('nova-server-action-already-applied', { what, server: serverId, attempts, evidence: error.evidence });
      return { requestId: undefined, attempts, confirmedBy: 'server-state', evidence: error.evidence };
    }
  }

  /** The server's action log (create, evacuate, live-migration ...), newest first. */
  async listServerActions(serverId: string): Promise<ServerAction[]> {
    const pages = await this.paginate(`/servers/${encodeURIComponent(serverId)}/os-instance-actions`, 'instanceActions', 'links', `list actions of server ${serverId}`);
    return pages.flat().map(parseServerAction);
  }

  /** The IDs of up to `limit` servers of all projects (one page): proves the all-projects list works. */
  async listServerIds(limit: number): Promise<string[]> {
    const query = new URLSearchParams({ all_tenants: '1', limit: String(limit) });
    const response = await this.call('GET', `/servers?${query}`, { ok: [200], kind: 'idempotent', what: 'list servers of all projects' });
    return this.reply(response, 'GET /servers').at('servers').array().map((server) => server.at('id').string());
  }

  // ---- requests Nova must refuse ------------------------------------------------------------

  /**
   * A service update Nova can only refuse: an empty body for a service ID that exists nowhere,
   * at the microversion that addresses services by ID. Nova checks its policy before looking the
   * service up, so the status says whether the role may update services (force down) without
   * anything changing. Any answer is returned, never thrown.
   */
  probeServiceUpdate(): Promise<ProbeAnswer> {
    const id = process.getBuiltinModule('node:crypto').randomUUID();
    return this.probe('PUT', `/os-services/${id}`, {}, MV.servicesById);
  }

  /**
   * An evacuation Nova can only refuse: force without a host, at microversion 2.29 (force exists
   * there and must name a host). Nova reads the server and checks its policy before it looks at
   * force, so the status says whether the role may evacuate this server, and nothing moves.
   */
  probeEvacuate(serverId: string): Promise<ProbeAnswer> {
    return this.probe('POST', `/servers/${encodeURIComponent(serverId)}/action`, { evacuate: { force: true } }, PROBE_EVACUATE_MICROVERSION);
  }

  private async probe(method: HttpRequest['method'], path: string, body: unknown, microversion: string): Promise<ProbeAnswer> {
    const { endpoint } = await this.negotiate();
    const request = `${method} ${path} ${JSON.stringify(body)} at compute ${microversion}`;
    const all = Array.from({ length: 500 }, (_, status) => status + 100);
    const response = await this.send({ method, url: new URL(endpoint + path), json: body, ok: all, kind: 'action', what: `dry request ${method} ${path}` }, parseMicroversion(microversion));
    this.log.info('nova-dry-request', { request, status: response.status, requestId: response.requestId });
    return { request, status: response.status, message: extractApiMessage(response.text), ...(response.requestId ? { requestId: response.requestId } : {}) };
  }

  /**
   * Nova's clock as its reply's Date header gives it (whole seconds), with this node's clock
   * just before the request and just after the answer: what a clock offset is computed from.
   */
  async clockReading(): Promise<ClockReading> {
    const { endpoint } = await this.negotiate();
    const sentAt = this.now();
    const response = await this.send({ method: 'GET', url: versionDocumentUrl(endpoint, null), ok: [200], kind: 'idempotent', what: "read Nova's clock" }, undefined);
    const receivedAt = this.now();
    const date = Date.parse(response.headers.get('date') ?? '');
    if (Number.isNaN(date)) throw new NovaReplyError(`Nova GET ${describeUrl(versionDocumentUrl(endpoint, null))}: no Date header in the reply; a proxy in front of Nova may strip it`);
    return { date, sentAt, receivedAt };
  }

  // ---- migrations ---------------------------------------------------------------------------

  async listMigrations(filter: MigrationFilter = {}): Promise<Migration[]> {
    const query = new URLSearchParams();
    if (filter.type) query.set('migration_type', filter.type);
    if (filter.sourceCompute) query.set('source_compute', filter.sourceCompute);
    if (filter.instanceUuid) query.set('instance_uuid', filter.instanceUuid);
    if (filter.changesSince) query.set('changes-since', filter.changesSince);
    if (filter.userId || filter.projectId) {
      const { microversion } = await this.negotiate();
      if (!atLeast(microversion, MV.migrationsByProject)) {
        throw new NovaConfigError(`filtering migrations by user or project needs compute microversion ${MV.migrationsByProject}, the cloud speaks ${formatMicroversion(microversion)}; filter by instance instead`);
      }
      if (filter.userId) query.set('user_id', filter.userId);
      if (filter.projectId) query.set('project_id', filter.projectId);
    }
    const pages = await this.paginate(`/os-migrations${query.size ? `?${query}` : ''}`, 'migrations', 'migrations_links', 'list migrations');
    return pages.flat().map(parseMigration);
  }

  // ---- Glance: what the HA policy reads besides Nova ----------------------------------------

  /** One Glance image with its properties, from the catalog's image endpoint (region and interface as Nova's). */
  async getImage(imageId: string): Promise<Image> {
    const token = await this.session.token();
    const endpoint = selectEndpoint(token.catalog, { type: 'image', region: this.options.nova.region_name, interface: this.options.nova.interface });
    // Catalogs register Glance with or without its version; the v2 API is what this reads.
    const base = endpoint.replace(/\/+$/, '').replace(/\/v2$/, '');
    const url = new URL(`${base}/v2/images/${encodeURIComponent(imageId)}`);
    const response = await this.send({ service: 'Glance', method: 'GET', url, ok: [200], kind: 'idempotent', what: `get image ${imageId}` }, undefined);
    return parseImage(new Reply(response.body, `Glance GET /v2/images/{id}${response.requestId ? ` (request ${response.requestId})` : ''}`));
  }

  // ---- plumbing -----------------------------------------------------------------------------

  /**
   * Endpoint from the catalog, then the microversion from the endpoint's version document, once
   * per token: the range read is kept with the token (and its cache file), so a new process of
   * nova-ha with a cached token asks Nova for nothing before its first real call.
   */
  private negotiate(fresh = false): Promise<Negotiated> {
    if (fresh) this.negotiated = undefined;
    this.negotiated ??= this.readVersions(fresh).catch((error: unknown) => {
      this.negotiated = undefined; // a later call may find the cloud back
      throw error;
    });
    return this.negotiated;
  }

  private async readVersions(fresh: boolean): Promise<Negotiated> {
    const nova = this.options.nova;
    const token = await this.session.token();
    const endpoint = selectEndpoint(token.catalog, { type: 'compute', region: nova.region_name, interface: nova.interface });
    const known = token.computeVersions?.endpoint === endpoint && !fresh ? token.computeVersions : undefined;
    let range: VersionRange;
    if (known) {
      range = { min: parseMicroversion(known.min), max: parseMicroversion(known.max) };
    } else {
      const url = versionDocumentUrl(endpoint, token.projectId);
      const response = await this.send({ method: 'GET', url, ok: [200], kind: 'idempotent', what: 'read the compute API versions' }, undefined);
      range = versionRangeFromDocument(response.body, `Nova GET ${describeUrl(url)}`);
      this.session.remember(token, { endpoint, min: formatMicroversion(range.min), max: formatMicroversion(range.max) });
    }
    const microversion = chooseMicroversion(range, nova.microversion_floor, this.options.newestKnown ?? NEWEST_KNOWN);
    this.log.debug('nova-microversion', { endpoint, cloudMin: formatMicroversion(range.min), cloudMax: formatMicroversion(range.max), using: formatMicroversion(microversion), remembered: known !== undefined });
    return { endpoint, microversion, remembered: known !== undefined };
  }

  /** Follows "next" links from path to the last page; returns each page's items. */
  private async paginate(path: string, key: string, linksKey: string, what: string): Promise<Reply[][]> {
    const { endpoint } = await this.negotiate();
    let url: URL | undefined = new URL(endpoint + path);
    const pages: Reply[][] = [];
    while (url) {
      const response = await this.call('GET', url, { ok: [200], kind: 'idempotent', what });
      const page = this.reply(response, `GET ${url.pathname}`);
      pages.push(page.at(key).array());
      const href = nextHref(response.body, linksKey);
      url = href === undefined ? undefined : nextPageUrl(url, href, linksKey);
      if (pages.length > 10_000) throw new NovaReplyError(`${what}: more than 10000 pages; Nova's pagination does not end`);
    }
    return pages;
  }

  private async call(method: HttpRequest['method'], pathOrUrl: string | URL, options: CallOptions): Promise<HttpResponse> {
    const negotiated = await this.negotiate();
    const url = typeof pathOrUrl === 'string' ? new URL(negotiated.endpoint + pathOrUrl) : pathOrUrl;
    try {
      return await this.send({ ...options, method, url }, negotiated.microversion);
    } catch (error) {
      if (!(error instanceof NovaHttpError && error.status === 406 && negotiated.remembered)) throw error;
      // The cloud no longer speaks the microversion remembered with the token: Nova was changed
      // since. The request was built for that version, so it is not sent again under another;
      // the versions are read anew for the next call.
      const now = await this.negotiate(true);
      throw new NovaConfigError(`${options.what}: Nova refused compute microversion ${formatMicroversion(negotiated.microversion)} (its API was changed since nova-ha read its versions; it now speaks ${formatMicroversion(now.microversion)}); nothing was done: run it again`);
    }
  }

  /** One logical request: retried per its kind, re-authenticated once on 401. */
  private async send(options: CallOptions & { method: HttpRequest['method']; url: URL; service?: HttpRequest['service'] }, microversion: Microversion | undefined): Promise<HttpResponse> {
    const { result } = await withRetry(async (attempt) => {
      options.onAttempt?.(attempt);
      for (let reauthenticated = false; ; reauthenticated = true) {
        const token = await this.session.token();
        const request: HttpRequest = {
          service: options.service ?? 'Nova',
          method: options.method,
          url: options.url,
          headers: {
            'X-Auth-Token': token.value.reveal(),
            ...(microversion ? { 'OpenStack-API-Version': `compute ${formatMicroversion(microversion)}`, 'X-OpenStack-Nova-API-Version': formatMicroversion(microversion) } : {}),
          },
          ...(options.json !== undefined ? { json: options.json } : {}),
        };
        const started = this.now();
        const response = await this.http.send(request);
        this.log.debug('nova-request', { method: options.method, path: describeUrl(options.url), status: response.status, ms: this.now() - started, requestId: response.requestId });
        if (response.status === 401 && !reauthenticated) {
          // Revoked or expired early (Keystone restarted with new keys): authenticate once more.
          this.session.discard(token);
          continue;
        }
        return expectStatus(request, response, options.ok);
      }
    }, { policy: this.retry, kind: options.kind, what: options.what, log: this.log, ...(options.guard ? { guard: options.guard } : {}) });
    return result;
  }

  private reply(response: HttpResponse, where: string): Reply {
    return new Reply(response.body, `Nova ${where}${response.requestId ? ` (request ${response.requestId})` : ''}`);
  }
}

/** What Nova answered a request it was meant to refuse. */
export interface ProbeAnswer {
  /** The request as sent, for the operator: method, path, body and microversion. */
  readonly request: string;
  readonly status: number;
  /** Nova's own message. */
  readonly message: string;
  readonly requestId?: string;
}

export interface ClockReading {
  /** Nova's Date header (ms, whole seconds). */
  readonly date: number;
  readonly sentAt: number;
  readonly receivedAt: number;
}

/** Where evacuate still takes "force" (2.29 to 2.67), so force without a host is refused after the policy check. */
const PROBE_EVACUATE_MICROVERSION = '2.29';

interface Negotiated {
  readonly endpoint: string;
  readonly microversion: Microversion;
  /** Taken from the token rather than read from Nova now. */
  readonly remembered: boolean;
}

interface CallOptions {
  readonly json?: unknown;
  readonly ok: readonly number[];
  readonly kind: CallKind;
  readonly what: string;
  readonly guard?: () => Promise<void>;
  readonly onAttempt?: (attempt: number) => void;
}

/**
 * Where the version document of a compute endpoint is: the endpoint itself, without a trailing
 * project ID (old catalogs register .../v2.1/<project_id>); Nova serves /v2.1 without auth.
 */
export function versionDocumentUrl(endpoint: string, projectId: string | null): URL {
  const url = new URL(endpoint.replace(/\/+$/, ''));
  const segments = url.pathname.split('/');
  const last = segments.at(-1) ?? '';
  if (segments.length > 2 && (last === projectId || /^[0-9a-f]{32}$/.test(last))) {
    url.pathname = segments.slice(0, -1).join('/');
  }
  return url;
}
