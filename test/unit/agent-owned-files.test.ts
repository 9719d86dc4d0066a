/**
 * The log and the state directory belong to the Consul agents' user, and root's CLI writes there
 * too: a link that user puts in place of a file or directory must not make root write elsewhere.
 */
import { linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/shared/log.js';
import { FileDedupeStore } from '../../lib/systems/notify/file-dedupe-store.js';

const dir = mkdtempSync(join(tmpdir(), 'nova-ha-agent-owned-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const victim = (name: string): string => {
  const file = join(dir, name);
  writeFileSync(file, 'root-owned content\n');
  return file;
};

describe('files in the agents\' directories', () => {
  it('the log is appended to as before', () => {
    const file = join(dir, 'plain.log');
    const log = createLogger({ component: 'test', file, stream: null });
    log.info('one');
    log.info('two');
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { event: string }).event)).toEqual(['one', 'two']);
  });

  it.each([
    ['a symbolic link', (target: string, file: string) => symlinkSync(target, file)],
    ['a hard link', (target: string, file: string) => linkSync(target, file)],
  ])('a log file replaced by %s to another file is not written through, and the logger says so', (name, plant) => {
    const target = victim(`victim-${name.replace(/\W/g, '')}`);
    const file = join(dir, `${name.replace(/\W/g, '')}.log`);
    plant(target, file);
    const warnings: string[] = [];
    createLogger({ component: 'test', file, stream: { write: (line: string) => warnings.push(line) } }).error('attack', { payload: '/tmp/evil.so' });
    expect(readFileSync(target, 'utf8')).toBe('root-owned content\n');
    expect(warnings.join('')).toMatch(/log-file-unwritable/);
  });

  it('a dedupe directory replaced by a link is refused, and nothing is written where it points', async () => {
    const state = join(dir, 'state');
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(state);
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(state, 'notify-dedupe'));
    await expect(new FileDedupeStore(join(state, 'notify-dedupe')).claim('k', 60_000)).rejects.toThrow(/notification dedupe directory .*ENOTDIR/);
    expect(readdirSync(elsewhere)).toEqual([]);
  });
});
