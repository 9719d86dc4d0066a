/**
 * An instance's HA policy: whether it is evacuated (opt-in / opt-out) and its priority, from the
 * places an operator can set them, most specific first: the instance's metadata, its image's
 * properties, its flavor's extra specs, the metadata of the host aggregates its host is in.
 *
 * Every source uses the same keys ([evacuation] select_key and priority_key). A flavor's extra
 * specs may also carry them scoped as `nova_ha:<key>` (the scoped form wins over the bare one):
 * Nova's AggregateInstanceExtraSpecsFilter reads unscoped extra specs as requirements on the
 * aggregates' metadata, so a bare key there could keep the flavor off every host.
 *
 * Rules (docs/architecture.md, "Which instances, in what order"):
 * - The most specific source with a usable value decides. A value that is not usable (a priority
 *   that is not a finite number, a flag that is neither true nor false) is ignored, with a
 *   reason, and the next source decides.
 * - Aggregates disagreeing: the highest priority among them; an opt-out from any of them wins
 *   over an opt-in from another (a host group marked not-HA is a deliberate exclusion), and
 *   applies only when no more specific source opts in.
 * - A source that could not be read is unknown: the less specific ones decide, and the answer
 *   says which sources were not read.
 */

export type HaSourceKind = 'instance' | 'image' | 'flavor' | 'aggregate';

/** What was read of one source, or why it could not be. */
export type HaRead<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly why: string };

export interface NamedValues {
  readonly name: string;
  readonly values: Readonly<Record<string, string>>;
}

export interface HaInputs {
  readonly metadata: Readonly<Record<string, string>>;
  /** Absent: the instance has no image of its own (booted from a volume), or images were not consulted. */
  readonly image?: HaRead<NamedValues>;
  /** Absent: flavors were not consulted. */
  readonly flavor?: HaRead<NamedValues>;
  /** The aggregates the instance's host is in; absent: aggregates were not consulted. */
  readonly aggregates?: HaRead<readonly NamedValues[]>;
}

export interface HaKeys {
  readonly mode: 'opt-out' | 'opt-in';
  readonly selectKey: string;
  readonly priorityKey: string;
}

export interface HaDecision {
  readonly evacuate: boolean;
  /** Why not, when evacuate is false. */
  readonly reason?: string;
  readonly priority: number;
  /** Where the priority came from, with the sources unread and the values ignored: "priority 80 from image cirros-ha". */
  readonly priorityFrom: string;
  /** True when a source set the priority, a value was ignored or a source could not be read: worth recording. */
  readonly notable: boolean;
  /** Values that were set but not usable, each with where it was and why. */
  readonly ignored: readonly string[];
  /** Sources more specific than the ones that decided, which could not be read. */
  readonly unread: readonly string[];
}

/** The scope a flavor's extra specs may put nova-ha's keys in. */
export const EXTRA_SPEC_SCOPE = 'nova_ha';

const TRUE = new Set(['true', 'yes', '1', 'on']);
const FALSE = new Set(['false', 'no', '0', 'off']);

interface Found {
  readonly kind: HaSourceKind;
  readonly name: string;
  readonly key: string;
  readonly raw: string;
}

/** Where a value was, in the words of the existing messages ("metadata nova_ha_evacuate=false"). */
function where(f: Found): string {
  const at = { instance: 'metadata', image: `image ${f.name} property`, flavor: `flavor ${f.name} extra spec`, aggregate: `aggregate ${f.name} metadata` }[f.kind];
  return `${at} ${f.key}=${f.raw}`;
}

function origin(kind: HaSourceKind, name: string): string {
  return kind === 'instance' ? 'its metadata' : `${kind} ${name}`;
}

/** The values of key in one named source; extra specs take the scoped key first. */
function lookup(kind: HaSourceKind, source: NamedValues, key: string): Found | undefined {
  const keys = kind === 'flavor' ? [`${EXTRA_SPEC_SCOPE}:${key}`, key] : [key];
  for (const k of keys) {
    const raw = source.values[k];
    if (raw !== undefined) return { kind, name: source.name, key: k, raw };
  }
  return undefined;
}

interface Level {
  readonly kind: HaSourceKind;
  readonly sources: readonly NamedValues[];
  readonly unread?: string;
}

