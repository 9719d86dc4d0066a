/**
 * A small Consul HTTP client over an agent's unix socket. A socket is a file, not a network
 * address, so tests in the root namespace can talk to every lab agent without any route.
 */
import { request, type IncomingHttpHeaders } from 'node:http';

export interface ConsulResponse<T> {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Parsed JSON when the agent sent JSON, else the raw text. */
  readonly body: T;
  /** X-Consul-KnownLeader: false means the answer may be stale. */
  readonly knownLeader: boolean | undefined;
}

export interface RequestOptions {
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5_000;

export class ConsulHttp {
  /**
   * @param label names the agent in errors, e.g. "nhl ctl1/storage".
   * @param token the ACL token sent as X-Consul-Token (labs with ACLs); never part of an error.
   */
  constructor(
    readonly socketPath: string,
    readonly label: string,
    private readonly token?: string,
  ) {}

  /** The same agent, asked with another ACL token. */
  withToken(token: string): ConsulHttp {
    return new ConsulHttp(this.socketPath, this.label, token);
  }

  get<T = unknown>(path: string, options?: RequestOptions): Promise<ConsulResponse<T>> {
    return this.request<T>('GET', path, undefined, options);
  }

  put<T = unknown>(path: string, body?: unknown, options?: RequestOptions): Promise<ConsulResponse<T>> {
    return this.request<T>('PUT', path, body, options);
  }

  /** GET that throws unless the agent answers 200. */
  async getOk<T = unknown>(path: string, options?: RequestOptions): Promise<T> {
    const response = await this.get<T>(path, options);
    if (response.status !== 200) throw new Error(`consul ${this.label}: GET ${path} answered ${response.status}: ${String(response.body).trim().split('\n')[0]}`);
    return response.body;
  }

  request<T>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<ConsulResponse<T>> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolveResponse, reject) => {
      const fail = (why: string): void => reject(new Error(`consul ${this.label}: ${method} ${path}: ${why} (socket ${this.socketPath}; is the agent running? lab status)`));
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: {
            host: 'consul',
            ...(this.token ? { 'x-consul-token': this.token } : {}),
            ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('error', (error) => fail(error.message));
          res.on('end', () => {
            let parsed: unknown = text;
            if (String(res.headers['content-type'] ?? '').includes('application/json') && text.length > 0) {
              try {
                parsed = JSON.parse(text);
              } catch {
                fail(`answered invalid JSON: ${text.slice(0, 80)}`);
                return;
              }
            }
            const knownLeader = res.headers['x-consul-knownleader'];
            resolveResponse({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: parsed as T,
              knownLeader: knownLeader === undefined ? undefined : knownLeader === 'true',
            });
          });
        },
      );
      // A hung (SIGSTOPped) or leaderless agent may never answer: give up instead of hanging a test.
      req.setTimeout(timeoutMs, () => {
        req.destroy();
        fail(`no answer within ${timeoutMs} ms`);
      });
      req.on('error', (error) => fail(error.message));
      req.end(payload);
    });
  }
}

export interface HealthCheck {
  readonly Node: string;
  readonly CheckID: string;
  readonly Status: 'passing' | 'warning' | 'critical' | 'maintenance';
  readonly Output: string;
}
