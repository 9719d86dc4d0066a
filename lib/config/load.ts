import { accessSync, constants, readFileSync } from 'node:fs';
import { decode } from 'ini';
import { FENCE_AGENT_HOST_SCHEMA, FENCE_AGENT_PREFIX, FENCE_AGENT_SCHEMA, FENCING_HOST_PREFIX, FENCING_HOST_SCHEMA, IPMI_HOST_PREFIX, IPMI_HOST_SCHEMA, SCHEMA } from './schema.js';
import { PLACEHOLDER } from './sample.js';
import { placeholder, type Option, type OptionValue } from './options.js';

export const DEFAULT_CONFIG_PATH = '/etc/nova-ha/nova-ha.conf';

type Schema = typeof SCHEMA;
type SectionValues<S> = { readonly [K in keyof S]: OptionValue<S[K]> };
export type IpmiHostConfig = Partial<SectionValues<typeof IPMI_HOST_SCHEMA>>;
export type FenceAgentConfig = SectionValues<typeof FENCE_AGENT_SCHEMA>;
export type FenceAgentHostConfig = Partial<SectionValues<typeof FENCE_AGENT_HOST_SCHEMA>>;
export type FencingHostConfig = Partial<SectionValues<typeof FENCING_HOST_SCHEMA>>;
export type Config = { readonly [S in keyof Schema]: SectionValues<Schema[S]> } & {
  readonly ipmiHosts: ReadonlyMap<string, IpmiHostConfig>;
  /** [fence_agent:NAME] sections, by NAME. */
  readonly fenceAgents: ReadonlyMap<string, FenceAgentConfig>;
  /** [fence_agent:NAME:HOST] sections: by NAME, then by HOST. */
  readonly fenceAgentHosts: ReadonlyMap<string, ReadonlyMap<string, FenceAgentHostConfig>>;
  /** [fencing:HOST] sections, by HOST. */
  readonly fencingHosts: ReadonlyMap<string, FencingHostConfig>;
  /** The file the config came from, for messages. */
  readonly source: string;
};

/** One problem in a config file: check-config prints one line per problem. */
export interface ConfigProblem {
  readonly section: string;
  readonly key?: string;
  readonly message: string;
  /** Warnings are printed but do not make the config invalid. */
  readonly warning?: boolean;
}

export function formatProblem(problem: ConfigProblem): string {
  const where = problem.section ? `[${problem.section}]` : '';
  const text = problem.key === undefined ? `${where} ${problem.message}`.trim() : `${where} ${problem.key}: ${problem.message}`.trim();
  return problem.warning ? `warning: ${text}` : text;
}

export const errorsOf = (problems: readonly ConfigProblem[]): ConfigProblem[] => problems.filter((p) => !p.warning);

export class ConfigError extends Error {
  constructor(readonly source: string, readonly problems: readonly ConfigProblem[]) {
    super(`${source}: ${problems.map(formatProblem).join('; ')} (run: nova-ha check-config --config ${source})`);
    this.name = 'ConfigError';
  }
}

/** --config FILE wins, then NOVA_HA_CONFIG, then /etc/nova-ha/nova-ha.conf. */
export function configPath(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  return explicit ?? env['NOVA_HA_CONFIG'] ?? DEFAULT_CONFIG_PATH;
}

export interface LoadResult {
  readonly config?: Config;
  readonly problems: readonly ConfigProblem[];
}

export function loadConfigFile(file: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    const fix = code === 'ENOENT' ? 'create it from etc/nova-ha.conf.sample or pass --config FILE' : 'check its owner and mode (root:<the Consul agents\' group> 0640: install.sh sets it)';
    return { problems: [{ section: '', message: `cannot read the config file (${code}); ${fix}` }] };
  }
  return parseConfig(text, file);
}

/** Loads and validates, or throws one ConfigError naming every problem: what handlers use. */
export function requireConfig(explicit?: string): Config {
  const file = configPath(explicit);
  const result = loadConfigFile(file);
  if (!result.config || errorsOf(result.problems).length > 0) throw new ConfigError(file, errorsOf(result.problems));
  return result.config;
}

const found = (option: Option<unknown>, raw: string): string => (option.secret ? 'found *** (hidden)' : `found "${raw}"`);

