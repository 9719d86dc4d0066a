/**
 * A counting semaphore across processes on one machine, without a daemon: at most `size`
 * processes hold a slot at once. Slot k is a series of numbered claim files `<k>.<n>` in one
 * directory; the newest one says who holds it (a PID and that process's start time) or that it
 * was released. A process takes a slot by hard-linking a complete file to the next number, which
 * fails if the name exists, so of two processes that both found a slot free exactly one wins.
 * Names are never reused, and a holder that died (its PID gone or reused) frees its slot.
 */
import { linkSync, mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { processStartedAt } from './proc.js';

const CLAIM = /^(\d+)\.(\d+)$/;
const RELEASED = 'released';

export interface HeldSlot {
  readonly slot: number;
  release(): void;
}

export class Slots {
  constructor(
    readonly directory: string,
    readonly size: number,
  ) {}

  /** The newest claim file of each slot, by slot. */
  private newest(): Map<number, number> {
    const newest = new Map<number, number>();
    let names: string[];
    try {
      names = readdirSync(this.directory);
    } catch {
      return newest;
    }
    for (const name of names) {
      const match = CLAIM.exec(name);
      if (!match) continue;
      const slot = Number(match[1]);
      newest.set(slot, Math.max(newest.get(slot) ?? 0, Number(match[2])));
    }
    return newest;
  }

  /** Whether the claim file holds its slot: not released, and its process still the same one. */
  private holds(slot: number, generation: number): boolean {
    let text: string;
    try {
      text = readFileSync(join(this.directory, `${slot}.${generation}`), 'utf8').trim();
    } catch {
      // Superseded meanwhile: whoever superseded it decides; count it as free and let link() settle it.
      return false;
    }
    if (text === RELEASED) return false;
    const [pid, startedAt] = text.split(' ').map(Number);
    return pid !== undefined && startedAt !== undefined && processStartedAt(pid) === startedAt;
  }

  /** Slots held now. */
  busy(): number {
    let count = 0;
    for (const [slot, generation] of this.newest()) if (slot < this.size && this.holds(slot, generation)) count++;
    return count;
  }

  /** A free slot for this process, or undefined when all are held. */
  claim(): HeldSlot | undefined {
    mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    const newest = this.newest();
    const me = `${process.pid} ${processStartedAt(process.pid)}`;
    for (let slot = 0; slot < this.size; slot++) {
      const generation = newest.get(slot);
      if (generation !== undefined && this.holds(slot, generation)) continue;
      const next = (generation ?? 0) + 1;
      if (!this.create(slot, next, me)) continue;
      this.prune(slot, next);
      return { slot, release: () => this.release(slot, next) };
    }
    return undefined;
  }

  private release(slot: number, generation: number): void {
    // A newer file already exists only if someone took the slot over (it thought us dead): theirs stands.
    if (this.create(slot, generation + 1, RELEASED)) this.prune(slot, generation + 1);
  }

  /** Writes the file whole, then links it into place: false if that name exists already. */
  private create(slot: number, generation: number, content: string): boolean {
    const temp = join(this.directory, `.${slot}.${generation}.${process.pid}.${randomBytes(4).toString('hex')}`);
    writeFileSync(temp, content, { mode: 0o600 });
    try {
      linkSync(temp, join(this.directory, `${slot}.${generation}`));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      unlinkSync(temp);
    }
  }

  private prune(slot: number, keep: number): void {
    for (const name of readdirSync(this.directory)) {
      const match = CLAIM.exec(name);
      if (match && Number(match[1]) === slot && Number(match[2]) < keep) {
        try {
          unlinkSync(join(this.directory, name));
        } catch {
          // Pruned by another process.
        }
      }
    }
  }
}
