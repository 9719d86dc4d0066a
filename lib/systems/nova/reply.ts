/**
 * Reading API replies defensively: a field that is missing or of the wrong type fails with one
 * line naming the call and the field, so nova-ha never acts on a reply it misread.
 */
import { NovaReplyError } from './errors.js';

export class Reply {
  constructor(
    private readonly value: unknown,
    /** The call, e.g. "GET /os-services". */
    private readonly where: string,
    private readonly path = '',
  ) {}

  private fail(expected: string): never {
    const found = this.value === undefined ? 'nothing' : (JSON.stringify(this.value) ?? String(this.value)).slice(0, 60);
    throw new NovaReplyError(`${this.where}: ${this.path || '(reply)'}: expected ${expected}, found ${found}; the API's reply is not what its documentation says, so nothing was done with it`);
  }

  /** The value as it came, for parsers of their own (the catalog). */
  get raw(): unknown {
    return this.value;
  }

  at(key: string): Reply {
    return new Reply(this.object()[key], this.where, this.path ? `${this.path}.${key}` : key);
  }

  /** Fails unless key is present (null counts as present); hint says why it may be missing. */
  requireKey(key: string, hint: string): void {
    if (!(key in this.object())) this.at(key).fail(`a value (${hint})`);
  }

  has(key: string): boolean {
    return this.object()[key] !== undefined;
  }

  object(): Record<string, unknown> {
    if (this.value === null || typeof this.value !== 'object' || Array.isArray(this.value)) this.fail('an object');
    return this.value as Record<string, unknown>;
  }

  array(): Reply[] {
    if (!Array.isArray(this.value)) this.fail('a list');
    return (this.value as unknown[]).map((v, i) => new Reply(v, this.where, `${this.path}[${i}]`));
  }

  string(): string {
    if (typeof this.value !== 'string' || this.value === '') this.fail('a non-empty string');
    return this.value as string;
  }

  /** A string, or null when the field is null or absent. */
  optionalString(): string | null {
    if (this.value === null || this.value === undefined) return null;
    if (typeof this.value !== 'string') this.fail('a string or null');
    return this.value as string;
  }

  /** IDs are UUID strings from 2.53 on, integers before. */
  id(): string {
    if (typeof this.value === 'number' && Number.isInteger(this.value)) return String(this.value);
    return this.string();
  }

  /** A finite number (Placement's totals, ratios and usages). */
  number(): number {
    if (typeof this.value !== 'number' || !Number.isFinite(this.value)) this.fail('a number');
    return this.value as number;
  }

  boolean(): boolean {
    if (typeof this.value !== 'boolean') this.fail('true or false');
    return this.value as boolean;
  }

  oneOf<const T extends string>(values: readonly T[]): T {
    if (typeof this.value !== 'string' || !values.includes(this.value as T)) this.fail(`one of ${values.join(', ')}`);
    return this.value as T;
  }

  /** A string-to-string map (server metadata). */
  stringMap(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(this.object())) {
      if (typeof value !== 'string') new Reply(value, this.where, `${this.path}.${key}`).fail('a string');
      out[key] = value as string;
    }
    return out;
  }
}
