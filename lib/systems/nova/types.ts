/**
 * What nova-ha reads from the compute API, in its own names, and the parsers from Nova's JSON.
 */
import { Reply } from './reply.js';

export interface ComputeService {
  /** UUID from microversion 2.53 on. */
  readonly id: string;
  readonly binary: string;
  readonly host: string;
  readonly zone: string | null;
  readonly status: 'enabled' | 'disabled';
  /** Nova's view: 'down' once updated_at is older than service_down_time, or when forced down. */
  readonly state: 'up' | 'down';
  readonly forcedDown: boolean;
  readonly disabledReason: string | null;
  /** Last report of the service (UTC, no zone suffix in Nova's format). */
  readonly updatedAt: string | null;
}

export function parseService(reply: Reply): ComputeService {
  return {
    id: reply.at('id').id(),
    binary: reply.at('binary').string(),
    host: reply.at('host').string(),
    zone: reply.at('zone').optionalString(),
    status: reply.at('status').oneOf(['enabled', 'disabled']),
    state: reply.at('state').oneOf(['up', 'down']),
    forcedDown: reply.at('forced_down').boolean(),
    disabledReason: reply.at('disabled_reason').optionalString(),
    updatedAt: reply.at('updated_at').optionalString(),
  };
}

/** When the service last reported, in ms; Nova writes updated_at in UTC without a zone suffix. */
export function reportedAt(service: Pick<ComputeService, 'updatedAt'>): number | undefined {
  if (!service.updatedAt) return undefined;
  const at = Date.parse(/(Z|[+-]\d\d:?\d\d)$/.test(service.updatedAt) ? service.updatedAt : `${service.updatedAt}Z`);
  return Number.isNaN(at) ? undefined : at;
}

export interface Server {
  readonly id: string;
  readonly name: string;
  /** ACTIVE, SHUTOFF, ERROR, BUILD, REBUILD, MIGRATING ... (UNKNOWN when partial). */
  readonly status: string;
  /** OS-EXT-STS:task_state: null when no task runs (rebuilding while evacuating, migrating ...). */
  readonly taskState: string | null;
  readonly vmState: string | null;
  /** OS-EXT-SRV-ATTR:host: the compute host (null before scheduling). */
  readonly host: string | null;
  readonly projectId: string | null;
  readonly metadata: Readonly<Record<string, string>>;
  readonly locked: boolean | null;
  /**
   * From 2.69, a server in a cell Nova cannot reach is listed with only its ID and status
   * UNKNOWN: nothing about it may be acted on.
   */
  readonly partial: boolean;
  /** Why Nova put it in ERROR (Nova shows the last fault of an ERROR or DELETED server), e.g. "No valid host was found. ...". */
  readonly fault: ServerFault | null;
  /** The Glance image it was booted from; null when booted from a volume. Absent: the reply did not say. */
  readonly imageId?: string | null;
  /** Booted from a volume (imageId null): its root disk takes no room on a host. Absent when imageId is. */
  readonly bootsFromVolume?: boolean;
  /** The flavor as Nova embeds it in the server from microversion 2.47; absent before, or when the reply did not say. */
  readonly flavor?: ServerFlavor;
}

/** A server's flavor: its sizes (what the capacity step counts) and its extra specs (what the HA policy reads). */
export interface ServerFlavor {
  /** original_name: the flavor's name when the server was created or last resized. */
  readonly name: string;
  readonly vcpus: number;
  /** MB */
  readonly ram: number;
  /** GB */
  readonly disk: number;
  /** GB */
  readonly ephemeral: number;
  /** MB */
  readonly swap: number;
  /** null: Nova did not show them (its policy os_compute_api:servers:show:flavor-extra-specs, admin by default). */
  readonly extraSpecs: Readonly<Record<string, string>> | null;
}

const finiteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/**
 * The embedded flavor, read leniently: an odd flavor leaves it unknown (the HA policy reads the
 * other sources, the capacity step estimates nothing) rather than making the server unreadable,
 * which would stop its evacuation. Its name and sizes are required; ephemeral and swap are 0
 * when absent (Nova gives swap as "" for none).
 */
function parseFlavor(raw: unknown): ServerFlavor | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const flavor = raw as Record<string, unknown>;
  const { original_name: name, vcpus, ram, disk } = flavor;
  if (typeof name !== 'string' || !finiteNumber(vcpus) || !finiteNumber(ram) || !finiteNumber(disk)) return undefined;
  const sizeOrZero = (key: string): number => (finiteNumber(flavor[key]) ? flavor[key] : 0);
  const specs = flavor['extra_specs'];
  const extraSpecs = specs !== null && typeof specs === 'object' && !Array.isArray(specs) ? Object.fromEntries(Object.entries(specs).filter((e): e is [string, string] => typeof e[1] === 'string')) : null;
  return { name, vcpus, ram, disk, ephemeral: sizeOrZero('ephemeral'), swap: sizeOrZero('swap'), extraSpecs };
}

/** The image ID of a server reply: an object with an id, or "" for a server booted from a volume. */
function parseImageId(raw: unknown): string | null | undefined {
  if (raw === '' || raw === null) return null;
  if (raw !== undefined && typeof raw === 'object' && !Array.isArray(raw) && typeof (raw as Record<string, unknown>)['id'] === 'string') return (raw as Record<string, string>)['id'];
  return undefined;
}

export interface ServerFault {
  readonly message: string;
  /** The HTTP-like code Nova gives the fault (500 for most, 400 or 404 for some). */
  readonly code: number | null;
}

