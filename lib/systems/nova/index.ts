/** nova-ha's Nova client: import from here. */
export { NovaClient, versionDocumentUrl, type ActionResult, type MigrationFilter, type NovaClientOptions, type NovaSection } from './client.js';
export { NovaError, NovaConfigError, NovaHttpError, NovaReplyError, NovaTransportError } from './errors.js';
export { NEWEST_KNOWN, MV, atLeast, chooseMicroversion, compareMicroversions, parseMicroversion } from './microversion.js';
export type { ComputeService, Migration, Server, ServerAction } from './types.js';
export type { EvacuateOptions, LiveMigrateOptions } from './bodies.js';
export { DEFAULT_RETRY, classifyFailure, type RetryPolicy } from './retry.js';