export function parseConfig(text: string, source = '<text>'): LoadResult {
  const problems: ConfigProblem[] = [];
  problems.push(...duplicateKeys(text));
  const tree = decode(text) as Record<string, unknown>;
  const sections = new Map<string, Record<string, unknown>>();
  for (const [name, value] of Object.entries(tree)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [sectionName, section] of flattenDottedSections(name, value as Record<string, unknown>)) sections.set(sectionName, section);
    } else {
      problems.push({ section: '', key: name, message: 'option outside any section; put it under [DEFAULT] or the section it belongs to' });
    }
  }

  const values: Record<string, Record<string, unknown>> = {};
  for (const [sectionName, options] of Object.entries(SCHEMA) as [string, Record<string, Option<unknown>>][]) {
    values[sectionName] = readSection(sectionName, options, sections.get(sectionName) ?? {}, problems);
  }
  const ipmiHosts = new Map<string, IpmiHostConfig>();
  const fenceAgents = new Map<string, FenceAgentConfig>();
  const fenceAgentHosts = new Map<string, Map<string, FenceAgentHostConfig>>();
  const fencingHosts = new Map<string, FencingHostConfig>();
  for (const [sectionName, raw] of sections) {
    if (sectionName in SCHEMA) continue;
    if (sectionName.startsWith(IPMI_HOST_PREFIX) && sectionName.length > IPMI_HOST_PREFIX.length) {
      const host = readSection(sectionName, IPMI_HOST_SCHEMA, raw, problems, true);
      ipmiHosts.set(sectionName.slice(IPMI_HOST_PREFIX.length), host as IpmiHostConfig);
      continue;
    }
    if (sectionName.startsWith(FENCING_HOST_PREFIX) && sectionName.length > FENCING_HOST_PREFIX.length) {
      fencingHosts.set(sectionName.slice(FENCING_HOST_PREFIX.length), readSection(sectionName, FENCING_HOST_SCHEMA, raw, problems, true) as FencingHostConfig);
      continue;
    }
    if (sectionName.startsWith(FENCE_AGENT_PREFIX)) {
      const [name = '', host] = splitOnce(sectionName.slice(FENCE_AGENT_PREFIX.length), ':');
      if (!FENCE_DEVICE_NAME.test(name) || name === 'ipmi' || host === '') {
        problems.push({ section: sectionName, message: 'expected [fence_agent:NAME] or [fence_agent:NAME:HOST], NAME of letters, digits, _ and - (not "ipmi", the built-in level)' });
      } else if (host === undefined) {
        fenceAgents.set(name, readSection(sectionName, FENCE_AGENT_SCHEMA, raw, problems) as FenceAgentConfig);
      } else {
        const perHost = fenceAgentHosts.get(name) ?? new Map<string, FenceAgentHostConfig>();
        perHost.set(host, readSection(sectionName, FENCE_AGENT_HOST_SCHEMA, raw, problems, true) as FenceAgentHostConfig);
        fenceAgentHosts.set(name, perHost);
      }
      continue;
    }
    const guess = closest(sectionName, Object.keys(SCHEMA));
    problems.push({ section: sectionName, message: `unknown section${guess ? ` (did you mean [${guess}]?)` : ''}; known: ${Object.keys(SCHEMA).map((s) => `[${s}]`).join(' ')}, [ipmi:HOST], [fencing:HOST], [fence_agent:NAME] and [fence_agent:NAME:HOST]` });
  }

  // A key whose value was already refused needs no second line saying it is missing.
  const reported = new Set(problems.map((p) => `${p.section}\u0000${p.key}`));
  problems.push(...resolveStorageRepair(values, sections.get('remediation') ?? {}).filter((p) => !reported.has(`${p.section}\u0000${p.key}`)));
  const config = { ...values, ipmiHosts, fenceAgents, fenceAgentHosts, fencingHosts, source } as unknown as Config;
  problems.push(...crossCheck(config).filter((p) => !reported.has(`${p.section}\u0000${p.key}`)));
  return { config, problems };
}

const FENCE_DEVICE_NAME = /^[A-Za-z0-9_-]+$/;

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

function readSection(name: string, options: Record<string, Option<unknown>>, raw: Record<string, unknown>, problems: ConfigProblem[], sparse = false): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const option = options[key];
    if (!option) {
      const guess = closest(key, Object.keys(options));
      problems.push({ section: name, key, message: `unknown option${guess ? ` (did you mean ${guess}?)` : ''}` });
      continue;
    }
    if (Array.isArray(value)) {
      problems.push({ section: name, key, message: 'expected one value, found a list (key[] = ...); write the option once' });
      continue;
    }
    const text = value === true && !option.kind.startsWith('boolean') ? '' : String(value);
    if (text.trim() === '') {
      if (option.emptyIsValue) out[key] = option.empty;
      continue;
    }
    const parsed = option.parse(text);
    if (parsed.ok) out[key] = parsed.value;
    else problems.push({ section: name, key, message: `expected ${parsed.expected}, ${found(option, text)}` });
  }
  if (sparse) return out;
  for (const [key, option] of Object.entries(options)) {
    if (key in out) continue;
    const fallback = option.defaultText === undefined || option.defaultText === '' ? undefined : option.parse(option.defaultText);
    out[key] = fallback?.ok ? fallback.value : option.empty;
  }
  return out;
}

