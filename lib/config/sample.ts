import { FENCE_AGENT_HOST_SCHEMA, FENCE_AGENT_PREFIX, FENCE_AGENT_SCHEMA, FENCING_HOST_PREFIX, FENCING_HOST_SCHEMA, IPMI_HOST_PREFIX, IPMI_HOST_SCHEMA, SCHEMA } from './schema.js';
import type { Option } from './options.js';

/**
 * Options the sample sets (uncommented) so that it is a complete, valid controller config;
 * "replace-me" values are placeholders that check-config warns about.
 */
export const SAMPLE_VALUES: Record<string, Record<string, string>> = {
  DEFAULT: { role: 'controller' },
  nova: { auth_url: 'https://keystone.example.com:5000/v3', username: 'nova-ha', password: 'replace-me' },
  notifications: { smtp_host: 'smtp.example.com', to: 'cloud-ops@example.com' },
  remediation: { hmac_key: 'replace-me-with-the-output-of-openssl-rand-hex-32' },
};

export const PLACEHOLDER = 'replace-me';

function wrap(text: string, width = 98): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function renderOption(key: string, option: Option<unknown>, set: string | undefined): string {
  const out = wrap(option.help).map((l) => `# ${l}`);
  const dflt = option.defaultText === undefined || option.defaultText === '' ? '(empty)' : option.defaultText;
  out.push(`# Type: ${option.kind}.${option.secret ? ' Secret: never printed or logged.' : ''} Default: ${dflt}.`);
  if (set !== undefined) out.push(`${key} = ${set}`);
  else out.push(`#${key} = ${option.example ?? option.defaultText ?? ''}`);
  return out.join('\n');
}

/** The commented sample config: every option with its meaning, type and default. */
export function renderSample(): string {
  const parts = [
    '# nova-ha configuration (INI, the style of OpenStack services).',
    '# Generated from lib/config/schema.ts by `nova-ha config-sample`; check yours with `nova-ha check-config`.',
    '# Lines starting with # are comments; a commented option has its default value.',
    '# Values containing ; or # must be quoted ("like;this"): unquoted, the rest of the line is a comment.',
    '# The file holds secrets and root trusts it: keep it root:<the Consul agents\' group> 0640 (install.sh sets that).',
  ];
  for (const [section, options] of Object.entries(SCHEMA) as [string, Record<string, Option<unknown>>][]) {
    parts.push('', `[${section}]`);
    for (const [key, option] of Object.entries(options)) parts.push('', renderOption(key, option, SAMPLE_VALUES[section]?.[key]));
  }
  const extra = (intro: string, header: string, options: Record<string, Option<unknown>>): void => {
    parts.push('', `# ${intro}`, `#[${header}]`);
    for (const [key, option] of Object.entries(options)) parts.push('', renderOption(key, option, undefined));
  };
  extra(`Per-host BMC settings override [ipmi] for one host: one section per host, e.g. [${IPMI_HOST_PREFIX}cmp1.example.com].`, `${IPMI_HOST_PREFIX}HOST`, IPMI_HOST_SCHEMA);
  extra(`A fence device for [fencing] levels, run through a fence agent: one section per device, e.g. [${FENCE_AGENT_PREFIX}redfish].`, `${FENCE_AGENT_PREFIX}NAME`, FENCE_AGENT_SCHEMA);
  extra(`One host's own options for a fence device, e.g. its outlet on a PDU: [${FENCE_AGENT_PREFIX}pdu:cmp1.example.com].`, `${FENCE_AGENT_PREFIX}NAME:HOST`, FENCE_AGENT_HOST_SCHEMA);
  extra(`One host's own fence levels: [${FENCING_HOST_PREFIX}cmp1.example.com].`, `${FENCING_HOST_PREFIX}HOST`, FENCING_HOST_SCHEMA);
  return `${parts.join('\n')}\n`;
}

/** docs/config-reference.md: every option as a table row, from the same schema as the sample. */
export function renderReference(): string {
  const escape = (text: string): string => text.replace(/\|/g, '\\|');
  const cellDefault = (option: Option<unknown>): string => (option.secret ? '(secret)' : option.defaultText ? `\`${option.defaultText}\`` : '(empty)');
  const parts = [
    '# nova-ha configuration reference',
    '',
    'Generated from `lib/config/schema.ts` by `nova-ha config-reference` (a test fails if this file',
    'drifts from the schema). The file is INI, `/etc/nova-ha/nova-ha.conf` by default (`--config FILE`',
    'or `NOVA_HA_CONFIG`); `nova-ha check-config` validates it. The commented sample is',
    '`etc/nova-ha.conf.sample`. Durations take `ms`, `s`, `m` or `h` (a bare number is seconds).',
  ];
  const section = (name: string, options: Record<string, Option<unknown>>): void => {
    parts.push('', `## [${name}]`, '', '| option | type | default | meaning |', '|---|---|---|---|');
    for (const [key, option] of Object.entries(options)) parts.push(`| \`${key}\` | ${escape(option.kind)} | ${cellDefault(option)} | ${escape(option.help)} |`);
  };
  for (const [name, options] of Object.entries(SCHEMA) as [string, Record<string, Option<unknown>>][]) section(name, options);
  section(`${IPMI_HOST_PREFIX}HOST`, IPMI_HOST_SCHEMA as Record<string, Option<unknown>>);
  section(`${FENCE_AGENT_PREFIX}NAME`, FENCE_AGENT_SCHEMA as Record<string, Option<unknown>>);
  section(`${FENCE_AGENT_PREFIX}NAME:HOST`, FENCE_AGENT_HOST_SCHEMA as Record<string, Option<unknown>>);
  section(`${FENCING_HOST_PREFIX}HOST`, FENCING_HOST_SCHEMA as Record<string, Option<unknown>>);
  return `${parts.join('\n')}\n`;
}
