/**
 * One HTTP exchange with Keystone or Nova over Node's global fetch: JSON in and out, a timeout
 * per attempt, the CA bundle through an undici Agent, and every failure turned into a NovaError.
 * Headers and bodies are never logged: they carry tokens and passwords.
 */
import { readFileSync } from 'node:fs';
import { NovaConfigError, NovaHttpError, NovaTransportError, extractApiMessage, type OpenStackService } from './errors.js';

export type FetchLike = (input: URL | string, init?: RequestInit) => Promise<Response>;

export interface HttpRequest {
  readonly service: OpenStackService;
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent as JSON. */
  readonly json?: unknown;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Headers;
  /** Parsed JSON, or undefined for an empty or non-JSON body. */
  readonly body: unknown;
  readonly text: string;
  readonly requestId: string | undefined;
}

/** The dispatcher option of Node's fetch: an undici Dispatcher. */
type Dispatcher = NonNullable<RequestInit['dispatcher']>;

export interface HttpOptions {
  readonly timeoutMs: number;
  /** PEM bundle file for https:// endpoints; empty: the system's CAs. */
  readonly caFile?: string;
  /** For tests: a fake fetch. */
  readonly fetch?: FetchLike;
}

export class HttpTransport {
  private readonly fetch: FetchLike;
  private dispatcher: Promise<Dispatcher | undefined> | undefined;

  constructor(private readonly options: HttpOptions) {
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  /** Sends the request; any HTTP status is returned, only transport failures throw. */
  async send(request: HttpRequest): Promise<HttpResponse> {
    const dispatcher = await (this.dispatcher ??= caDispatcher(this.options.caFile));
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'nova-ha', ...request.headers };
    if (request.json !== undefined) headers['Content-Type'] = 'application/json';
    const init: RequestInit = {
      method: request.method,
      headers,
      signal: AbortSignal.timeout(this.options.timeoutMs),
      redirect: 'error',
      ...(request.json !== undefined ? { body: JSON.stringify(request.json) } : {}),
      ...(dispatcher ? { dispatcher } : {}),
    };
    let response: Response;
    let text: string;
    try {
      response = await this.fetch(request.url, init);
      text = await response.text();
    } catch (error) {
      throw transportError(request, error, this.options.timeoutMs);
    }
    let body: unknown;
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    const requestId = response.headers.get('x-openstack-request-id') ?? response.headers.get('x-compute-request-id') ?? undefined;
    return { status: response.status, headers: response.headers, body, text, requestId };
  }
}

/** Path and query of a URL: what error messages and logs show of a request. */
export const describeUrl = (url: URL): string => `${url.pathname}${url.search}`;

/** Throws NovaHttpError unless the status is one of `ok`. */
export function expectStatus(request: HttpRequest, response: HttpResponse, ok: readonly number[]): HttpResponse {
  if (ok.includes(response.status)) return response;
  throw new NovaHttpError({
    service: request.service,
    method: request.method,
    path: describeUrl(request.url),
    status: response.status,
    apiMessage: extractApiMessage(response.text),
    requestId: response.requestId,
  });
}

/** Error codes that mean the connection was never made, so the request cannot have been seen. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);
const TLS = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|SSL/;

function transportError(request: HttpRequest, error: unknown, timeoutMs: number): NovaTransportError {
  const where = `${request.service} ${request.method} ${request.url.origin}${describeUrl(request.url)}`;
  const err = error as { name?: string; message?: string; code?: string; cause?: { code?: string; message?: string; name?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') {
    return new NovaTransportError(`${where}: no answer within ${timeoutMs} ms; check that ${request.service} is running, or raise [nova] timeout`, 'TimeoutError', true, { cause: error });
  }
  const code = err?.cause?.code ?? err?.code ?? 'unknown';
  const detail = err?.cause?.message ?? err?.message ?? String(error);
  if (TLS.test(code)) {
    return new NovaTransportError(`${where}: TLS failed (${code}: ${detail}); set [nova] cafile to the CA bundle that signed ${request.url.hostname}'s certificate`, code, false, { cause: error });
  }
  return new NovaTransportError(`${where}: ${code} (${detail}); check that ${request.service} is reachable from this node`, code, !NOT_SENT.has(code), { cause: error });
}

/**
 * An undici Agent that trusts the CA bundle, for fetch's dispatcher option. Node does not export
 * undici, and no undici package is installed: the Agent class is taken from Node's own global
 * dispatcher, which undici keeps under a well-known symbol (shared by all undici copies on
 * purpose), so it is the very undici that global fetch uses.
 */
async function caDispatcher(caFile: string | undefined): Promise<Dispatcher | undefined> {
  if (!caFile) return undefined;
  let ca: string;
  try {
    ca = readFileSync(caFile, 'utf8');
  } catch (error) {
    throw new NovaConfigError(`[nova] cafile ${caFile}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'}); point it at a readable PEM bundle`);
  }
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new NovaConfigError(`[nova] cafile ${caFile}: holds no PEM certificate; point it at the CA bundle (PEM) of the Keystone and Nova endpoints`);
  const Agent = await undiciAgentClass();
  return new Agent({ connect: { ca } }) as Dispatcher;
}

type AgentClass = new (options: { connect: { ca: string } }) => unknown;
const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');

async function undiciAgentClass(): Promise<AgentClass> {
  const holder = globalThis as unknown as Record<symbol, { constructor?: unknown } | undefined>;
  // Node loads its undici, and installs the global Agent, on the first fetch; a data: URL does that without I/O.
  if (!holder[GLOBAL_DISPATCHER]) await globalThis.fetch('data:,');
  const ctor = holder[GLOBAL_DISPATCHER]?.constructor;
  if (typeof ctor !== 'function' || ctor.name !== 'Agent') {
    throw new NovaConfigError('[nova] cafile: cannot find the undici Agent behind Node\'s fetch (another global dispatcher is installed); unset cafile and use NODE_EXTRA_CA_CERTS instead');
  }
  return ctor as AgentClass;
}
