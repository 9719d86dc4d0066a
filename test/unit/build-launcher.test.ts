/**
 * build.mjs makes each dist/handlers/NAME.js a launcher that compiles NAME.bundle.js with the V8
 * code cache of the same build. A handler must print and exit alike with the cache, without it,
 * with a cache of another build and with one V8 rejects. Builds a copy of the tree in a temp dir.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HANDLER_NODE_OPTIONS } from '../../lib/systems/consul/fragments.js';

const REPO = resolve(import.meta.dirname, '../..');
const HASH_LENGTH = 64;
let root: string;
let handlers: string;
let config: string;
let standIn: ChildProcess | undefined;

/** A handler started as the agents start it, with node options of the test's own before the file. */
const start = (file: string, nodeOptions: readonly string[] = []): SpawnSyncReturns<string> =>
  spawnSync(process.execPath, [...HANDLER_NODE_OPTIONS, ...nodeOptions, file, '--config', config], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } });

const run = (file: string): { status: number | null; stdout: string } => {
  const result = start(file);
  return { status: result.status, stdout: result.stdout };
};

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'nova-ha-build-test-'));
  for (const part of ['build.mjs', 'package.json', 'tsconfig.json', 'cli', 'handlers', 'lib']) cpSync(join(REPO, part), join(root, part), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
  const build = spawnSync(process.execPath, ['build.mjs'], { cwd: root, encoding: 'utf8' });
  expect(build.stderr).toBe('');
  expect(build.status).toBe(0);
  handlers = join(root, 'dist', 'handlers');
  mkdirSync(join(root, 'state'));
  // A process of a name of its own stands in for nova-compute: the test runner's own name and PID
  // differ between Node versions (a vitest worker thread or process).
  standIn = spawn('sleep', ['600'], { stdio: 'ignore' });
  writeFileSync(join(root, 'nova-compute.pid'), `${standIn.pid}\n`);
  config = join(root, 'compute.conf');
  writeFileSync(config, [
    '[DEFAULT]', 'role = compute', 'node_name = cmp1', `state_dir = ${join(root, 'state')}`, `log_file = ${join(root, 'compute.log')}`,
    '[remediation]', `hmac_key = ${'k'.repeat(40)}`,
    '[nova_compute]', 'systemd_unit =', 'process_name = sleep', `pid_file = ${join(root, 'nova-compute.pid')}`, '',
  ].join('\n'));
}, 120_000);

afterAll(() => {
  standIn?.kill();
  rmSync(root, { recursive: true, force: true });
});

describe('what a nova-compute check run loads', () => {
  it('not node:crypto: the repair key fingerprint it prints is computed without it', () => {
    const report = join(root, 'loaded.cjs');
    writeFileSync(report, "process.on('exit', () => require('node:fs').writeSync(2, JSON.stringify(process.moduleLoadList)));\n");
    const result = start(join(handlers, 'nova-compute-check.js'), ['--require', report]);
    expect(result.stdout).toMatch(/^OK: nova-compute: .*\nrepair key hmac-sha256:[0-9a-f]{16}\n$/);
    const loaded = JSON.parse(result.stderr) as string[];
    expect(loaded).toContain('NativeModule fs');
    expect(loaded.filter((m) => /crypto/.test(m))).toEqual([]);
  });
});

describe('handler launchers', () => {
  it('every bundle has a cache this Node accepts, started as the agents start the handlers', () => {
    const bundles = readdirSync(handlers).filter((f) => f.endsWith('.bundle.js'));
    expect(bundles.length).toBeGreaterThan(5);
    for (const bundle of bundles) {
      const source = readFileSync(join(handlers, bundle), 'utf8');
      const cache = readFileSync(join(handlers, bundle.replace(/\.js$/, '.cache')));
      expect(source.endsWith(`// nova-ha build ${cache.toString('latin1', 0, HASH_LENGTH)}\n`), bundle).toBe(true);
    }
    // V8 checks its flags against the cache's: the check runs under the agents' node options.
    const check = `const { readFileSync } = require('node:fs'); const Module = require('node:module'); const { Script } = require('node:vm');
      const rejected = process.argv.slice(1).filter((file) => new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData: readFileSync(file.replace(/\\.js$/, '.cache')).subarray(${HASH_LENGTH}) }).cachedDataRejected);
      console.log(JSON.stringify(rejected));`;
    const result = spawnSync(process.execPath, [...HANDLER_NODE_OPTIONS, '-e', check, ...bundles.map((b) => join(handlers, b))], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([]);
  });

  it('a handler prints and exits alike with its cache, without, with another build\'s and with one V8 rejects', () => {
    const launcher = join(handlers, 'nova-compute-check.js');
    const cacheFile = join(handlers, 'nova-compute-check.bundle.cache');
    const cache = readFileSync(cacheFile);
    const expected = run(join(handlers, 'nova-compute-check.bundle.js'));
    expect(expected.status).toBe(0);
    expect(expected.stdout).toMatch(/^OK: nova-compute: /);

    expect(run(launcher)).toEqual(expected);
    const otherBuild = Buffer.from(cache);
    otherBuild[0] = otherBuild[0] === 0x30 ? 0x31 : 0x30;
    const rejected = Buffer.concat([cache.subarray(0, HASH_LENGTH), Buffer.alloc(cache.length - HASH_LENGTH, 7)]);
    for (const replacement of [otherBuild, rejected, undefined]) {
      if (replacement) writeFileSync(cacheFile, replacement);
      else rmSync(cacheFile);
      expect(run(launcher)).toEqual(expected);
    }
  });
});
