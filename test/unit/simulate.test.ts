import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { novaHa } from '../support/cli.js';

const examples = readdirSync('examples').filter((f) => f.endsWith('.json')).map((f) => join('examples', f));

describe('nova-ha simulate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nova-ha-simulate-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the design\'s action for every example (one per matrix row and guard)', async () => {
    const { code, stdout, stderr } = await novaHa(['--config', 'examples/nova-ha.conf', 'simulate', '--json', '--observations', ...examples]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const results = JSON.parse(stdout) as { file: string; decisions: { host: string; action: string }[] }[];
    expect(results).toHaveLength(examples.length);
    for (const result of results) {
      const expected = (JSON.parse(readFileSync(result.file, 'utf8')) as { expected: Record<string, string> }).expected;
      const got = Object.fromEntries(result.decisions.map((d) => [d.host, d.action]));
      expect(got, result.file).toEqual(expected);
    }
  });

  it('prints a readable table', async () => {
    const { code, stdout } = await novaHa(['--config', 'examples/nova-ha.conf', 'simulate', '--observations', 'examples/06-node-hung.json']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/HOST\s+ACTION\s+CAUSE\s+REASON/);
    expect(stdout).toMatch(/cmp1\s+fence\s+node-unreachable\s+failed on every network while its power is on/);
  });

  it('malformed JSON: one clear line, non-zero exit', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{"context": ');
    const { code, stdout, stderr } = await novaHa(['simulate', '--observations', file]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/broken\.json: not valid JSON/);
  });

  it('a missing field: names the host and the field', async () => {
    const example = JSON.parse(readFileSync('examples/04-storage-network.json', 'utf8'));
    delete example.hosts[0].networks.storage.since;
    const file = join(dir, 'missing.json');
    writeFileSync(file, JSON.stringify(example));
    const { code, stderr } = await novaHa(['simulate', '--observations', file]);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`nova-ha: ${file}: host cmp1: networks.storage.since: expected an ISO 8601 time such as 2026-11-25T10:00:00Z, found nothing`);
  });

  it('a wrong value: names the host, the field, what was expected and found', async () => {
    const example = JSON.parse(readFileSync('examples/04-storage-network.json', 'utf8'));
    example.hosts[0].power.state = 'maybe';
    const file = join(dir, 'wrong.json');
    writeFileSync(file, JSON.stringify(example));
    const { code, stderr } = await novaHa(['simulate', '--observations', file]);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`nova-ha: ${file}: host cmp1: power.state: expected one of on, off, unknown, found "maybe"`);
  });
});
