import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../lib/config/load.js';
import { fragment } from '../../lib/systems/consul/fragments.js';

export const EXAMPLE_PATHS = { node: '/usr/bin/node', lib: '/usr/lib/nova-ha', config: '/etc/nova-ha/nova-ha.conf' };

describe('consul.d examples', () => {
  const config = loadConfigFile('examples/nova-ha.conf').config!;
  for (const role of ['controller', 'compute'] as const) {
    for (const network of ['mgmt', 'storage', 'tenant'] as const) {
      it(`consul.d/${role}-${network}.example.json is what the code renders`, () => {
        const rendered = `${JSON.stringify(fragment(role, network, config, EXAMPLE_PATHS), null, 2)}\n`;
        expect(readFileSync(`consul.d/${role}-${network}.example.json`, 'utf8')).toBe(rendered);
      });
    }
  }
});
