import { describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../lib/config/load.js';
import { fragment, redactTokens, type Role } from '../../lib/systems/consul/fragments.js';
import type { Network } from '../../lib/decision/model.js';

const PATHS = { node: '/usr/bin/node', lib: '/usr/lib/nova-ha', config: '/etc/nova-ha/nova-ha.conf' };
const TOKENS = { mgmt: '11111111-1111-1111-1111-111111111111', storage: '22222222-2222-2222-2222-222222222222', tenant: '33333333-3333-3333-3333-333333333333' };

function config(role: Role, withTokens: boolean): Config {
  const tokens = withTokens ? Object.entries(TOKENS).map(([network, token]) => `${network}_token = ${token}`).join('\n') : '';
  const controller = role === 'controller' ? '[nova]\nauth_url = http://198.18.1.11:5000/v3\nusername = admin\npassword = secret-password\n[notifications]\nsmtp_host = 127.0.0.1\nsmtp_tls = none\nto = ops@example.com\n' : '';
  const { config: parsed } = parseConfig(`[DEFAULT]\nrole = ${role}\n[consul]\n${tokens}\n${controller}[remediation]\nhmac_key = 0123456789abcdef0123456789abcdef\n`);
  return parsed!;
}

/** Every watch and check of a fragment, with its token (or undefined). */
function tokensOf(f: Record<string, unknown>): (string | undefined)[] {
  return [...((f['watches'] as Record<string, unknown>[] | undefined) ?? []), ...((f['checks'] as Record<string, unknown>[] | undefined) ?? [])].map((d) => d['token'] as string | undefined);
}

describe('consul fragments under ACLs', () => {
  it.each([
    ['controller', 'mgmt', 4],
    ['controller', 'storage', 1],
    ['controller', 'tenant', 1],
    ['compute', 'mgmt', 2],
  ] as const)('%s %s: every watch and check carries the network token from the config', (role, network, count) => {
    const tokens = tokensOf(fragment(role, network, config(role, true), PATHS));
    expect(tokens).toHaveLength(count);
    expect(new Set(tokens)).toEqual(new Set([TOKENS[network]]));
  });

  it('without tokens (ACLs off) no watch or check has a token field', () => {
    for (const role of ['controller', 'compute'] as const) {
      for (const network of ['mgmt', 'storage', 'tenant'] as Network[]) expect(tokensOf(fragment(role, network, config(role, false), PATHS)).every((t) => t === undefined)).toBe(true);
    }
  });

  it('the printable fragment names the option instead of the token', () => {
    const shown = JSON.stringify(redactTokens(fragment('compute', 'mgmt', config('compute', true), PATHS), 'mgmt'));
    expect(shown).not.toContain(TOKENS.mgmt);
    expect(shown).toContain('*** ([consul] mgmt_token)');
  });
});
