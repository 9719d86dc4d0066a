/**
 * Compute API microversions: parsing, comparing, and choosing the one to speak.
 *
 * nova-ha speaks the newest version the cloud offers, up to the newest it was written and tested
 * against: a newer microversion may change a reply's shape or a call's meaning (2.95 makes an
 * evacuated server end up stopped), so code must not opt into one it has not seen.
 */
import { NovaConfigError, NovaReplyError } from './errors.js';

export interface Microversion {
  readonly major: number;
  readonly minor: number;
}

/** The newest compute microversion this code knows (Zed's maximum). */
export const NEWEST_KNOWN = '2.93';

/** Where the compute API's behaviour that nova-ha relies on changes. */
export const MV = {
  /** evacuate: onSharedStorage is gone; the host is optional. */
  evacuateWithoutSharedStorage: '2.14',
  /** os-migrations: migration_type filter. */
  migrationTypeFilter: '2.23',
  /** os-migrateLive: block_migration "auto", disk_over_commit gone. */
  liveMigrateAuto: '2.25',
  /** os-services by UUID: PUT /os-services/{id} with forced_down / status. */
  servicesById: '2.53',
  /** os-migrations: uuid field, pagination (limit, marker, migrations_links). */
  migrationsPaginated: '2.59',
  /** evacuate and os-migrateLive: "force" is rejected. */
  forceRemoved: '2.68',
  /** Servers in a cell that cannot be reached come back partial (status UNKNOWN). */
  partialServers: '2.69',
  /** os-migrations: user_id / project_id filters. */
  migrationsByProject: '2.80',
} as const;

export function parseMicroversion(text: string): Microversion {
  const match = /^\s*(\d+)\.(\d+)\s*$/.exec(text);
  if (!match) throw new NovaReplyError(`"${text}" is not a microversion (expected MAJOR.MINOR such as 2.53)`);
  return { major: Number(match[1]), minor: Number(match[2]) };
}

export const formatMicroversion = (mv: Microversion): string => `${mv.major}.${mv.minor}`;

/** Negative when a is older than b, 0 when equal, positive when newer. */
export function compareMicroversions(a: Microversion | string, b: Microversion | string): number {
  const x = typeof a === 'string' ? parseMicroversion(a) : a;
  const y = typeof b === 'string' ? parseMicroversion(b) : b;
  return x.major !== y.major ? x.major - y.major : x.minor - y.minor;
}

/** mv is at least `since`. */
export const atLeast = (mv: Microversion | string, since: Microversion | string): boolean => compareMicroversions(mv, since) >= 0;

export interface VersionRange {
  /** The oldest microversion the cloud accepts ("min_version"). */
  readonly min: Microversion;
  /** The newest microversion the cloud accepts ("version"). */
  readonly max: Microversion;
}

/**
 * Reads the range from the compute API's version document: {"version": {...}} from the v2.1
 * endpoint, or {"versions": [...]} from the unversioned root. An empty "version" means a cloud
 * without microversions (only 2.1).
 */
export function versionRangeFromDocument(document: unknown, where: string): VersionRange {
  const fail = (what: string): never => {
    throw new NovaReplyError(`${where}: the compute version document ${what}; is the catalog's compute endpoint the v2.1 API?`);
  };
  if (!document || typeof document !== 'object') return fail('is not a JSON object');
  const doc = document as { version?: unknown; versions?: unknown };
  let entry: unknown = doc.version;
  if (entry === undefined && Array.isArray(doc.versions)) entry = doc.versions.find((v) => (v as { id?: unknown })?.id === 'v2.1');
  if (!entry || typeof entry !== 'object') return fail('has no v2.1 entry');
  const { version, min_version: minVersion } = entry as { version?: unknown; min_version?: unknown };
  if (typeof version !== 'string' || typeof minVersion !== 'string') return fail('lacks version/min_version strings');
  if (version === '') return { min: { major: 2, minor: 1 }, max: { major: 2, minor: 1 } };
  return { min: parseMicroversion(minVersion), max: parseMicroversion(version) };
}

/**
 * The microversion to speak: the newest both sides know. Refuses a cloud whose newest is below
 * the configured floor (forced_down by service ID needs 2.53), or whose oldest is above ours.
 */
export function chooseMicroversion(cloud: VersionRange, floor: string, newestKnown: string = NEWEST_KNOWN): Microversion {
  const known = parseMicroversion(newestKnown);
  const minimum = parseMicroversion(floor);
  if (compareMicroversions(minimum, known) > 0) {
    throw new NovaConfigError(`[nova] microversion_floor = ${floor} is newer than the newest microversion nova-ha knows (${newestKnown}); lower microversion_floor`);
  }
  if (compareMicroversions(cloud.max, minimum) < 0) {
    throw new NovaConfigError(`Nova offers compute microversions ${formatMicroversion(cloud.min)} to ${formatMicroversion(cloud.max)}, below [nova] microversion_floor = ${floor}; upgrade Nova (Pike or newer gives 2.53) or lower microversion_floor`);
  }
  if (compareMicroversions(cloud.min, known) > 0) {
    throw new NovaConfigError(`Nova's oldest compute microversion ${formatMicroversion(cloud.min)} is newer than the newest nova-ha knows (${newestKnown}); upgrade nova-ha`);
  }
  return compareMicroversions(cloud.max, known) < 0 ? cloud.max : known;
}
