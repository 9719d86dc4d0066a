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
  /** Its flavor's sizes, which Nova embeds from compute microversion 2.47 on; absent before. */
  readonly flavor?: ServerFlavor;
  /** Booted from a volume (Nova lists its image as ""): its root disk takes no room on a host. */
  readonly bootsFromVolume?: boolean;
}

export interface ServerFlavor {
  readonly vcpus: number;
  /** MB */
  readonly ram: number;
  /** GB */
  readonly disk: number;
  readonly ephemeral: number;
  /** MB */
  readonly swap: number;
  readonly name: string;
}

/** The embedded flavor of a server (2.47+), or undefined when Nova gives only its ID and links. */
function parseFlavor(reply: Reply): ServerFlavor | undefined {
  if (!reply.has('flavor')) return undefined;
  const flavor = reply.at('flavor');
  if (!flavor.has('vcpus')) return undefined;
  const optional = (key: string): number => (flavor.has(key) && typeof flavor.at(key).raw === 'number' ? flavor.at(key).number() : 0);
  return { vcpus: flavor.at('vcpus').number(), ram: flavor.at('ram').number(), disk: flavor.at('disk').number(), ephemeral: optional('ephemeral'), swap: optional('swap'), name: flavor.has('original_name') ? (flavor.at('original_name').optionalString() ?? '') : '' };
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
    ...withFlavor(reply),
  };
}

function withFlavor(reply: Reply): Pick<Server, 'flavor' | 'bootsFromVolume'> {
  const flavor = parseFlavor(reply);
  if (!flavor) return {};
  return { flavor, bootsFromVolume: reply.has('image') && reply.at('image').raw === '' };
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

/** A host aggregate (os-aggregates): the hosts in it and its metadata. */
export interface Aggregate {
  /** The integer ID the aggregate actions take, as a string. */
  readonly id: string;
  readonly name: string;
  readonly availabilityZone: string | null;
  readonly hosts: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
}

export function parseAggregate(reply: Reply): Aggregate {
  return {
    id: reply.at('id').id(),
    name: reply.at('name').string(),
    availabilityZone: reply.has('availability_zone') ? reply.at('availability_zone').optionalString() : null,
    hosts: reply.has('hosts') ? reply.at('hosts').array().map((h) => h.string()) : [],
    metadata: reply.has('metadata') ? reply.at('metadata').stringMap() : {},
  };
}
