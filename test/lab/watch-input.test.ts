/** The checks watch handler as Consul runs it, fed malformed input: one clear log line, exit 2, nothing done. */
import { chownSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../lab/lab.js';
import { consulAccount } from '../../lab/consul-agents.js';
import { installedLib, novaHaConfig, novaHaDir, novaHaLog } from '../../lab/nova-ha.js';
import { testLab } from './lab-context.js';

let lab: Lab;

beforeAll(async () => {
  lab = await testLab();
});

/** Runs the installed handler as Consul would (user consul, inside ctl1), with a log file of its own. */
async function runWatch(stdin: string) {
  const log = join(dirname(novaHaLog(lab.spec, 'ctl1')), `watch-input-test-${process.pid}.log`);
  const config = join(novaHaDir(lab.spec, 'ctl1'), `watch-input-test-${process.pid}.conf`);
  writeFileSync(config, readFileSync(novaHaConfig(lab.spec, 'ctl1'), 'utf8').replace(/^log_file = .*$/m, `log_file = ${log}`), { mode: 0o640 });
  chownSync(config, 0, consulAccount().gid);
  try {
    const result = await lab.exec('ctl1', ['setpriv', '--reuid=consul', '--regid=consul', '--init-groups', '--', process.execPath, join(installedLib(lab.spec), 'handlers', 'watch-checks.js'), '--config', config, '--network', 'mgmt'], { input: stdin, allowFailure: true });
    const lines = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { component: string; event: string; error?: string }) : [];
    return { code: result.code, lines };
  } finally {
    rmSync(config, { force: true });
    rmSync(log, { force: true });
  }
}

describe('checks watch handler input', () => {
  it.each([
    ['not JSON', 'this is not json', /stdin is not JSON/],
    ['not a list', '{"Node": "cmp1"}', /stdin is not a list of checks/],
    ['a list of the wrong things', '[{"Node": "cmp1"}]', /stdin item 0 is not a health check/],
  ])('%s: exit 2, one log line naming the problem, no evaluation', async (_name, stdin, error) => {
    const { code, lines } = await runWatch(stdin);
    expect(code).toBe(2);
    // One line, and no evaluation: no "transition", "worker-spawn" or "watch-evaluated" after it.
    expect(lines.map((l) => l.event)).toEqual(['bad-watch-input']);
    expect(lines[0]!.error).toMatch(error);
  });

  it('well-formed input evaluates and exits 0', async () => {
    const { code, lines } = await runWatch('[]');
    expect(code).toBe(0);
    expect(lines.map((l) => l.event)).toContain('watch-evaluated');
  });
});
