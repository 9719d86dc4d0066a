/**
 * systems/nova: nova-ha's client of Keystone and Nova's compute API: import from here.
 *
 * Owns logging in (password or application credential, a token cache per local user), the service
 * catalog and microversion negotiation, retries of transient failures only, errors that carry
 * Nova's message and request ID, and the calls nova-ha makes (services, servers, evacuate, live
 * migrate, migrations), and what the HA policy reads: host aggregates and Glance images.
 *
 * May import only config/ and shared/. Must never import decision/, state/, recovery/, operator/,
 * handlers/ or cli/ (test/unit/import-direction.test.ts).
 */
export { NovaClient, versionDocumentUrl, type ActionResult, type ClockReading, type ProbeAnswer, type MigrationFilter, type NovaClientOptions, type NovaSection } from './client.js';
export { NovaError, NovaConfigError, NovaHttpError, NovaReplyError, NovaTransportError } from './errors.js';
export { NEWEST_KNOWN, MV, atLeast, chooseMicroversion, compareMicroversions, parseMicroversion } from './microversion.js';
export type { Aggregate, ComputeService, Image, Migration, Server, ServerAction, ServerFlavor } from './types.js';
export type { EvacuateOptions, LiveMigrateOptions } from './bodies.js';
export { PLACEMENT_MICROVERSION, PlacementClient, type PlacementInventory, type ResourceProvider } from './placement.js';
export { DEFAULT_RETRY, classifyFailure, type RetryPolicy } from './retry.js';
