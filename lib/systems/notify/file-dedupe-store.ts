/**
 * Dedupe claims as small files in one directory, for handler processes on the same machine.
 *
 * Each key has numbered generations, `<sha256(key)>.<n>.claim`, written whole to a temporary
 * file and then hard-linked into place: link() fails with EEXIST if the name exists, so of two
 * processes that both saw generation n expired, exactly one creates n+1 and the other looks
 * again. Names are never reused while a key is active, so no process can mistake a fresh claim
 * for the stale one it read. A key's last file is pruned only long after its window ended; a
 * claim racing that prune at the same instant could be granted twice, which costs a duplicate
 * email, never a lost one. At most `maxKeys` keys are kept: beyond that, the keys whose window
 * ended longest ago go first, so the directory stays small however many hosts fail.
 */
import { createHash, randomBytes } from 'node:crypto';
import { link, lstat, mkdir, readFile, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DedupeStore } from './dedupe.js';

interface ClaimRecord {
  readonly key: string;
  readonly claimedAt: number;
  readonly windowMs: number;
  readonly released?: boolean;
  readonly pid: number;
}

export interface FileDedupeStoreOptions {
  readonly now?: () => number;
  /** How long after its window a key's last claim file is kept (see the race above). */
  readonly pruneAfterMs?: number;
  /** Keys kept at most (claims whose window has not ended are always kept). */
  readonly maxKeys?: number;
}

const CLAIM_FILE = /^([0-9a-f]{32})\.(\d+)\.claim$/;
const TEMP_FILE = /\.tmp-/;
const TEMP_MAX_AGE_MS = 60_000;
/** Losing the link race this many times in a row means heavy contention: someone else is sending. */
const MAX_CLAIM_ROUNDS = 5;

export class FileDedupeStore implements DedupeStore {
  readonly #now: () => number;
  readonly #pruneAfterMs: number;
  readonly #maxKeys: number;
  /** The generation this store claimed, per key, so release() gives up only its own claim. */
  readonly #held = new Map<string, number>();

  constructor(
    readonly directory: string,
    options: FileDedupeStoreOptions = {},
  ) {
    this.#now = options.now ?? Date.now;
    this.#pruneAfterMs = options.pruneAfterMs ?? 24 * 3_600_000;
    this.#maxKeys = options.maxKeys ?? 1024;
  }

