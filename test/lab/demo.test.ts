/** The README's first command, end to end: the demo brings up its own lab, breaks a host and follows nova-ha's recovery. */
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { Lab } from '../../lab/lab.js';
import { REPO_ROOT } from '../../lab/topology.js';

const PREFIX = 'nhd';
/** Under the test's own timeout, so an overrun demo is stopped (SIGTERM: it takes its lab down) and its output shown. */
const DEMO_DEADLINE_MS = 540_000;

describe('lab demo', () => {
  // Whatever happened to the demo, nothing of its lab is left on the machine.
  afterAll(async () => {
    if (await Lab.exists(PREFIX)) await Lab.down(PREFIX);
  });

  it('storage scenario: instances end ACTIVE elsewhere, the timeline and time to recovery are printed, the lab is gone', async () => {
    const output = await new Promise<{ code: number | null; text: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'lab/demo.ts', '--prefix', PREFIX, '--scenario', 'storage', '--instances', '3', '--computes', '3'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      const overrun = setTimeout(() => {
        text += `\n(test: the demo ran past ${DEMO_DEADLINE_MS / 1000} s; SIGTERM)\n`;
        child.kill('SIGTERM');
      }, DEMO_DEADLINE_MS);
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.stderr.on('data', (d: Buffer) => (text += d.toString()));
      child.on('close', (code) => {
        clearTimeout(overrun);
        resolve({ code, text });
      });
    });
    expect(output.code, output.text.slice(-3000)).toBe(0);
    expect(output.text).toMatch(/3 of 3 instances ACTIVE on other hosts; time to recovery/);
    expect(output.text).toMatch(/STEP\s+OUTCOME/);
    expect(output.text).toMatch(/email to ops@lab\.example: \[nova-ha\] cmp1: .*fenced/);
    expect(await Lab.exists(PREFIX)).toBe(false);
  });
});
