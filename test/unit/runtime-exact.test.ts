/**
 * What a controller-side handler is built from (recovery/runtime.ts, recovery/spawn-worker.ts):
 * the runtime a config gives, the worker process a host is handed to (its arguments, detached),
 * and the observer's start time; and the one alert wording the drain changes (recovery/alerts.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

const spawned: { command: string; args: readonly string[]; options: Record<string, unknown>; unref: ReturnType<typeof vi.fn> }[] = [];
vi.mock('node:child_process', async (original) => ({
  ...(await original<typeof import('node:child_process')>()),
  spawn: (command: string, args: readonly string[], options: Record<string, unknown>) => {
    const unref = vi.fn();
    spawned.push({ command, args, options, unref });
    return { unref };
  },
}));

const { observerFromAgent, siblingHandler, workerDispatcher } = await import('../../lib/recovery/spawn-worker.js');
const { WorkerQueue } = await import('../../lib/recovery/worker-queue.js');
const { createRuntime, stateFile } = await import('../../lib/recovery/runtime.js');
const { alertFor } = await import('../../lib/recovery/alerts.js');
const { parseConfig } = await import('../../lib/config/load.js');
const { processStartedAt } = await import('../../lib/shared/proc.js');
const { silentLogger } = await import('../../lib/shared/log.js');

const argv1 = process.argv[1]!;
afterEach(() => {
  process.argv[1] = argv1;
  spawned.length = 0;
});

describe('workerDispatcher', () => {
  const queueDirs: string[] = [];
  afterEach(() => {
    for (const d of queueDirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const queueIn = (maxWorkers = 4): InstanceType<typeof WorkerQueue> => {
    queueDirs.push(mkdtempSync(join(tmpdir(), 'nova-ha-queue-')));
    return new WorkerQueue(queueDirs.at(-1)!, maxWorkers);
  };

  it('starts workers only for free slots, the most urgent host first, and says how many wait', () => {
    process.argv[1] = '/x/handlers/watch.js';
    const dispatched = workerDispatcher(undefined, { node: 'ctl1', startedAt: 5 }, queueIn(1))([{ host: 'cmp2', urgency: 3 }, { host: 'cmp1', urgency: 0 }]);
    expect(dispatched).toEqual({ queued: 2, started: 1 });
    expect(spawned.map((s) => s.args[2])).toEqual(['cmp1']);
  });

  it('starts the worker next to the running handler, detached, for the host, with the observer\'s start and the config', () => {
    process.argv[1] = '/opt/nova-ha/dist/handlers/watch.js';
    workerDispatcher('/etc/nova-ha/nova-ha.conf', { node: 'ctl1', startedAt: 1234 }, queueIn())([{ host: 'cmp7', urgency: 0 }]);
    expect(spawned).toHaveLength(1);
    expect(spawned[0]!.command).toBe(process.execPath);
    expect(spawned[0]!.args).toEqual(['/opt/nova-ha/dist/handlers/worker.js', '--host', 'cmp7', '--observer-started-at', '1234', '--config', '/etc/nova-ha/nova-ha.conf']);
    expect(spawned[0]!.options).toEqual({ detached: true, stdio: 'ignore' });
    expect(spawned[0]!.unref).toHaveBeenCalledTimes(1);
  });

  it('without a config file it passes none', () => {
    process.argv[1] = '/x/handlers/check.js';
    workerDispatcher(undefined, { node: 'ctl1', startedAt: 5 }, queueIn())([{ host: 'cmp1', urgency: 0 }]);
    expect(spawned[0]!.args).toEqual(['/x/handlers/worker.js', '--host', 'cmp1', '--observer-started-at', '5']);
  });

  it('siblingHandler names a compiled handler in the running one\'s folder', () => {
    process.argv[1] = '/a/b/evaluate.js';
    expect(siblingHandler('unfence')).toBe('/a/b/unfence.js');
  });
});

describe('observerFromAgent', () => {
  it('takes the start time it is given', () => {
    expect(observerFromAgent('ctl1', '1700000000000')).toEqual({ node: 'ctl1', startedAt: 1700000000000 });
    expect(observerFromAgent('ctl1', '0')).toEqual({ node: 'ctl1', startedAt: 0 });
  });

  it('without one, or with one that is not a number, it is the start of its parent (the Consul agent)', () => {
    const parent = processStartedAt(process.ppid);
    expect(parent).toEqual(expect.any(Number));
    expect(observerFromAgent('ctl2')).toEqual({ node: 'ctl2', startedAt: parent });
    expect(observerFromAgent('ctl2', 'soon')).toEqual({ node: 'ctl2', startedAt: parent });
    expect(observerFromAgent('ctl2', 'Infinity')).toEqual({ node: 'ctl2', startedAt: parent });
  });
});

describe('createRuntime', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('from the config: its node, three clusters, KV under the prefix, the policy, poller freshness and state dir', () => {
    dir = mkdtempSync(join(tmpdir(), 'nova-ha-runtime-'));
    const text = [
      '[DEFAULT]', 'role = controller', 'node_name = ctl9', `state_dir = ${dir}`, "log_file = ''",
      '[consul]', 'kv_prefix = nha-test',
      '[remediation]', `hmac_key = ${'k'.repeat(40)}`,
      '[nova]', 'auth_url = http://keystone.test:5000/v3', 'username = nova-ha', 'password = fake-cloud-password-1234', 'poll_interval = 7',
      '[notifications]', 'smtp_host = smtp.test', 'to = ops@example.com',
      '[fencing]', 'method = ipmi',
      '[ipmi]', 'username = admin', 'password_env = IPMI_PASSWORD', 'address_template = {host}-bmc.test', 'poll_interval = 11',
    ].join('\n');
    const { config, problems } = parseConfig(text, 'runtime.conf');
    expect(problems.filter((p) => !p.warning)).toEqual([]);
    const runtime = createRuntime(config!, 'test', silentLogger);
    expect(runtime.node).toBe('ctl9');
    expect(runtime.config).toBe(config);
    expect(runtime.logger).toBe(silentLogger);
    expect(Object.keys(runtime.clusters)).toEqual(['mgmt', 'storage', 'tenant']);
    expect(runtime.kv.api).toBe(runtime.clusters.mgmt);
    expect(runtime.kv.key('pause')).toBe('nha-test/pause');
    expect(runtime.freshness).toEqual({ powerMaxAge: 3 * config!.ipmi.poll_interval, novaMaxAge: 3 * config!.nova.poll_interval });
    expect(runtime.freshness.powerMaxAge).not.toBe(runtime.freshness.novaMaxAge);
    expect(runtime.settings.fencing).toBe('ipmi');
    expect(runtime.stateDir).toBe(dir);
    expect(runtime.notifier.pending).toBe(0);
    expect(stateFile(runtime, 'x.json')).toBe(join(dir, 'x.json'));
  });
});

describe('alertFor, the drain wording', () => {
  it('only a tenant-network alert that drains says it live-migrates', () => {
    const base = { cause: 'storage-network' as const, reason: 'r' };
    expect(alertFor('cmp1', { ...base, action: 'drain', alert: 'mgmt-network-down' }, undefined, false).action).toBe('operators alerted, not evacuated');
    expect(alertFor('cmp1', { ...base, action: 'drain', alert: 'tenant-network-down' }, undefined, false).action).toBe('live-migrating its instances away');
    expect(alertFor('cmp1', { ...base, action: 'alert', alert: 'escalated' }, undefined, false).action).toBe('held incident escalated: acting on the worse failure');
    expect(alertFor('cmp1', { ...base, action: 'alert', alert: 'fenced-host-on' }, undefined, false).action).toBe('still forced down and disabled in Nova');
    expect(alertFor('cmp1', { ...base, action: 'repair', alert: 'shut-down' }, undefined, false).action).toBe('powering it back on');
    expect(alertFor('cmp1', { ...base, action: 'wait', alert: 'self-fence-wait' }, undefined, false).action).toBe('its watchdog resets it; evacuated at the safe time');
    expect(alertFor('cmp1', { ...base, cause: 'shut-down', action: 'repair', alert: 'shut-down' }, undefined, false).summary).toBe('shut down without nova-ha maintenance');
  });
});