  async claim(key: string, windowMs: number): Promise<boolean> {
    return this.#explained(async () => {
      await this.#ownDirectory();
      const id = idOf(key);
      for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
        const names = await readdir(this.directory);
        if (round === 0) await this.#prune(names);
        const latest = latestGeneration(names, id);
        const now = this.#now();
        if (latest !== undefined) {
          const record = await this.#read(id, latest);
          if (record && !record.released && isLive(record, now, windowMs)) return false;
        }
        const generation = (latest ?? 0) + 1;
        if (await this.#create(id, generation, { key, claimedAt: now, windowMs, pid: process.pid })) {
          this.#held.set(key, generation);
          await this.#removeOlder(id, generation);
          return true;
        }
      }
      return false;
    });
  }

  async release(key: string): Promise<void> {
    const generation = this.#held.get(key);
    if (generation === undefined) return;
    this.#held.delete(key);
    await this.#explained(async () => {
      const id = idOf(key);
      // EEXIST: someone claimed the key after our window ended; theirs stands.
      if (await this.#create(id, generation + 1, { key, claimedAt: this.#now(), windowMs: 0, released: true, pid: process.pid })) await this.#removeOlder(id, generation + 1);
    });
  }

  async #explained<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new Error(`notification dedupe directory ${this.directory}: ${code}; make it writable by the user the handlers run as (it lives under [DEFAULT] state_dir)`, { cause: error });
    }
  }

  /**
   * The directory lives in the state dir, which the agents' user owns, and root's CLI uses it
   * too: a link put in its place would have root write and prune files wherever it points.
   */
  async #ownDirectory(): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    if (!(await lstat(this.directory)).isDirectory()) throw Object.assign(new Error('not a directory (a symbolic link?)'), { code: 'ENOTDIR' });
  }

  #path(id: string, generation: number): string {
    return join(this.directory, `${id}.${generation}.claim`);
  }

  async #read(id: string, generation: number): Promise<ClaimRecord | undefined> {
    try {
      const record = JSON.parse(await readFile(this.#path(id, generation), 'utf8')) as Partial<ClaimRecord>;
      return typeof record.claimedAt === 'number' && typeof record.windowMs === 'number' ? (record as ClaimRecord) : undefined;
    } catch {
      // Gone (pruned, superseded) or damaged: either way it holds no claim.
      return undefined;
    }
  }

  /** Writes the record whole, then links it into place: readers never see a half-written claim. */
  async #create(id: string, generation: number, record: ClaimRecord): Promise<boolean> {
    const temp = join(this.directory, `${id}.${generation}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    await writeFile(temp, JSON.stringify(record), { flag: 'wx', mode: 0o600 });
    try {
      await link(temp, this.#path(id, generation));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }

  async #removeOlder(id: string, generation: number): Promise<void> {
    const names = await readdir(this.directory).catch(() => [] as string[]);
    await Promise.all(
      names.filter((name) => {
        const match = CLAIM_FILE.exec(name);
        return match?.[1] === id && Number(match[2]) < generation;
      }).map((name) => unlink(join(this.directory, name)).catch(() => undefined)),
    );
  }

  /** Best effort: a file that cannot be pruned now is pruned by a later claim. */
  async #prune(names: readonly string[]): Promise<void> {
    const now = this.#now();
    const latest = new Map<string, number>();
    for (const name of names) {
      const match = CLAIM_FILE.exec(name);
      if (match) latest.set(match[1]!, Math.max(latest.get(match[1]!) ?? 0, Number(match[2])));
    }
    await Promise.all(
      names.map(async (name) => {
        const file = join(this.directory, name);
        try {
          if (TEMP_FILE.test(name)) {
            if (now - (await stat(file)).mtimeMs > TEMP_MAX_AGE_MS) await unlink(file);
            return;
          }
          const match = CLAIM_FILE.exec(name);
          if (!match) return;
          const [, id, generation] = match as unknown as [string, string, string];
          if (Number(generation) < latest.get(id)!) {
            await unlink(file);
            return;
          }
          const record = await this.#read(id, Number(generation));
          const endedAt = record ? record.claimedAt + record.windowMs : (await stat(file)).mtimeMs;
          if (now - endedAt > this.#pruneAfterMs) await unlink(file);
        } catch {
          // Someone else pruned or superseded it first.
        }
      }),
    );
    await this.#keepAtMost(this.#maxKeys);
  }

  /** Drops the keys whose window ended longest ago until at most max are left. */
  async #keepAtMost(max: number): Promise<void> {
    const names = (await readdir(this.directory)).filter((name) => CLAIM_FILE.test(name));
    if (names.length <= max) return;
    const now = this.#now();
    const ended: { name: string; endedAt: number }[] = [];
    for (const name of names) {
      const [, id, generation] = CLAIM_FILE.exec(name) as unknown as [string, string, string];
      const record = await this.#read(id, Number(generation));
      const endedAt = record ? record.claimedAt + record.windowMs : 0;
      if (endedAt <= now) ended.push({ name, endedAt });
    }
    ended.sort((a, b) => a.endedAt - b.endedAt);
    await Promise.all(ended.slice(0, names.length - max).map(({ name }) => unlink(join(this.directory, name)).catch(() => undefined)));
  }
}

function idOf(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

function latestGeneration(names: readonly string[], id: string): number | undefined {
  let latest: number | undefined;
  for (const name of names) {
    const match = CLAIM_FILE.exec(name);
    if (match?.[1] === id) latest = Math.max(latest ?? 0, Number(match[2]));
  }
  return latest;
}

/** A claim from the future (a clock stepped back) counts for at most one window, not until the clock catches up. */
function isLive(record: ClaimRecord, now: number, windowMs: number): boolean {
  return now - record.claimedAt < windowMs && record.claimedAt - now < windowMs;
}
