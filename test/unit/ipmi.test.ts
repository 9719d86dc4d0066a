import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chassisPower, powerOffVerified, type BmcTarget } from '../../lib/systems/power/ipmi.js';

// The real ipmitool, wrapped so the test sees the argv and environment it was given, aimed at a
// loopback port where no BMC answers (safe by the network rule, and as silent as a dead BMC).
describe('lib/ipmi against a BMC that does not answer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nova-ha-ipmi-'));
  const password = 'bmc-secret-Zq7';
  const savedPath = process.env.PATH;
  const target: BmcTarget = { host: 'cmp1', address: '127.0.0.1', username: 'admin', password: { env: 'NOVA_HA_TEST_BMC_PASSWORD' }, cipherSuite: 17, attemptTimeoutMs: 1000, retries: 0 };

  beforeAll(() => {
    const wrapper = join(dir, 'ipmitool');
    const real = existsSync('/usr/bin/ipmitool') ? 'exec /usr/bin/ipmitool "$@"' : 'exit 127';
    writeFileSync(wrapper, `#!/bin/sh\nprintf '%s\\n' "$@" >> '${dir}/argv'\nprintf '%s\\n' "$IPMI_PASSWORD" >> '${dir}/env'\n${real}\n`);
    chmodSync(wrapper, 0o755);
    process.env.PATH = `${dir}:${savedPath}`;
    process.env.NOVA_HA_TEST_BMC_PASSWORD = password;
  });
  afterAll(() => {
    process.env.PATH = savedPath;
    delete process.env.NOVA_HA_TEST_BMC_PASSWORD;
    rmSync(dir, { recursive: true, force: true });
  });

  it('an unreachable BMC is "unknown", never "off"; the password went by the environment, never argv, and is not in the reason', async () => {
    const result = await chassisPower(target, 'status');
    expect(result.state).toBe('unknown');
    expect(result.error).toMatch(/127\.0\.0\.1|ipmitool/);
    expect(result.error ?? '').not.toContain(password);
    const argv = readFileSync(join(dir, 'argv'), 'utf8');
    expect(argv).toContain('-E');
    expect(argv).not.toContain(password);
    expect(readFileSync(join(dir, 'env'), 'utf8')).toContain(password);
  });

  it('a fence against it is not verified, so nothing may be evacuated', async () => {
    const fence = await powerOffVerified(target, 2500, { pollMs: 200 });
    expect(fence.verified).toBe(false);
    expect(fence.detail).toMatch(/did not report power off within 2500 ms/);
    expect(fence.detail).not.toContain(password);
  });
});
