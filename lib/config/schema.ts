import { bool, command, duration, emails, int, interfaceName, list, microversion, oneOf, path, placeholder, secret, str, stormLimit, url, userName, type Option } from './options.js';

export const NETWORKS = ['mgmt', 'storage', 'tenant'] as const;
export type Network = (typeof NETWORKS)[number];

/**
 * Every option nova-ha reads, section by section, in the order of the sample file. The sample
 * (etc/nova-ha.conf.sample) and the config reference are generated from this table, so they
 * cannot drift from what check-config accepts.
 */
export const SCHEMA = {
  DEFAULT: {
    role: oneOf('What this node is: controllers run the watches, the periodic evaluation and the recovery; compute nodes run the nova-compute check and the remediation handler.', ['controller', 'compute'], undefined),
    node_name: str('This node\'s name in Consul, the same in all three clusters. Empty: the machine\'s hostname.', '', 'ctl1'),
    state_dir: path('Local state: the Keystone token cache, the remediation replay guard, poller sessions, handler run counters. Created 0700.', '/var/lib/nova-ha'),
    log_file: path('JSON-lines log, one event per line, appended by every handler. Empty: standard error only (Consul keeps it in its own log).', '/var/log/nova-ha/nova-ha.log'),
    log_level: oneOf('Least severe level written to the log.', ['debug', 'info', 'warning', 'error'], 'info'),
  },
  consul: {
    mgmt_address: url('HTTP API of this node\'s Consul agent on the management network.', ['http', 'https', 'unix'], 'http://127.0.0.1:8500'),
    mgmt_token: secret('ACL token for the management cluster (least-privilege policies: docs/consul-acl/).'),
    storage_address: url('HTTP API of this node\'s Consul agent on the storage network.', ['http', 'https', 'unix'], 'http://127.0.0.1:8510'),
    storage_token: secret('ACL token for the storage cluster.'),
    tenant_address: url('HTTP API of this node\'s Consul agent on the tenant network.', ['http', 'https', 'unix'], 'http://127.0.0.1:8520'),
    tenant_token: secret('ACL token for the tenant cluster.'),
    ca_file: path('CA bundle for https:// agent addresses. Empty: the system\'s CAs.', ''),
    kv_prefix: str('Key prefix for nova-ha\'s state in the management cluster\'s KV store (incidents, locks, maintenance, pause).', 'nova-ha'),
    timeout: duration('Longest wait for one Consul API call. A cluster without a leader answers only after about 7 s, so keep this above 8 s.', '10s', 1000),
  },
  nova: {
    auth_url: url('Keystone v3 URL (controllers only).', ['http', 'https'], undefined, 'https://keystone.example.com:5000/v3'),
    auth_type: oneOf('How nova-ha authenticates to Keystone.', ['password', 'v3applicationcredential'], 'password'),
    username: str('User for auth_type = password. It needs the admin role (force down, evacuate, all-tenants server lists).', '', 'nova-ha'),
    password: secret('Password for auth_type = password.'),
    user_domain_name: str('Domain of the user.', 'Default'),
    project_name: str('Project to scope the token to.', 'admin'),
    project_domain_name: str('Domain of the project.', 'Default'),
    application_credential_id: str('Application credential ID for auth_type = v3applicationcredential.', ''),
    application_credential_secret: secret('Application credential secret for auth_type = v3applicationcredential.'),
    region_name: str('Region whose endpoints to use from the catalog.', 'RegionOne'),
    interface: oneOf('Which catalog endpoint to call.', ['public', 'internal', 'admin'], 'internal'),
    cafile: path('CA bundle for https:// endpoints. Empty: the system\'s CAs.', ''),
    microversion_floor: microversion('Oldest compute API microversion nova-ha accepts (2.53 gives forced_down by service ID). A cloud below it is refused.', '2.53'),
    timeout: duration('Longest wait for one Nova or Keystone API call.', '30s', 1000),
    poll_interval: duration('How often the controllers read Nova\'s compute service list (one API call for all hosts).', '10s', 1000),
  },
  fencing: {
    method: oneOf('How a failed host is fenced before its instances are evacuated. none: never fence; an incident that needs fencing is held for an operator. ipmi: power off with ipmitool ([ipmi]). agent: through the fence levels below, each the built-in ipmitool or a fence agent of the fence-agents family ([fence_agent:NAME]).', ['none', 'ipmi', 'agent'], 'none'),
    levels: list('With method = agent: the fence levels, tried in order, each only when the one before could not verify the power off: ipmi (the built-in ipmitool, [ipmi]) or the NAME of a [fence_agent:NAME] section. A [fencing:HOST] section\'s levels replace these for that host.', '', 'ipmi, pdu'),
    fence_timeout: duration('For each fence level: after the power-off was sent, how long to wait for the BMC (or agent) to report the power off. No level verified it in time: the incident is held and nothing is evacuated.', '60s', 1000),
  },
  ipmi: {
    username: str('BMC user (per-host [ipmi:HOST] sections override it).', '', 'nova-ha'),
    password_file: path('File holding the BMC password (first line), root:<the Consul agents\' group> 0640.', '', '/etc/nova-ha/ipmi.password'),
    password_env: str('Environment variable holding the BMC password, when no password_file is set.', ''),
    address_template: str('BMC address for hosts without their own [ipmi:HOST] section; {host} is replaced by the host name.', '', '{host}-ipmi.example.com'),
    cipher_suite: int('RMCP+ cipher suite (ipmitool -C). Suite 0 accepts any password and is refused.', '3', 1, 17),
    attempt_timeout: duration('Timeout of one IPMI attempt (ipmitool -N).', '2s', 1000),
    retries: int('Retries per IPMI call (ipmitool -R). An unreachable BMC costs attempt_timeout x (retries + 1).', '1', 0, 10),
    poll_interval: duration('How often the controllers read every BMC\'s power state for the Consul checks. Decisions always read it afresh; a worker watching a host that stays down reads its BMC every second at first, then ever less often, down to once per this interval.', '30s', 1000),
    poll_concurrency: int('How many BMCs one controller reads at once.', '16', 1, 256),
  },
  policy: {
    confirmation_window: duration('A failure must persist this long before anything is done (a flap shorter than this is ignored).', '10s'),
    api_down_wait: duration('When only Nova\'s API thinks nova-compute is down, wait this long (and warn) before restarting it. Counted from when its management network was last back: nova-compute reconnects to the message bus by itself after a cut.', '60s'),
    repair_timeout: duration('After a repair (storage network or nova-compute restart), how long the health state has to recover before the host is fenced.', '60s', 1000),
    boot_timeout: duration('After powering a host on, how long it has to rejoin all three networks healthy before it is treated as off and evacuated.', '300s', 1000),
    startup_quiet_period: duration('After a controller\'s Consul agent starts, nothing is done for this long: a whole cloud booting at once looks like a mass failure.', '120s'),
    storm_limit: stormLimit('When more hosts than this are failed at once on any one network (or down in Nova\'s API), nothing is repaired or fenced: nova-ha holds and sends one alert, and acts again by itself once the storm is over. A count or a percentage of all compute hosts.', '10%'),
    evaluate_interval: duration('How often each controller re-evaluates every host (watches can miss transitions during a Consul leader change).', '15s', 1000),
    max_workers: int('How many recovery workers one controller runs at once. More hosts that need one wait in a queue, most urgent first (a fence under way, new fences, repairs, closing, confirming, alerts), so a mass failure never starts a process per host. Each controller has its own cap.', '16', 1, 256),
  },
  evacuation: {
    concurrency: int('How many evacuate (or live-migrate) calls may wait for Nova\'s answer at once. Instances Nova has accepted do not count: they are confirmed together, one server list per look.', '16', 1, 64),
    mode: oneOf('opt-out: evacuate every instance except those that set select_key to false. opt-in: only those that set it to true.', ['opt-out', 'opt-in'], 'opt-out'),
    select_key: str("Key for opting in or out, read from the instance's metadata, its image's properties, its flavor's extra specs (there also as nova_ha:KEY) and its host aggregates' metadata; the most specific wins (docs/architecture.md).", 'nova_ha_evacuate'),
    priority_key: str('Key holding a numeric priority, read from the same places as select_key: higher values are evacuated first.', 'nova_ha_priority'),
    retries: int('Retries of one instance\'s evacuation after a transient failure.', '3', 0, 20),
    instance_timeout: duration('How long one instance may take to become ACTIVE (or SHUTOFF) elsewhere.', '300s', 1000),
    live_migrate_on_tenant_failure: bool('When a host loses only its tenant network, live-migrate its instances away (each confirmed).', 'false'),
  },
  capacity: {
    check: bool('Controllers: before evacuating, estimate from Placement whether the usable compute hosts (enabled, up, not forced down, without an open nova-ha incident, in the failed host\'s availability zone) have room for the failed host\'s instances. Short of room, the highest priorities that fit are evacuated and the rest held, with what is missing, until room returns. Placement unreadable: everything is evacuated as without the check, and the operators are told the room was not estimated.', 'true'),
    placement_endpoint: url('Placement API URL. Empty: the placement endpoint of the Keystone catalog ([nova] region_name and interface).', ['http', 'https'], undefined, 'https://placement.example.com:8778'),
    retry_attempts: int('How many times the periodic evaluation evacuates again, by itself, the instances a fenced host left behind (held for room, No valid host, ended in ERROR) when room appears. 0: never; an operator runs nova-ha evacuate.', '5', 0, 100),
    retry_backoff: duration('The least time between two such attempts, doubled after each attempt (at most 16 times this).', '60s', 1000),
    spare_hosts: list('Controllers: compute hosts kept disabled in Nova as spares (Masakari\'s reserved hosts). They never count as room for anything else. When the capacity check (check = true) finds that a failed host\'s instances do not fit on the usable hosts, nova-ha enables as many spares as the shortfall needs (by their free room in Placement), one incident per spare (a claim in KV), and evacuates. They stay in service until an operator gives them back with "nova-ha spares return HOST" once empty ("nova-ha unfence" of the failed host gives back at once those already empty). Empty: no spares.', '', 'cmp9, cmp10'),
    spare_aggregates: bool('Controllers: add a lent spare to every host aggregate the failed host is in (as Masakari\'s add_reserved_host_to_aggregate), so instances bound to an aggregate can land on it; it is removed from those aggregates again when it is given back.', 'false'),
  },
  notifications: {
    smtp_host: str('SMTP server. Empty: no email.', '', 'smtp.example.com'),
    smtp_port: int('SMTP port.', '25', 1, 65535),
    smtp_tls: oneOf('none: plain SMTP; starttls: upgrade the connection (required); tls: TLS from the start (port 465).', ['none', 'starttls', 'tls'], 'starttls'),
    smtp_username: str('SMTP user. Empty: no authentication.', ''),
    smtp_password: secret('SMTP password.'),
    smtp_cafile: path('CA bundle for the SMTP server\'s certificate. Empty: the system\'s CAs.', ''),
    from: str('Sender address.', 'nova-ha@localhost', 'nova-ha@example.com'),
    to: emails('Recipients (the operators).', 'cloud-ops@example.com'),
    subject_prefix: str('Start of every subject line.', '[nova-ha]'),
    webhook_url: url('POST every notification as JSON to this URL as well. Empty: no webhook.', ['http', 'https'], undefined, 'https://chat.example.com/hooks/nova-ha'),
    webhook_token: secret('Sent as "Authorization: Bearer <token>" to the webhook.'),
    dedupe_window: duration('The same event for the same host is sent once within this window.', '10m'),
    retry_for: duration('How long a failed send is retried in the background before it is logged as lost.', '5m', 1000),
  },
  remediation: {
    hmac_key: secret('Shared key (same on every node) that authenticates repair requests sent through Consul events. At least 32 characters. To change it, see "Rotating the repair key" in docs/security.md.'),
    hmac_previous_key: secret('Compute nodes, during a key rotation only: a repair request signed with this key is accepted too. Empty otherwise.'),
    max_age: duration('A repair request older than this (or dated this far in the future) is refused: replays and skewed clocks.', '60s', 1000),
    storage_interface: interfaceName('Compute nodes: the storage network\'s interface. The storage repair touches only this interface: restarting every interface would cut mgmt too, and that self-inflicted blip can turn a storage repair into a fence. After a storage repair the node reports this interface\'s state (up, with the storage agent\'s address). Empty: the storage network is not repaired.', 'bond1'),
    restart_storage_network: command('Compute nodes: the storage repair, run through sudo with exactly these arguments (no shell); {storage_interface} stands for storage_interface. The default sets the interface up again and touches nothing else (docs/install.md, "The storage repair", has the ifupdown and systemd-networkd forms). Empty: this repair is not allowed.', `/usr/sbin/ip link set dev ${placeholder('storage_interface')} up`, undefined, ['storage_interface']),
    restart_nova_compute: command('Compute nodes: the command that restarts nova-compute, run through sudo with exactly these arguments (no shell). Empty: this repair is not allowed.', '/usr/bin/systemctl restart nova-compute'),
    run_as: userName('User the Consul agents run as (the handlers run as this user): install.sh makes this file readable by its group and, on compute nodes, grants it exactly the commands above through sudo.', 'consul'),
    settle_time: duration('Compute nodes: after a repair command returns, how long the node checks whether it helped (a majority of the storage cluster\'s servers reachable from its storage address; nova-compute still running) before it reports to the controllers. A report that the repair did not help, was refused or failed makes the controller escalate at once instead of waiting out repair_timeout. Keep it well below repair_timeout. 0: no check, the report says only that the command ran.', '5s'),
  },
  nova_compute: {
    check_interval: duration('Compute nodes: how often Consul runs the nova-compute check.', '5s', 1000),
    systemd_unit: str('Compute nodes: the nova-compute systemd unit. Empty: do not ask systemd.', 'nova-compute.service'),
    process_name: str('Compute nodes: the nova-compute process name looked for in /proc. Empty: do not look.', 'nova-compute'),
    pid_file: path('Compute nodes: a file holding nova-compute\'s PID; when set, only that process counts (for hosts that run several nodes side by side, like nova-ha\'s lab). Empty: any process of that name.', ''),
  },
  watchdog: {
    enabled: bool('Watchdog self-fence fallback (opt-in, docs/fencing.md). Compute nodes: install.sh installs the nova-ha-watchdog service, which arms the device and feeds it only while this node\'s Consul agents are seen alive on mgmt or storage by that cluster\'s leader (and required_checks pass); a node cut off is reset within timeout. Controllers: a host failed on every network whose BMC cannot confirm the power off counts as fenced if its watchdog was armed, once its last contact + 2 x timeout + margin has passed.', 'false'),
    device: path('Compute nodes: the watchdog device. It must report its timeout in sysfs, as /dev/watchdogN does (/sys/class/watchdog/watchdogN/timeout).', '/dev/watchdog0'),
    timeout: duration('Compute nodes: the watchdog\'s timeout, as its driver is set (softdog soft_margin, wdctl --settimeout); the service refuses to arm a device that reports another. Keep it well above the longest Consul leader election: a node that cannot read its own health from a leader of mgmt or storage for this long is reset.', '60s', 3000),
    required_checks: list('Compute nodes: IDs of checks on this node\'s mgmt agent that must be passing for the watchdog to be fed (e.g. nova-ha-nova-compute). Empty: none.', ''),
    margin: duration('Controllers: added to the last contact + 2 x timeout before a host whose BMC cannot confirm the power off counts as reset by its watchdog (clocks of the controllers, a device that fires late).', '30s'),
  },
  kdump: {
    enabled: bool('Controllers: install.sh installs the nova-ha-kdump service, which listens for fence_kdump messages (fence-agents\' fence_kdump_send in a crashed host\'s kdump kernel). A host failed on every network that sends them from its own address counts as down: its instances are evacuated at once and its power-off waits until the dump ends. The messages carry no authentication: enable this only where no one else can send from the hosts\' addresses.', 'false'),
    listen_address: str('Address the listener binds (0.0.0.0: every network, as fence_kdump does).', '0.0.0.0'),
    port: int('UDP port of the listener (fence_kdump_send -p).', '7410', 1, 65535),
    interval: duration('The interval of the hosts\' fence_kdump_send (-i; fence_kdump_args in kdump.conf): the dump counts as ended after three intervals without a message.', '10s', 1000),
    first_message_wait: duration('After the confirmation window, how long a host failed on every network is given to send its first message before it is fenced the usual way (Pacemaker\'s fence_kdump waits 60 s). 0s: only a message that came within the confirmation window counts.', '0s'),
    timeout: duration('The longest the power-off of a dumping host waits for its dump to end (kdump_timeout), counted from when the power-off was deferred.', '600s', 1000),
  },
  metrics: {
    textfile_path: path('Prometheus metrics for node_exporter\'s textfile collector, written atomically. Empty: no metrics.', '', '/var/lib/prometheus/node-exporter/nova-ha.prom'),
  },
} as const satisfies Record<string, Record<string, Option<unknown>>>;

