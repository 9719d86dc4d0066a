import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { repairKeyFingerprint } from '../../lib/recovery/repair-request.js';
import { Secret } from '../../lib/shared/secret.js';

const run = promisify(execFile);

async function check(config: string): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'handlers/nova-compute-check.ts', '--config', config]);
    return { code: 0, stdout };
  } catch (error) {
    const e = error as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

describe('the nova-compute check (Consul: 0 passing, 1 warning = unknown to the policy, 2 critical = dead)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nova-ha-check-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, body: string): string => {
    const file = join(dir, name);
    writeFileSync(file, `[DEFAULT]\nrole = compute\nstate_dir = ${dir}/state\nlog_file =\n[remediation]\nhmac_key = ${'k'.repeat(40)}\n[nova_compute]\nsystemd_unit =\n${body}\n`);
    return file;
  };

  // A child of known name stands in for nova-compute: the test runner's own process name differs
  // between Node majors (Node 24 names its main thread "MainThread").
  it('a running process: passing', async () => {
    const standIn = spawn('sleep', ['300'], { stdio: 'ignore' });
    try {
      writeFileSync(join(dir, 'stand-in.pid'), `${standIn.pid}\n`);
      const result = await check(write('ok.conf', `process_name = sleep\npid_file = ${join(dir, 'stand-in.pid')}`));
      expect(result.stdout).toMatch(/^OK: nova-compute: process \d+ running/);
      // The second line names the key this node verifies repair requests with, for nova-ha doctor.
      expect(result.stdout.split('\n')[1]).toBe(`repair key ${repairKeyFingerprint(new Secret('k'.repeat(40)))}`);
      expect(result.code).toBe(0);
    } finally {
      standIn.kill('SIGKILL');
    }
  });

  it('no such process: critical', async () => {
    const result = await check(write('dead.conf', 'process_name = no-such-process-xyz'));
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^CRITICAL: nova-compute: no no-such-process-xyz process/);
  });

  it('a check that cannot run (its config is broken) is unknown, never "dead"', async () => {
    const broken = join(dir, 'broken.conf');
    writeFileSync(broken, '[nova_compute]\nsystemd_unit = \n');
    const result = await check(broken);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^UNKNOWN: nova-ha nova-compute-check: /);
  });
});
