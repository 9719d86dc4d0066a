/** The names nova-ha registers in Consul: node metadata, check IDs and user events. */

/** The Consul node meta key install.sh sets on every agent: controller or compute. */
export const ROLE_META = 'nova-ha-role';
/** The node-local nova-compute script check on a compute's mgmt agent (consul.d/compute). */
export const NOVA_COMPUTE_CHECK = 'nova-ha-nova-compute';
/** The controllers' script checks on their mgmt agents. */
export const EVALUATE_CHECK = 'nova-ha-evaluate';
export const NOVA_SERVICES_CHECK = 'nova-ha-nova-services';
export const POWER_CHECK = 'nova-ha-power';
/** The controllers' readiness check (nova-ha doctor): informs operators, the policy never reads it. */
export const DOCTOR_CHECK = 'nova-ha-doctor';
/** Every script check nova-ha registers. */
export const NOVA_HA_CHECKS = [NOVA_COMPUTE_CHECK, EVALUATE_CHECK, NOVA_SERVICES_CHECK, POWER_CHECK] as const;
/** The check Consul adds to a node in maintenance mode. */
export const NODE_MAINTENANCE_CHECK = '_node_maintenance';
/** The user event that carries a controller's signed repair request to a compute node. */
export const REMEDIATION_EVENT = 'nova-ha-remediate';
/**
 * The TTL check a compute's mgmt agent carries when its watchdog self-fence fallback is on: the
 * feeder passes it while the watchdog is armed and fed, its output saying the timeout
 * (lib/systems/watchdog/publication.ts), and fails it before disarming.
 */
export const WATCHDOG_CHECK = 'nova-ha-watchdog';
/** The fence_kdump listener's own name in logs and units. */
export const KDUMP_LISTENER = 'nova-ha-kdump';