/** Per-host BMC settings: a section [ipmi:HOST] for each host that needs its own. */
export const IPMI_HOST_SCHEMA = {
  address: str('BMC address (IP or DNS name) of HOST.', undefined, '10.0.9.21'),
  username: str('BMC user of HOST.', undefined),
  password_file: path('File holding HOST\'s BMC password.', undefined),
  password_env: str('Environment variable holding HOST\'s BMC password.', undefined),
  cipher_suite: int('Cipher suite for HOST\'s BMC.', undefined, 1, 17),
} as const satisfies Record<string, Option<unknown>>;

export const IPMI_HOST_PREFIX = 'ipmi:';

/** A fence device run through a fence agent: a section [fence_agent:NAME] for each, named in [fencing] levels. */
export const FENCE_AGENT_SCHEMA = {
  agent: str('The fence agent: a name from fence-agents (fence_redfish, fence_ipmilan, fence_apc, ...), found in /usr/sbin, or an absolute path. It is run with no arguments and its options on standard input (the fence-agents stdin protocol).', '', 'fence_redfish'),
  options: str('The agent\'s options as key=value words ({host} is replaced by the host name), given on its standard input with action= and nodename=. Not the password: see password_file.', '', 'ip={host}-bmc.example.com systems_uri=/redfish/v1/Systems/1'),
  password_file: path('File holding this device\'s password (first line), root:<the Consul agents\' group> 0640, given to the agent as password= on its standard input, never in its arguments.', ''),
  timeout: duration('Longest run of one agent call; the agent\'s own power_timeout (20 s by default) must fit in it.', '30s', 1000),
} as const satisfies Record<string, Option<unknown>>;

export const FENCE_AGENT_PREFIX = 'fence_agent:';

/** Per-host options of a fence device: a section [fence_agent:NAME:HOST], merged over [fence_agent:NAME]. */
export const FENCE_AGENT_HOST_SCHEMA = {
  options: str('HOST\'s own key=value options for this device (e.g. plug=3 on a PDU); each replaces the device\'s option of the same key.', undefined, 'plug=3'),
} as const satisfies Record<string, Option<unknown>>;

/** Per-host fencing: a section [fencing:HOST]. */
export const FENCING_HOST_SCHEMA = {
  levels: list('HOST\'s own fence levels (with [fencing] method = agent), in place of [fencing] levels.', undefined, 'ipmi, pdu'),
} as const satisfies Record<string, Option<unknown>>;

export const FENCING_HOST_PREFIX = 'fencing:';