/**
 * The storage repair names its interface through {storage_interface}. Without an interface the
 * default means "no storage repair"; a command written out with the placeholder needs one.
 */
function resolveStorageRepair(values: Record<string, Record<string, unknown>>, raw: Record<string, unknown>): ConfigProblem[] {
  const remediation = values['remediation']!;
  const argv = remediation['restart_storage_network'] as string[];
  const token = placeholder('storage_interface');
  const iface = remediation['storage_interface'] as string;
  if (argv.some((arg) => arg.includes(token))) {
    remediation['restart_storage_network'] = iface ? argv.map((arg) => arg.replaceAll(token, iface)) : [];
    if (!iface && 'restart_storage_network' in raw) return [{ section: 'remediation', key: 'storage_interface', message: `expected the storage network's interface (e.g. bond1), since restart_storage_network uses ${token}, found nothing` }];
  }
  if (values['DEFAULT']!['role'] === 'compute' && !iface && !('restart_storage_network' in raw)) {
    return [{ section: 'remediation', key: 'storage_interface', warning: true, message: 'not set, so this node\'s storage network is never repaired (a storage failure is fenced without a repair); set it to the storage interface (e.g. bond1), or write "restart_storage_network =" to say so' }];
  }
  return [];
}

/** ini nests [a.b] into {a: {b: ...}}; host names contain dots, so put the dots back. */
function flattenDottedSections(name: string, section: Record<string, unknown>): [string, Record<string, unknown>][] {
  const own: Record<string, unknown> = {};
  const nested: [string, Record<string, unknown>][] = [];
  for (const [key, value] of Object.entries(section)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) nested.push(...flattenDottedSections(`${name}.${key}`, value as Record<string, unknown>));
    else own[key] = value;
  }
  return Object.keys(own).length > 0 || nested.length === 0 ? [[name, own], ...nested] : nested;
}

function duplicateKeys(text: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  let section = '';
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*([;#]|$)/.test(line)) continue;
    const header = /^\s*\[([^\]]*)\]\s*$/.exec(line);
    if (header) {
      section = header[1]!.trim();
      continue;
    }
    const key = /^([^=]+)=/.exec(line)?.[1]?.trim();
    if (!key || key.endsWith('[]')) continue;
    const id = `${section}\u0000${key}`;
    if (seen.has(id)) problems.push({ section, key, message: 'set more than once; only the last value would count, so keep one' });
    seen.add(id);
  }
  return problems;
}

