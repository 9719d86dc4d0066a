/**
 * The Keystone token, shared by every nova-ha process on this node through one file per identity
 * (and per local user) in the state directory: Consul starts a new process for every check run,
 * and a fresh token per run would cost Keystone a password check each time.
 *
 * The file is 0600 in a 0700 directory and written atomically (temp file + rename), so a reader
 * never sees half a token and concurrent writers cannot corrupt it; the last one wins, and both
 * tokens are valid. It never goes to Consul KV and is never logged.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Secret } from '../../shared/secret.js';
import { parseCatalog } from './catalog.js';
import type { ComputeVersions, KeystoneSettings, Token } from './keystone.js';
import type { Logger } from '../../shared/log.js';

const FORMAT = 1;

/** Which identity a token belongs to: a change of user, project or auth URL means another file. */
export function tokenCacheKey(settings: KeystoneSettings): string {
  const identity = [settings.authUrl.href, settings.authType, settings.username, settings.userDomainName, settings.projectName, settings.projectDomainName, settings.applicationCredentialId];
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex');
}

export class TokenCache {
  readonly file: string;

  constructor(
    private readonly dir: string,
    private readonly key: string,
    private readonly log: Logger,
  ) {
    // One file per user as well: root running the CLI and the agents' user running the handlers
    // would otherwise keep replacing each other's file, each distrusting the other's owner.
    this.file = join(dir, `keystone-token-${key.slice(0, 16)}${process.getuid ? `-u${process.getuid()}` : ''}.json`);
  }

  /** The cached token, or undefined when there is none, it is unreadable, or not safe to trust. */
  read(): Token | undefined {
    let fd: number;
    try {
      fd = openSync(this.file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn('token-cache-unreadable', { file: this.file, error: (error as NodeJS.ErrnoException).code, fix: 'check the state directory\'s owner and mode' });
      return undefined;
    }
    try {
      const stat = fstatSync(fd);
      // A file others can read or write may have leaked or been planted: do not use it.
      if ((stat.mode & 0o077) !== 0 || (process.getuid && stat.uid !== process.getuid())) {
        this.log.warn('token-cache-unsafe', { file: this.file, mode: (stat.mode & 0o777).toString(8), fix: 'nova-ha replaces it with a 0600 file of its own' });
        this.remove();
        return undefined;
      }
      return this.decode(readFileSync(fd, 'utf8'));
    } finally {
      closeSync(fd);
    }
  }

  write(token: Token): void {
    const entry = {
      format: FORMAT,
      key: this.key,
      token: token.value.reveal(),
      issuedAt: token.issuedAt,
      expiresAt: token.expiresAt,
      projectId: token.projectId,
      userId: token.userId,
      catalog: token.catalog.map((s) => ({ type: s.type, name: s.name, endpoints: s.endpoints.map((e) => ({ interface: e.interface, region_id: e.region, url: e.url })) })),
      ...(token.computeVersions ? { computeVersions: token.computeVersions } : {}),
    };
    const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const fd = openSync(tmp, 'wx', 0o600);
      try {
        writeSync(fd, JSON.stringify(entry));
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.file);
    } catch (error) {
      // Not fatal: this process keeps its token in memory; the next one authenticates again.
      this.log.warn('token-cache-unwritable', { file: this.file, error: (error as NodeJS.ErrnoException).code ?? (error as Error).message, fix: 'make [DEFAULT] state_dir writable by the user nova-ha runs as' });
      try {
        unlinkSync(tmp);
      } catch {
        // nothing was created
      }
    }
  }

  /** After Keystone or Nova refused the token: drop the file, unless another process already replaced it. */
  discard(rejected: Token): void {
    const current = this.read();
    if (current && current.value.reveal() === rejected.value.reveal()) this.remove();
  }

  private remove(): void {
    try {
      unlinkSync(this.file);
    } catch {
      // already gone
    }
  }

  private decode(text: string): Token | undefined {
    try {
      const entry = JSON.parse(text) as Record<string, unknown>;
      if (entry['format'] !== FORMAT || entry['key'] !== this.key) return undefined;
      const { token, issuedAt, expiresAt, projectId, userId } = entry;
      if (typeof token !== 'string' || typeof issuedAt !== 'number' || typeof expiresAt !== 'number' || typeof userId !== 'string') return undefined;
      const versions = computeVersionsOf(entry['computeVersions']);
      return { value: new Secret(token), issuedAt, expiresAt, projectId: typeof projectId === 'string' ? projectId : null, userId, catalog: parseCatalog(entry['catalog']), ...(versions ? { computeVersions: versions } : {}) };
    } catch {
      this.log.warn('token-cache-corrupt', { file: this.file, fix: 'nothing to do: nova-ha authenticates again and rewrites it' });
      return undefined;
    }
  }
}

function computeVersionsOf(raw: unknown): ComputeVersions | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const { endpoint, min, max } = raw as Record<string, unknown>;
  return typeof endpoint === 'string' && typeof min === 'string' && typeof max === 'string' ? { endpoint, min, max } : undefined;
}
