/**
 * `down` on labs of its own (prefix nhtd, one compute), since it must not touch the shared test
 * lab: after a clean up, and after an up killed half-way with a hung agent, a stray process in a
 * lab namespace and no state file.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Lab } from '../../lab/lab.js';
import { lastLogsDir } from '../../lab/lifecycle.js';
import { isRunning, readRecords, signalVerified, startTimeOf, type ProcessRecord } from '../../lab/processes.js';
import { sleep } from '../../lab/shell.js';
import { labNamespacesOnMachine, stateFile } from '../../lab/state.js';
import { REPO_ROOT, runDir } from '../../lab/topology.js';

const PREFIX = 'nhtd';
const RUN = runDir({ prefix: PREFIX, computes: 1 });
const log = (message: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 23)} lab: ${message}\n`);

async function expectNothingLeft(before: readonly ProcessRecord[]): Promise<void> {
  expect(await labNamespacesOnMachine(PREFIX)).toEqual([]);
  expect(existsSync(RUN)).toBe(false);
  expect(await Lab.leftovers(PREFIX)).toEqual({ namespaces: [], processes: [], runDirExists: false });
  expect(before.filter(isRunning)).toEqual([]);
  expect(readdirSync(lastLogsDir(PREFIX)).length).toBeGreaterThan(0);
}

async function until(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('lab down', () => {
  afterAll(async () => {
    if (await Lab.exists(PREFIX)) await Lab.down(PREFIX, log);
    rmSync(lastLogsDir(PREFIX), { recursive: true, force: true });
  });

  it('leaves no process, namespace or run directory behind after a clean up', async () => {
    if (await Lab.exists(PREFIX)) await Lab.down(PREFIX, log);
    const lab = await Lab.up({ prefix: PREFIX, computes: 1, log });
    await expect(Lab.up({ prefix: PREFIX, computes: 1 })).rejects.toThrow(`lab ${PREFIX} already exists (6 namespaces, e.g. ${PREFIX}-`);
    const records = readRecords(lab.runDir);
    expect(records.length).toBe(9 + 1 + 3 + 1); // 9 servers, 1 sim, 1 host, 3 clients
    const report = await lab.down();
    expect(report.deletedNamespaces).toHaveLength(6); // sw, ctl1-3, cmp1, bmc1
    await expectNothingLeft(records);
  });

  it('cleans up after an up that was killed half-way, with a hung agent, a stray process and no state file', async () => {
    const cli = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'lab', 'cli.ts'), 'up', '--computes', '1', '--prefix', PREFIX], { cwd: REPO_ROOT, stdio: 'ignore' });
    // Kill it as soon as the first controller agents run: the sims and hosts may or may not exist yet.
    await until('the first Consul agent of the killed up', () => readRecords(RUN).some((record) => record.name.startsWith('ctl') && isRunning(record)), 30_000);
    cli.kill('SIGKILL');
    await new Promise((resolveExit) => cli.once('exit', resolveExit));
    await sleep(500); // let detached children of the dead up settle

    const records = readRecords(RUN).filter(isRunning);
    const hung = records.find((record) => record.name.startsWith('ctl'))!;
    expect(signalVerified(hung, 'SIGSTOP')).toBe(true);
    const stray = spawn('ip', ['netns', 'exec', `${PREFIX}-ctl2`, 'sleep', '600'], { detached: true, stdio: 'ignore' });
    stray.unref();
    rmSync(stateFile({ prefix: PREFIX }));
    await expect(Lab.attach(PREFIX)).rejects.toThrow(`no lab ${PREFIX} here`);

    const report = await Lab.down(PREFIX, log);
    expect(report.stoppedInNamespaces).toBeGreaterThanOrEqual(1); // at least the stray sleep
    await expectNothingLeft(records);
    expect(startTimeOf(stray.pid!)).toBeUndefined();
  });
});
