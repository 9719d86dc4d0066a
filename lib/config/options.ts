import { parseDuration, formatDuration } from '../shared/duration.js';
import { Secret } from '../shared/secret.js';
import { commandProblem } from './sudoers.js';

/** What parsing one raw INI value gave: the typed value, or what was expected instead. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string };

export interface Option<T> {
  /** Shown in the sample and in check-config's "expected ..." lines. */
  readonly kind: string;
  readonly help: string;
  /** The default as an operator would write it; undefined means "no default" (empty). */
  readonly defaultText: string | undefined;
  readonly secret: boolean;
  /** Commented out in the generated sample with this example value instead of the default. */
  readonly example?: string;
  parse(raw: string): Parsed<T>;
  /** The value when the option is unset and has no default. */
  readonly empty: T;
  /** "key =" sets the empty value (an empty command, no unit) instead of falling back to the default. */
  readonly emptyIsValue: boolean;
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(expected: string): Parsed<T> => ({ ok: false, expected });

function option<T>(kind: string, help: string, defaultText: string | undefined, parse: (raw: string) => Parsed<T>, empty: T, extra: { secret?: boolean; example?: string | undefined; emptyIsValue?: boolean } = {}): Option<T> {
  return { kind, help, defaultText, secret: extra.secret ?? false, parse, empty, emptyIsValue: extra.emptyIsValue ?? false, ...(extra.example === undefined ? {} : { example: extra.example }) };
}

export function str(help: string, defaultText?: string, example?: string): Option<string> {
  return option('string', help, defaultText, (raw) => ok(raw), '', { example, emptyIsValue: true });
}

/** A secret inline in the (0600) config file, the OpenStack habit. Shown as *** wherever printed. */
export function secret(help: string, example?: string): Option<Secret> {
  return option('secret', help, undefined, (raw) => ok(new Secret(raw)), new Secret(''), { secret: true, example });
}

export function path(help: string, defaultText?: string, example?: string): Option<string> {
  return option('absolute path', help, defaultText, (raw) => (raw.startsWith('/') ? ok(raw) : bad('an absolute path')), '', { example, emptyIsValue: true });
}

export function url<D extends string | undefined = undefined>(help: string, schemes: string[], defaultText?: D, example?: string): Option<WithDefault<D, URL>> {
  const expected = `a URL (${schemes.map((s) => `${s}://`).join(', ')})`;
  return option<WithDefault<D, URL>>('URL', help, defaultText, (raw) => {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      return bad(expected);
    }
    if (!schemes.includes(parsed.protocol.replace(/:$/, ''))) return bad(expected);
    if (parsed.protocol !== 'unix:' && !parsed.hostname) return bad(expected);
    if (parsed.username || parsed.password) return bad(`${expected} without credentials in it (use the token or password option)`);
    return ok(parsed as WithDefault<D, URL>);
  }, undefined as WithDefault<D, URL>, { example });
}

export function duration(help: string, defaultText: string, min = 0): Option<number> {
  return option('duration', help, defaultText, (raw) => {
    const ms = parseDuration(raw);
    if (ms === undefined) return bad('a duration such as 30s, 5m or 500ms');
    if (ms < 0) return bad('a duration that is not negative');
    if (ms < min) return bad(`a duration of at least ${formatDuration(min)}`);
    return ok(ms);
  }, 0);
}

/** Options with a default always have a value; the type says so (WithDefault). */
type WithDefault<D, T> = D extends string ? T : T | undefined;

export function int<D extends string | undefined>(help: string, defaultText: D, min: number, max = Number.MAX_SAFE_INTEGER): Option<WithDefault<D, number>> {
  return option<WithDefault<D, number>>('integer', help, defaultText, (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) return bad(`an integer from ${min} to ${max}`);
    const value = Number(raw);
    return value < min || value > max ? bad(`an integer from ${min} to ${max}`) : ok(value as WithDefault<D, number>);
  }, undefined as WithDefault<D, number>);
}

export function bool(help: string, defaultText: 'true' | 'false'): Option<boolean> {
  return option('boolean', help, defaultText, (raw) => {
    const value = raw.trim().toLowerCase();
    if (['true', 'yes', '1', 'on'].includes(value)) return ok(true);
    if (['false', 'no', '0', 'off'].includes(value)) return ok(false);
    return bad('true or false');
  }, false);
}