/** The fault of a server reply: only its message and code, never its details (a traceback, for admins). */
function parseFault(reply: Reply): ServerFault | null {
  if (!reply.has('fault')) return null;
  const fault = reply.at('fault');
  const code = fault.object()['code'];
  return { message: fault.at('message').optionalString() ?? '', code: typeof code === 'number' ? code : null };
}

export function parseServer(reply: Reply): Server {
  const id = reply.at('id').string();
  const status = reply.at('status').string();
  if (status === 'UNKNOWN' && !reply.has('OS-EXT-SRV-ATTR:host')) {
    return { id, name: '', status, taskState: null, vmState: null, host: null, projectId: reply.has('tenant_id') ? reply.at('tenant_id').optionalString() : null, metadata: {}, locked: null, partial: true, fault: null };
  }
  reply.requireKey('OS-EXT-SRV-ATTR:host', 'Nova shows it to admins only: give the nova-ha user the admin role');
  return {
    id,
    name: reply.at('name').optionalString() ?? '',
    status,
    taskState: reply.at('OS-EXT-STS:task_state').optionalString(),
    vmState: reply.at('OS-EXT-STS:vm_state').optionalString(),
    host: reply.at('OS-EXT-SRV-ATTR:host').optionalString(),
    projectId: reply.at('tenant_id').optionalString(),
    metadata: reply.has('metadata') ? reply.at('metadata').stringMap() : {},
    locked: reply.has('locked') ? reply.at('locked').boolean() : null,
    partial: false,
    fault: parseFault(reply),
    ...withImage(parseImageId(reply.object()['image'])),
    ...optional('flavor', parseFlavor(reply.object()['flavor'])),
  };
}

/** The image and whether it boots from a volume, from the one field Nova says both with. */
const withImage = (imageId: string | null | undefined): Pick<Server, 'imageId' | 'bootsFromVolume'> => (imageId === undefined ? {} : { imageId, bootsFromVolume: imageId === null });

const optional = <K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } => (value === undefined ? {} : ({ [key]: value } as { [P in K]?: V }));

/** A host aggregate: its hosts and its metadata (GET /os-aggregates, admin only). */
export interface Aggregate {
  readonly id: string;
  readonly name: string;
  readonly hosts: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
}

export function parseAggregate(reply: Reply): Aggregate {
  const hosts = reply.has('hosts') ? reply.at('hosts').array().map((h) => h.string()) : [];
  // Nova's own metadata (availability_zone) is a string too; any other value type is not ours to read.
  const raw = reply.has('metadata') ? reply.at('metadata').object() : {};
  const metadata = Object.fromEntries(Object.entries(raw).filter((e): e is [string, string] => typeof e[1] === 'string'));
  return { id: reply.at('id').id(), name: reply.at('name').string(), hosts, metadata };
}

/** A Glance image: its name and its properties (GET /v2/images/{id}: the extra properties are top-level strings). */
export interface Image {
  readonly id: string;
  readonly name: string;
  readonly properties: Readonly<Record<string, string>>;
}

/** Glance's own image attributes, which are not properties an operator sets. */
const IMAGE_CORE = new Set(['id', 'name', 'status', 'visibility', 'protected', 'os_hidden', 'checksum', 'os_hash_algo', 'os_hash_value', 'owner', 'size', 'virtual_size', 'min_ram', 'min_disk', 'created_at', 'updated_at', 'tags', 'self', 'file', 'schema', 'disk_format', 'container_format', 'direct_url', 'locations', 'stores']);

export function parseImage(reply: Reply): Image {
  const properties = Object.fromEntries(Object.entries(reply.object()).filter((e): e is [string, string] => !IMAGE_CORE.has(e[0]) && typeof e[1] === 'string'));
  return { id: reply.at('id').string(), name: reply.at('name').optionalString() ?? '', properties };
}

export interface Migration {
  readonly id: string;
  /** From 2.59. */
  readonly uuid: string | null;
  readonly instanceUuid: string;
  /** evacuation, live-migration, migration, resize (from 2.23). */
  readonly migrationType: string | null;
  /** For evacuations: accepted, pre-migrating, done (rebuilt elsewhere), completed (source cleaned up after its restart), failed, error. */
  readonly status: string;
  readonly sourceCompute: string | null;
  readonly destCompute: string | null;
  readonly createdAt: string | null;
  readonly updatedAt: string | null;
}

export function parseMigration(reply: Reply): Migration {
  return {
    id: reply.at('id').id(),
    uuid: reply.has('uuid') ? reply.at('uuid').optionalString() : null,
    instanceUuid: reply.at('instance_uuid').string(),
    migrationType: reply.has('migration_type') ? reply.at('migration_type').optionalString() : null,
    status: reply.at('status').string(),
    sourceCompute: reply.at('source_compute').optionalString(),
    destCompute: reply.at('dest_compute').optionalString(),
    createdAt: reply.at('created_at').optionalString(),
    updatedAt: reply.at('updated_at').optionalString(),
  };
}

export interface ServerAction {
  /** evacuate, live-migration, create, stop ... */
  readonly action: string;
  /** The request ID of the API call that started it (what evacuate returned). */
  readonly requestId: string;
  readonly startTime: string | null;
  /** Set when the action failed ("Error"). */
  readonly message: string | null;
}

export function parseServerAction(reply: Reply): ServerAction {
  return {
    action: reply.at('action').string(),
    requestId: reply.at('request_id').string(),
    startTime: reply.at('start_time').optionalString(),
    message: reply.at('message').optionalString(),
  };
}
