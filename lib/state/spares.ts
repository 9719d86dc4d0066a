/**
 * The claims on spare hosts, at spares/<spare>: one incident per spare. A claim is created with
 * check-and-set index 0 (only if absent), so of two incidents racing for a spare exactly one gets
 * it; it is deleted, again with check-and-set, only when the spare is given back.
 */
import type { JsonKv, Versioned } from '../systems/consul/kv.js';
import { KEYS, type SpareClaim } from './records.js';

/** What a claim attempt came to: this incident holds the spare now (won, or held it already), or another does. */
export type ClaimResult = { readonly held: true; readonly claim: Versioned<SpareClaim> } | { readonly held: false; readonly holder: SpareClaim | undefined };

export class SpareClaims {
  constructor(private readonly kv: JsonKv) {}

  /** Every claim, by spare. */
  async all(): Promise<Map<string, Versioned<SpareClaim>>> {
    return this.kv.tree<SpareClaim>(this.kv.key(KEYS.spares));
  }

  read(spare: string): Promise<Versioned<SpareClaim> | undefined> {
    return this.kv.read<SpareClaim>(this.kv.key(KEYS.spare(spare)));
  }

  /** Creates the claim unless the spare is claimed; a claim of the same incident counts as held (a resumed worker). */
  async claim(claim: SpareClaim): Promise<ClaimResult> {
    const key = this.kv.key(KEYS.spare(claim.spare));
    if (await this.kv.write(key, claim, 0)) {
      const stored = await this.read(claim.spare);
      if (stored && stored.value.incident === claim.incident) return { held: true, claim: stored };
      return { held: false, holder: stored?.value };
    }
    const holder = await this.read(claim.spare);
    if (holder && holder.value.incident === claim.incident) return { held: true, claim: holder };
    return { held: false, holder: holder?.value };
  }

  /** Changes this incident's claim (check-and-set); undefined when the spare is not (any more) this incident's. */
  async change(spare: string, incident: string, change: (claim: SpareClaim) => SpareClaim): Promise<SpareClaim | undefined> {
    return this.kv.update<SpareClaim>(this.kv.key(KEYS.spare(spare)), (current) => (current && current.incident === incident ? change(current) : undefined)).then((stored) => (stored && stored.incident === incident ? stored : undefined));
  }

  /** Deletes the claim if it is still the version read; false when it changed meanwhile. */
  release(spare: string, index: number): Promise<boolean> {
    return this.kv.delete(this.kv.key(KEYS.spare(spare)), index);
  }
}

/** The spares lent to an incident and enabled: the only spares its capacity estimate counts as room. */
export function sparesLentTo(claims: ReadonlyMap<string, Versioned<SpareClaim>>, incidentId: string): string[] {
  return [...claims.values()].filter((c) => c.value.incident === incidentId && c.value.enabledAt !== undefined).map((c) => c.value.spare);
}
