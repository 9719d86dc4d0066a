/**
 * One HTTP exchange with Keystone or Nova: JSON in and out, a timeout per attempt, the CA bundle
 * for https://, and every failure turned into a NovaError. Headers and bodies are never logged:
 * they carry tokens and passwords.
 *
 * It goes over node:http(s), not Node's global fetch: Node 20 compiles its fetch (undici) on the
 * first call, about 100 ms of CPU in every run of the Nova poller's check (bench/cold-start.ts).
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { NovaConfigError, NovaHttpError, NovaTransportError, extractApiMessage, type OpenStackService } from './errors.js';

/** The part of a fetch() request nova-ha sends. */
export interface WireRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal: AbortSignal;
}

/** The part of a fetch() answer nova-ha reads; a fetch Response is one. */
export interface WireResponse {
  readonly status: number;
  readonly headers: ResponseHeaders;
  text(): Promise<string>;
}

export interface ResponseHeaders {
  get(name: string): string | null;
}

/** Node's fetch is one; tests hand in a simulated Keystone and Nova. */
export type FetchLike = (input: URL, init: WireRequest) => Promise<WireResponse>;

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
  readonly headers: ResponseHeaders;
  /** Parsed JSON, or undefined for an empty or non-JSON body. */
  readonly body: unknown;
  readonly text: string;
  readonly requestId: string | undefined;
}

export interface HttpOptions {
  readonly timeoutMs: number;
  /** PEM bundle file for https:// endpoints; empty: the system's CAs. */
  readonly caFile?: string;
  /** For tests: a fake fetch. */
  readonly fetch?: FetchLike;
}

export class HttpTransport {
  private fetch: FetchLike | undefined;

  constructor(private readonly options: HttpOptions) {
    this.fetch = options.fetch;
  }

  /** Sends the request; any HTTP status is returned, only transport failures throw. */
  async send(request: HttpRequest): Promise<HttpResponse> {
    const fetch = (this.fetch ??= nodeFetch(readCaFile(this.options.caFile)));
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'nova-ha', ...request.headers };
    if (request.json !== undefined) headers['Content-Type'] = 'application/json';
    const init: WireRequest = {
      method: request.method,
      headers,
      signal: AbortSignal.timeout(this.options.timeoutMs),
      ...(request.json !== undefined ? { body: JSON.stringify(request.json) } : {}),
    };
    let response: WireResponse;
    let text: string;
    try {
      response = await fetch(request.url, init);
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

/** The PEM bundle of [nova] cafile, or undefined for the system's CAs. */
function readCaFile(caFile: string | undefined): string | undefined {
  if (!caFile) return undefined;
  let ca: string;
  try {
    ca = readFileSync(caFile, 'utf8');
  } catch (error) {
    throw new NovaConfigError(`[nova] cafile ${caFile}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'}); point it at a readable PEM bundle`);
  }
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new NovaConfigError(`[nova] cafile ${caFile}: holds no PEM certificate; point it at the CA bundle (PEM) of the Keystone and Nova endpoints`);
  return ca;
}

/**
 * fetch's part nova-ha uses, over node:http(s): one exchange, the body read to the end, no
 * redirect followed (a 3xx is an answer like any other). Connections are kept for the next
 * request (a worker makes hundreds); idle ones do not hold the process open.
 */
function nodeFetch(ca: string | undefined): FetchLike {
  // https (and tls under it) is loaded for an https:// endpoint only: loading it costs every other run.
  let secure: { request: typeof httpRequest; agent: HttpAgent } | undefined;
  const secureSide = (): { request: typeof httpRequest; agent: HttpAgent } => {
    if (!secure) {
      const https = process.getBuiltinModule('node:https');
      secure = { request: https.request, agent: new https.Agent({ keepAlive: true, ...(ca ? { ca } : {}) }) };
    }
    return secure;
  };
  return async (url, init) => {
    const { request, agent } = url.protocol === 'https:' ? secureSide() : { request: httpRequest, agent: sharedHttpAgent() };
    const headers = { ...init.headers, ...(init.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(init.body)) } : {}) };
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const sent = request(url, { method: init.method, headers, signal: init.signal, agent }, resolve);
      sent.on('error', reject);
      sent.end(init.body);
    });
    const body = new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      response.on('error', reject);
    });
    return { status: response.statusCode ?? 0, headers: { get: (name) => joinHeader(response.headers[name.toLowerCase()]) }, text: () => body };
  };
}

let httpAgent: HttpAgent | undefined;
const sharedHttpAgent = (): HttpAgent => (httpAgent ??= new HttpAgent({ keepAlive: true }));

const joinHeader = (value: string | string[] | undefined): string | null => (value === undefined ? null : Array.isArray(value) ? value.join(', ') : value);