function readable(file: string): boolean {
  try {
    accessSync(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** Rules that span options: what each role needs, and combinations that would leak or fail. */
function crossCheck(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const missing = (section: string, key: string, why: string): void => {
    problems.push({ section, key, message: `expected a value ${why}, found nothing` });
  };
  const role = config.DEFAULT.role;
  if (role === undefined) missing('DEFAULT', 'role', '(controller or compute)');

  for (const [section, key, value] of [['nova', 'password', config.nova.password], ['remediation', 'hmac_key', config.remediation.hmac_key]] as const) {
    if (value.reveal().includes(PLACEHOLDER)) problems.push({ section, key, warning: true, message: `still the sample's placeholder; set the real value${key === 'hmac_key' ? ' (generate one with: openssl rand -hex 32)' : ''}` });
  }
  const hmac = config.remediation.hmac_key;
  if (hmac.isEmpty) missing('remediation', 'hmac_key', 'of at least 32 characters (the same on every node; it authenticates repair requests)');
  else if (hmac.reveal().length < 32) problems.push({ section: 'remediation', key: 'hmac_key', message: `expected at least 32 characters, found ${hmac.reveal().length} characters (value hidden)` });
  const previous = config.remediation.hmac_previous_key;
  if (!previous.isEmpty && previous.reveal().length < 32) problems.push({ section: 'remediation', key: 'hmac_previous_key', message: `expected at least 32 characters (the key being replaced), found ${previous.reveal().length} characters (value hidden)` });

  if (role === 'compute' && restartsEveryInterface(config.remediation.restart_storage_network)) {
    problems.push({ section: 'remediation', key: 'restart_storage_network', warning: true, message: `"${config.remediation.restart_storage_network.join(' ')}" restarts every interface, mgmt included, and a host seen down on storage and mgmt is fenced: the repair could cause the fence; set storage_interface and leave restart_storage_network unset (docs/install.md, "The storage repair")` });
  }
  if (role === 'controller') {
    const nova = config.nova;
    if (!nova.auth_url) missing('nova', 'auth_url', '(the Keystone v3 URL) on a controller');
    if (nova.auth_type === 'password') {
      if (!nova.username) missing('nova', 'username', 'for auth_type = password');
      if (nova.password.isEmpty) missing('nova', 'password', 'for auth_type = password');
    } else {
      if (!nova.application_credential_id) missing('nova', 'application_credential_id', 'for auth_type = v3applicationcredential');
      if (nova.application_credential_secret.isEmpty) missing('nova', 'application_credential_secret', 'for auth_type = v3applicationcredential');
    }
    const notify = config.notifications;
    if (!notify.smtp_host && !notify.webhook_url) missing('notifications', 'smtp_host', 'or a webhook_url (otherwise nova-ha could tell no one what it did)');
    if (notify.smtp_host && notify.to.length === 0) missing('notifications', 'to', 'when smtp_host is set');
    if (notify.smtp_username && notify.smtp_tls === 'none') problems.push({ section: 'notifications', key: 'smtp_tls', message: 'expected starttls or tls when smtp_username is set, found "none" (the password would cross the network in clear)' });
    if (config.fencing.method === 'ipmi' || (config.fencing.method === 'agent' && usesIpmiLevel(config))) problems.push(...ipmiProblems(config));
    if (config.fencing.method === 'agent') problems.push(...levelProblems(config));
    if (config.fencing.method === 'none') {
      if (config.watchdog.enabled) problems.push({ section: 'watchdog', key: 'enabled', warning: true, message: 'has no effect on a controller with [fencing] method = none: a host that needs fencing is held for an operator' });
      if (config.kdump.enabled) problems.push({ section: 'kdump', key: 'enabled', warning: true, message: 'has no effect on a controller with [fencing] method = none: a host that needs fencing is held for an operator' });
    }
  }
  if (role === 'compute' && config.watchdog.enabled && config.watchdog.timeout < 30_000) {
    problems.push({ section: 'watchdog', key: 'timeout', warning: true, message: `${config.watchdog.timeout / 1000} s is short: a Consul leader election on mgmt and storage at once that lasts longer resets this node; 30 s or more is safer` });
  }
  const passwordFiles: [string, string][] = [['ipmi', config.ipmi.password_file], ...[...config.ipmiHosts].map(([h, c]): [string, string] => [`ipmi:${h}`, c.password_file ?? '']), ...[...config.fenceAgents].map(([n, c]): [string, string] => [`${FENCE_AGENT_PREFIX}${n}`, c.password_file])];
  for (const [section, file] of passwordFiles) {
    if (file && !readable(file)) problems.push({ section, key: 'password_file', message: `expected a readable file, found "${file}" missing or unreadable; create it root:<the Consul agents' group> 0640` });
  }
  return problems;
}

/** The usual whole-network restarts (ifupdown's networking service, netplan, ifupdown's -a). */
function restartsEveryInterface(argv: readonly string[]): boolean {
  const line = argv.join(' ');
  return /\bsystemctl (restart|reload|force-reload) networking(\.service)?$|\b(service |\/init\.d\/)networking (restart|reload|force-reload)$|\bnetplan apply\b|\b(ifup|ifdown|ifreload) (.* )?(-a|--all)\b|\bsystemctl restart (systemd-networkd|NetworkManager)(\.service)?$/.test(line);
}

/** The fence levels of a host (method = agent): its [fencing:HOST] levels, else [fencing] levels. */
export function levelNamesFor(config: Pick<Config, 'fencing' | 'fencingHosts'>, host: string): readonly string[] {
  return config.fencingHosts.get(host)?.levels ?? config.fencing.levels;
}

const usesIpmiLevel = (config: Config): boolean => [config.fencing.levels, ...[...config.fencingHosts.values()].map((h) => h.levels ?? [])].some((levels) => levels.includes('ipmi'));

/** Words of a fence agent's options: each key=value, none that nova-ha sets itself or that would carry a secret. */
export function agentOptionWords(text: string): { ok: true; options: [string, string][] } | { ok: false; expected: string } {
  const options: [string, string][] = [];
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const at = word.indexOf('=');
    const key = at > 0 ? word.slice(0, at).replace(/-/g, '_') : '';
    if (!key) return { ok: false, expected: `key=value words, not "${word}"` };
    if (['password', 'passwd', 'password_script', 'passwd_script'].includes(key)) return { ok: false, expected: 'no password among the options (put it in password_file: it then reaches the agent only on its standard input)' };
    if (['action', 'option', 'nodename'].includes(key)) return { ok: false, expected: `no ${key}= (nova-ha sets it for each call)` };
    options.push([key, word.slice(at + 1)]);
  }
  return { ok: true, options };
}

function levelProblems(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const checkLevels = (section: string, levels: readonly string[]): void => {
    for (const name of levels) {
      if (name !== 'ipmi' && !config.fenceAgents.has(name)) problems.push({ section, key: 'levels', message: `expected ipmi or the NAME of a [fence_agent:NAME] section, found "${name}" (no [fence_agent:${name}])` });
    }
    const twice = levels.find((name, i) => levels.indexOf(name) !== i);
    if (twice) problems.push({ section, key: 'levels', message: `expected each level once, found "${twice}" twice` });
  };
  if (config.fencing.levels.length === 0) problems.push({ section: 'fencing', key: 'levels', message: 'expected the fence levels when method = agent (ipmi and names of [fence_agent:NAME] sections, in order), found nothing' });
  checkLevels('fencing', config.fencing.levels);
  for (const [host, own] of config.fencingHosts) if (own.levels) checkLevels(`${FENCING_HOST_PREFIX}${host}`, own.levels);
  for (const [name, agent] of config.fenceAgents) {
    const section = `${FENCE_AGENT_PREFIX}${name}`;
    if (!agent.agent) problems.push({ section, key: 'agent', message: 'expected a fence agent (fence_redfish, fence_ipmilan, ... or an absolute path), found nothing' });
    else if (agent.agent.includes('/') ? !agent.agent.startsWith('/') : !/^fence_[A-Za-z0-9_]+$/.test(agent.agent)) problems.push({ section, key: 'agent', message: `expected the name of a fence agent (fence_...) or an absolute path, found "${agent.agent}"` });
    const words = agentOptionWords(agent.options);
    if (!words.ok) problems.push({ section, key: 'options', message: `expected ${words.expected}` });
  }
  for (const [name, hosts] of config.fenceAgentHosts) {
    for (const [host, own] of hosts) {
      const section = `${FENCE_AGENT_PREFIX}${name}:${host}`;
      if (!config.fenceAgents.has(name)) problems.push({ section, message: `expected a [fence_agent:${name}] section for these per-host options, found none` });
      const words = agentOptionWords(own.options ?? '');
      if (!words.ok) problems.push({ section, key: 'options', message: `expected ${words.expected}` });
    }
  }
  return problems;
}

function ipmiProblems(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const ipmi = config.ipmi;
  if (!ipmi.address_template && config.ipmiHosts.size === 0) problems.push({ section: 'ipmi', key: 'address_template', message: 'expected a template such as {host}-ipmi.example.com or [ipmi:HOST] sections when [fencing] method = ipmi, found neither' });
  else if (ipmi.address_template && !ipmi.address_template.includes('{host}')) problems.push({ section: 'ipmi', key: 'address_template', message: `expected {host} in the template, found "${ipmi.address_template}"` });
  const anyHostLacks = (key: 'username' | 'password'): boolean =>
    config.ipmiHosts.size === 0 || [...config.ipmiHosts.values()].some((h) => (key === 'username' ? !h.username : !h.password_file && !h.password_env));
  if (!ipmi.username && anyHostLacks('username')) problems.push({ section: 'ipmi', key: 'username', message: 'expected a BMC user when [fencing] method = ipmi, found nothing' });
  if (!ipmi.password_file && !ipmi.password_env && anyHostLacks('password')) problems.push({ section: 'ipmi', key: 'password_file', message: 'expected password_file or password_env when [fencing] method = ipmi, found neither' });
  for (const [host, c] of config.ipmiHosts) {
    if (!c.address) problems.push({ section: `ipmi:${host}`, key: 'address', message: 'expected the BMC address of this host, found nothing' });
  }
  return problems;
}

/** A close spelling among the candidates (edit distance of at most 2), for typo hints. */
function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
