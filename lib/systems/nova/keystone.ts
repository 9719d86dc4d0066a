/**
 * Keystone v3: the token request for password and application-credential auth, and reading
 * the token it returns. Secrets are revealed in exactly one place: where the body is built.
 */
import { Secret } from '../../shared/secret.js';
import { NovaConfigError } from './errors.js';
import { parseCatalog, type Catalog } from './catalog.js';
import { Reply } from './reply.js';

export interface KeystoneSettings {
  readonly authUrl: URL;
  readonly authType: 'password' | 'v3applicationcredential';
  readonly username: string;
  readonly password: Secret;
  readonly userDomainName: string;
  readonly projectName: string;
  readonly projectDomainName: string;
  readonly applicationCredentialId: string;
  readonly applicationCredentialSecret: Secret;
}

export interface Token {
  readonly value: Secret;
  /** Local clock (ms): when the token stops working, from its lifetime, so clock skew to Keystone does not matter. */
  readonly expiresAt: number;
  /** Local clock (ms) when it was issued. */
  readonly issuedAt: number;
  readonly catalog: Catalog;
  readonly projectId: string | null;
  readonly userId: string;
  /**
   * The compute API's microversion range, read once with this token from the endpoint named:
   * like the catalog, it describes the cloud, so it is kept (and cached) as long as the token.
   */
  readonly computeVersions?: ComputeVersions;
}

export interface ComputeVersions {
  readonly endpoint: string;
  readonly min: string;
  readonly max: string;
}

/** {auth_url}/auth/tokens; an auth_url without a version gets /v3 (nova-ha speaks v3 only). */
export function tokensUrl(authUrl: URL): URL {
  const base = new URL(authUrl);
  base.search = '';
  const path = base.pathname.replace(/\/+$/, '');
  if (/\/v2\.0$/.test(path)) throw new NovaConfigError(`[nova] auth_url ${authUrl.href} is Keystone v2.0; nova-ha speaks v3 only: use the /v3 URL`);
  base.pathname = `${/\/v3$/.test(path) ? path : `${path}/v3`}/auth/tokens`;
  return base;
}

/** The POST /v3/auth/tokens body. Application credentials carry their own scope, so none is sent. */
export function authRequestBody(settings: KeystoneSettings): unknown {
  if (settings.authType === 'v3applicationcredential') {
    if (!settings.applicationCredentialId || settings.applicationCredentialSecret.isEmpty) {
      throw new NovaConfigError('[nova] auth_type = v3applicationcredential needs application_credential_id and application_credential_secret; set both');
    }
    return {
      auth: {
        identity: {
          methods: ['application_credential'],
          application_credential: { id: settings.applicationCredentialId, secret: settings.applicationCredentialSecret.reveal() },
        },
      },
    };
  }
  if (!settings.username || settings.password.isEmpty) throw new NovaConfigError('[nova] auth_type = password needs username and password; set both');
  return {
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { name: settings.username, domain: { name: settings.userDomainName }, password: settings.password.reveal() } },
      },
      scope: { project: { name: settings.projectName, domain: { name: settings.projectDomainName } } },
    },
  };
}

/**
 * The token from a POST /v3/auth/tokens answer: the X-Subject-Token header and the body's
 * expiry and catalog. `receivedAt` is the local time of the answer.
 */
export function parseTokenResponse(subjectToken: string | null, body: unknown, receivedAt: number): Token {
  const where = 'Keystone POST /v3/auth/tokens';
  if (!subjectToken) throw new NovaConfigError(`${where}: no X-Subject-Token header in the answer; is [nova] auth_url the Keystone v3 URL?`);
  const token = new Reply(body, where).at('token');
  const expires = Date.parse(token.at('expires_at').string());
  const issued = Date.parse(token.at('issued_at').string());
  if (Number.isNaN(expires) || Number.isNaN(issued) || expires <= issued) {
    throw new NovaConfigError(`${where}: token.expires_at/issued_at are not usable times; check Keystone's [token] expiration`);
  }
  return {
    value: new Secret(subjectToken),
    issuedAt: receivedAt,
    expiresAt: receivedAt + (expires - issued),
    catalog: parseCatalog(token.at('catalog').raw),
    projectId: token.has('project') ? token.at('project').at('id').string() : null,
    userId: token.at('user').at('id').string(),
  };
}

/** Whether a token is still good for a while: refreshed when less than 5 minutes (or a quarter of its lifetime) remain. */
export function tokenIsFresh(token: Pick<Token, 'expiresAt' | 'issuedAt'>, now: number): boolean {
  const margin = Math.min(5 * 60_000, (token.expiresAt - token.issuedAt) / 4);
  return token.expiresAt - now > margin;
}
