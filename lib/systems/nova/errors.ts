/**
 * Errors of the Nova client. Every message is one line that names what failed and, where there
 * is one, the fix; every message is scrubbed of known secrets (passwords, tokens), because
 * Keystone and Nova messages may quote what they were sent.
 */
import { scrub } from '../../shared/secret.js';

export type OpenStackService = 'Nova' | 'Keystone' | 'Placement' | 'Glance';

export class NovaError extends Error {
  override name = 'NovaError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(oneLine(scrub(message)), options);
  }
}

/** nova-ha's own settings or the cloud's catalog make a call impossible (no endpoint, bad microversion). */
export class NovaConfigError extends NovaError {
  override name = 'NovaConfigError';
}

/** A reply that does not have the shape the API documents: never act on it. */
export class NovaReplyError extends NovaError {
  override name = 'NovaReplyError';
}

export interface HttpErrorDetails {
  readonly service: OpenStackService;
  readonly method: string;
  /** Path and query of the request (never credentials: none travel in URLs). */
  readonly path: string;
  readonly status: number;
  /** The API's own message (Nova's {"badRequest": {"message": ...}}, Keystone's {"error": {...}}). */
  readonly apiMessage: string;
  /** x-openstack-request-id / x-compute-request-id: what to grep for in the service's log. */
  readonly requestId?: string | undefined;
}

/** The API answered with an error status. */
export class NovaHttpError extends NovaError implements HttpErrorDetails {
  override name = 'NovaHttpError';
  readonly service: OpenStackService;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly apiMessage: string;
  readonly requestId: string | undefined;

  constructor(details: HttpErrorDetails) {
    super(formatHttpError(details));
    this.service = details.service;
    this.method = details.method;
    this.path = details.path;
    this.status = details.status;
    this.apiMessage = scrub(details.apiMessage);
    this.requestId = details.requestId;
  }
}

/** No HTTP answer: connection refused or reset, DNS, TLS, timeout. */
export class NovaTransportError extends NovaError {
  override name = 'NovaTransportError';
  constructor(
    message: string,
    /** ECONNREFUSED, ECONNRESET, UND_ERR_HEADERS_TIMEOUT, TimeoutError, a TLS code ... */
    readonly code: string,
    /**
     * Whether the request may have reached the server. False only when the connection was never
     * made: then even a non-idempotent call (evacuate) is safe to send again.
     */
    readonly maybeSent: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  406: 'Not Acceptable', 409: 'Conflict', 413: 'Request Entity Too Large', 429: 'Too Many Requests',
  500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** What an operator can do about each status. */
function hintFor(details: HttpErrorDetails): string {
  const { status, service, requestId } = details;
  const log = requestId ? `look for ${requestId} in the ${{ Nova: 'nova-api', Keystone: 'keystone', Placement: 'placement-api', Glance: 'glance-api' }[service]} log` : `see the ${service} logs`;
  if (status === 401) return service === 'Keystone' ? 'check [nova] username/password or the application credential, and the domains and project' : 'the token was refused; check that Keystone and Nova agree (keystone_authtoken)';
  if (status === 403) return 'the nova-ha user needs the admin role in its project (force down, evacuate, all-tenants lists)';
  if (status === 404) return 'it does not exist (any more); re-read the current state';
  if (status === 406) return 'the microversion is not supported; check [nova] microversion_floor against the cloud';
  if (status === 409) return 'the resource is busy or in the wrong state; retry once its task ends';
  if (status === 429) return 'rate limited; retry later';
  return log;
}

export function formatHttpError(details: HttpErrorDetails): string {
  const text = STATUS_TEXT[details.status] ?? '';
  const message = details.apiMessage ? `: ${details.apiMessage}` : '';
  const request = details.requestId ? ` (request ${details.requestId})` : '';
  return `${details.service} ${details.method} ${details.path}: HTTP ${details.status}${text ? ` ${text}` : ''}${message}${request}; ${hintFor(details)}`;
}

/**
 * The human message inside an OpenStack error body: Nova wraps it in one key named after the
 * fault ({"conflictingRequest": {"message": ...}}), Keystone in {"error": {"message": ...}};
 * proxies send HTML or plain text.
 */
export function extractApiMessage(body: string): string {
  const text = body.trim();
  if (!text) return '';
  try {
    const json = JSON.parse(text) as unknown;
    if (json && typeof json === 'object' && !Array.isArray(json)) {
      for (const value of Object.values(json as Record<string, unknown>)) {
        if (value && typeof value === 'object' && typeof (value as { message?: unknown }).message === 'string') {
          return oneLine((value as { message: string }).message).slice(0, 500);
        }
      }
      const message = (json as { message?: unknown }).message;
      if (typeof message === 'string') return oneLine(message).slice(0, 500);
    }
  } catch {
    // not JSON: fall through to the text
  }
  return oneLine(text.replace(/<[^>]*>/g, ' ')).slice(0, 300);
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