function levels(inputs: HaInputs): Level[] {
  const one = (kind: HaSourceKind, read: HaRead<NamedValues> | undefined): Level => (read === undefined ? { kind, sources: [] } : read.ok ? { kind, sources: [read.value] } : { kind, sources: [], unread: `${kind === 'image' ? 'image properties' : 'flavor extra specs'} unread (${read.why})` });
  const aggregates: Level = inputs.aggregates === undefined ? { kind: 'aggregate', sources: [] } : inputs.aggregates.ok ? { kind: 'aggregate', sources: inputs.aggregates.value } : { kind: 'aggregate', sources: [], unread: `aggregates unread (${inputs.aggregates.why})` };
  return [{ kind: 'instance', sources: [{ name: '', values: inputs.metadata }] }, one('image', inputs.image), one('flavor', inputs.flavor), aggregates];
}

function parsePriority(raw: string): number | undefined {
  if (raw.trim() === '') return undefined;
  const value = Number(raw);
  return Number.isFinite(value) ? value : undefined;
}

function parseFlag(raw: string): boolean | undefined {
  const flag = raw.trim().toLowerCase();
  return TRUE.has(flag) ? true : FALSE.has(flag) ? false : undefined;
}

/**
 * The most specific level that sets key with a usable value: every usable value found there (the
 * aggregates of one level may disagree) and its depth. Values that do not parse are ignored, and
 * the reason is pushed to ignored.
 */
function firstSetting(all: readonly Level[], ignored: string[]) {
  return <T>(key: string, parse: (raw: string) => T | undefined, complaint: string): { usable: { value: T; found: Found }[]; depth: number } | undefined => {
    for (const [depth, level] of all.entries()) {
      const usable = level.sources.flatMap((s) => {
        const found = lookup(level.kind, s, key);
        if (!found) return [];
        const value = parse(found.raw);
        if (value === undefined) {
          ignored.push(`${where(found)} ignored: ${complaint}`);
          return [];
        }
        return [{ value, found }];
      });
      if (usable.length > 0) return { usable, depth };
    }
    return undefined;
  };
}

/** Resolves the instance's policy (pure: table-tested in test/unit/ha-policy.test.ts). */
export function resolveHaPolicy(inputs: HaInputs, keys: HaKeys): HaDecision {
  const ignored: string[] = [];
  const unreadBefore = (depth: number, all: readonly Level[]): string[] => all.slice(0, depth).flatMap((l) => (l.unread ? [l.unread] : []));
  const all = levels(inputs);

  const scan = firstSetting(all, ignored);
  const priorityRead = scan(keys.priorityKey, parsePriority, 'not a number');
  const priority = priorityRead && { ...priorityRead.usable.reduce((a, b) => (b.value > a.value ? b : a)), among: priorityRead.usable.length };
  const priorityDepth = priorityRead?.depth ?? all.length;
  const flagRead = scan(keys.selectKey, parseFlag, 'neither true nor false');
  const flag = flagRead && (flagRead.usable.find((u) => !u.value) ?? flagRead.usable[0]!);
  const flagDepth = flagRead?.depth ?? all.length;

  const unread = [...new Set([...unreadBefore(priorityDepth, all), ...unreadBefore(flagDepth, all)])];
  const note = (notes: readonly string[]): string => (notes.length > 0 ? `; ${notes.join('; ')}` : '');
  const priorityNote = note([...unreadBefore(priorityDepth, all), ...ignored]);
  const flagNote = note(unreadBefore(flagDepth, all));
  const priorityFrom = priority
    ? `priority ${priority.value} from ${origin(priority.found.kind, priority.found.name)}${priority.among > 1 ? ` (the highest of ${priority.among} aggregates)` : ''}${priorityNote}`
    : `priority 0 (default: no source sets ${keys.priorityKey})${priorityNote}`;
  const base = { priority: priority?.value ?? 0, priorityFrom, notable: priority !== undefined || unread.length > 0 || ignored.length > 0, ignored, unread };

  if (keys.mode === 'opt-out' && flag?.value === false) return { ...base, evacuate: false, reason: `opted out (${where(flag.found)})${flagNote}` };
  if (keys.mode === 'opt-in' && flag?.value !== true) {
    const why = flag ? `(${where(flag.found)})` : `(opt-in mode needs metadata ${keys.selectKey}=true); its image, flavor or host aggregate may set it too`;
    return { ...base, evacuate: false, reason: `not opted in ${why}${flagNote}` };
  }
  return { ...base, evacuate: true };
}
