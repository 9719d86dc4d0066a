import { inspect } from 'node:util';

const known = new Set<string>();

/**
 * A value that must never be printed: it shows as *** in logs, JSON, errors and util.inspect,
 * and only reveal() gives the real value to the one call that needs it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
    if (value.length >= 4) known.add(value);
  }

  reveal(): string {
    return this.#value;
  }

  get isEmpty(): boolean {
    return this.#value.length === 0;
  }

  toString(): string {
    return '***';
  }

  toJSON(): string {
    return '***';
  }

  [inspect.custom](): string {
    return 'Secret(***)';
  }
}

/** Replaces every known secret value inside text: defence in depth for messages from libraries. */
export function scrub(text: string): string {
  let out = text;
  for (const value of known) {
    if (out.includes(value)) out = out.split(value).join('***');
  }
  return out;
}