export function oneOf<const T extends string, D extends T | undefined>(help: string, values: readonly T[], defaultText: D): Option<WithDefault<D, T>> {
  return option<WithDefault<D, T>>(`one of ${values.join(', ')}`, help, defaultText, (raw) => {
    const value = raw.trim() as T;
    return values.includes(value) ? ok(value as WithDefault<D, T>) : bad(`one of ${values.join(', ')}`);
  }, undefined as WithDefault<D, T>);
}

export function list(help: string, defaultText?: string, example?: string): Option<string[]> {
  return option('comma-separated list', help, defaultText, (raw) => ok(raw.split(',').map((s) => s.trim()).filter(Boolean)), [], { example });
}

export function emails(help: string, example: string): Option<string[]> {
  return option('comma-separated email addresses', help, undefined, (raw) => {
    const addresses = raw.split(',').map((s) => s.trim()).filter(Boolean);
    const wrong = addresses.find((a) => !/^[^@\s<>]+@[^@\s<>]+$/.test(a));
    return wrong === undefined ? ok(addresses) : bad(`email addresses separated by commas (not "${wrong}")`);
  }, [], { example });
}

/** A placeholder a command may use for a value that another option names (e.g. {storage_interface}). */
export const placeholder = (name: string): string => `{${name}}`;

/**
 * A command line run through sudo without a shell: split on spaces, an absolute path and then
 * arguments that sudo matches literally. install.sh grants exactly this argv in sudoers, so every
 * character sudoers gives a meaning to is refused rather than escaped (sudoers.ts says why).
 */
export function command(help: string, defaultText?: string, example?: string, placeholders: readonly string[] = []): Option<string[]> {
  return option('command', help, defaultText, (raw) => {
    const argv = raw.trim().split(/\s+/).filter(Boolean);
    if (argv.length === 0) return ok([]);
    if (!argv[0]!.startsWith('/')) return bad('a command starting with an absolute path (it runs through sudo, without a shell)');
    const problem = commandProblem(argv.map((arg, i) => (i === 0 ? arg : placeholders.reduce((a, p) => a.replaceAll(placeholder(p), 'x'), arg))));
    return problem ? bad(problem) : ok(argv);
  }, [], { example, emptyIsValue: true });
}

/** Storm limit: a host count ("3") or a share of all compute hosts ("10%"). */
export interface StormLimit { readonly count?: number; readonly percent?: number }
export function stormLimit(help: string, defaultText: string): Option<StormLimit> {
  return option<StormLimit>('count or percentage', help, defaultText, (raw) => {
    const match = /^\s*(\d+)\s*(%?)\s*$/.exec(raw);
    if (!match) return bad('a number of hosts (3) or a percentage of all compute hosts (10%)');
    const value = Number(match[1]);
    if (match[2]) return value > 0 && value <= 100 ? ok({ percent: value }) : bad('a percentage from 1% to 100%');
    return value >= 1 ? ok({ count: value }) : bad('at least 1 host');
  }, { percent: 10 });
}

/** A local user name (the Consul agents' user): it goes into sudoers, so nothing else is accepted. */
export function userName(help: string, defaultText: string): Option<string> {
  return option('user name', help, defaultText, (raw) => (/^[a-z_][a-z0-9_-]{0,31}$/.test(raw.trim()) ? ok(raw.trim()) : bad('a user name (lower-case letters, digits, "_" or "-", at most 32)')), '');
}

/** A network interface name as the kernel allows it (IFNAMSIZ), narrowed to what sudoers takes literally. */
export function interfaceName(help: string, example: string): Option<string> {
  return option('interface name', help, '', (raw) => {
    const name = raw.trim();
    return /^[A-Za-z0-9_.-]{1,15}$/.test(name) && name !== '.' && name !== '..' ? ok(name) : bad('a network interface name such as bond1 or ens2f1.200 (at most 15 letters, digits, ".", "-" or "_")');
  }, '', { example, emptyIsValue: true });
}

export function microversion(help: string, defaultText: string): Option<string> {
  return option('microversion', help, defaultText, (raw) => (/^2\.\d+$/.test(raw.trim()) ? ok(raw.trim()) : bad('a compute microversion such as 2.53')), '2.53');
}

export type OptionValue<O> = O extends Option<infer T> ? T : never;
