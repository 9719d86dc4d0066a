/**
 * A Keystone session: hands out a token that is good for a while, from memory, from the cache
 * file other nova-ha processes share, or from Keystone, in that order. After a 401 the caller
 * discards the token and asks again, which authenticates anew.
 */
import type { Logger } from '../../shared/log.js';
import { authRequestBody, parseTokenResponse, tokenIsFresh, tokensUrl, type ComputeVersions, type KeystoneSettings, type Token } from './keystone.js';
import { expectStatus, type HttpRequest, type HttpTransport } from './http.js';
import { withRetry, type RetryPolicy } from './retry.js';
import type { TokenCache } from './token-cache.js';

export class KeystoneSession {
  private current: Token | undefined;
  private pending: Promise<Token> | undefined;

  constructor(
    private readonly settings: KeystoneSettings,
    private readonly http: HttpTransport,
    /** null: no file cache (each process authenticates). */
    private readonly cache: TokenCache | null,
    private readonly retry: RetryPolicy,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async token(): Promise<Token> {
    if (this.current && tokenIsFresh(this.current, this.now())) return this.current;
    // Concurrent callers (parallel evacuations) share one authentication.
    this.pending ??= this.obtain().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /**
   * Keeps what was learnt with this token (the compute API's versions) with it, here and in the
   * shared file, so the next process of nova-ha need not ask again. A file that meanwhile holds
   * another token is left alone.
   */
  remember(token: Token, computeVersions: ComputeVersions): Token {
    const updated = { ...token, computeVersions };
    if (this.current === token) this.current = updated;
    const cached = this.cache?.read();
    if (cached && cached.value.reveal() === token.value.reveal()) this.cache?.write({ ...cached, computeVersions });
    return updated;
  }

  /** The token was refused (401): forget it here and in the shared file. */
  discard(token: Token): void {
    if (this.current === token) this.current = undefined;
    this.cache?.discard(token);
  }

  private async obtain(): Promise<Token> {
    const cached = this.cache?.read();
    if (cached && tokenIsFresh(cached, this.now())) {
      this.log.debug('keystone-token-from-cache', { expiresInS: Math.round((cached.expiresAt - this.now()) / 1000) });
      this.current = cached;
      return cached;
    }
    const token = await this.authenticate();
    this.cache?.write(token);
    this.current = token;
    return token;
  }

  private async authenticate(): Promise<Token> {
    const request: HttpRequest = { service: 'Keystone', method: 'POST', url: tokensUrl(this.settings.authUrl), json: authRequestBody(this.settings) };
    const started = this.now();
    const { result } = await withRetry(async () => expectStatus(request, await this.http.send(request), [201]), {
      policy: this.retry,
      kind: 'idempotent', // a second token request is harmless
      what: 'keystone authentication',
      log: this.log,
    });
    const token = parseTokenResponse(result.headers.get('x-subject-token'), result.body, this.now());
    this.log.info('keystone-authenticated', { authType: this.settings.authType, ms: this.now() - started, expiresInS: Math.round((token.expiresAt - token.issuedAt) / 1000), requestId: result.requestId });
    return token;
  }
}
