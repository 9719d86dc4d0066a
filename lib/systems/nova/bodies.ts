/**
 * Request bodies whose shape depends on the negotiated microversion. Pure, so every version
 * boundary has a table test.
 */
import { NovaConfigError } from './errors.js';
import { MV, atLeast, formatMicroversion, type Microversion } from './microversion.js';

export interface EvacuateOptions {
  /** Target host; omitted: the scheduler picks (what nova-ha does). */
  readonly host?: string;
  /** Only below 2.14, where Nova requires it: whether the instance disks are on shared storage. */
  readonly onSharedStorage?: boolean;
}

/**
 * {"evacuate": {...}}. From 2.14 onSharedStorage is rejected (Nova finds out itself); "force"
 * (2.29..2.67, rejected from 2.68) is never sent: it would bypass the scheduler's checks.
 */
export function evacuateBody(mv: Microversion, options: EvacuateOptions = {}): { evacuate: Record<string, unknown> } {
  const evacuate: Record<string, unknown> = {};
  if (options.host !== undefined) evacuate['host'] = options.host;
  if (!atLeast(mv, MV.evacuateWithoutSharedStorage)) evacuate['onSharedStorage'] = options.onSharedStorage ?? false;
  return { evacuate };
}

export interface LiveMigrateOptions {
  /** Target host; omitted: the scheduler picks. */
  readonly host?: string;
  /** From 2.25 the default "auto" lets Nova choose; below it nova-ha sends false (shared storage). */
  readonly blockMigration?: boolean | 'auto';
}

/** {"os-migrateLive": {...}}: host null lets the scheduler pick; "force" is never sent. */
export function liveMigrateBody(mv: Microversion, options: LiveMigrateOptions = {}): { 'os-migrateLive': Record<string, unknown> } {
  const host = options.host ?? null;
  if (atLeast(mv, MV.liveMigrateAuto)) {
    return { 'os-migrateLive': { host, block_migration: options.blockMigration ?? 'auto' } };
  }
  if (options.blockMigration === 'auto') {
    throw new NovaConfigError(`live migration with block_migration "auto" needs compute microversion ${MV.liveMigrateAuto}, the cloud speaks ${formatMicroversion(mv)}; pass true or false`);
  }
  return { 'os-migrateLive': { host, block_migration: options.blockMigration ?? false, disk_over_commit: false } };
}

/** Body of PUT /os-services/{id} (2.53+): force down / up, disable with a reason, enable. */
export type ServiceUpdate =
  | { readonly forcedDown: boolean }
  | { readonly forcedDown: true; readonly status: 'disabled'; readonly disabledReason: string }
  | { readonly status: 'disabled'; readonly disabledReason: string }
  | { readonly status: 'enabled' };

export function serviceUpdateBody(mv: Microversion, update: ServiceUpdate): Record<string, unknown> {
  if (!atLeast(mv, MV.servicesById)) {
    throw new NovaConfigError(`updating a compute service by ID needs compute microversion ${MV.servicesById}, the cloud speaks ${formatMicroversion(mv)}; set [nova] microversion_floor = ${MV.servicesById} and upgrade Nova`);
  }
  // Nova limits the reason to 255 characters and rejects longer ones with a 400.
  if ('forcedDown' in update) return 'status' in update ? { forced_down: true, status: 'disabled', disabled_reason: update.disabledReason.slice(0, 255) } : { forced_down: update.forcedDown };
  if (update.status === 'disabled') return { status: 'disabled', disabled_reason: update.disabledReason.slice(0, 255) };
  return { status: 'enabled' };
}
