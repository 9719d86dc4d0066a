/**
 * The pure parts of kdump awareness and the watchdog fallback: the fence_kdump message, the
 * record of a dump, whether a compute feeds its watchdog, what it publishes, and the feeder's
 * order of things (arm after the first contact, disarm only once the controllers see it) with
 * scripted reads in place of Consul and the device.
 */
import { describe, expect, it } from 'vitest';
import { feedVerdict, type FeedInputs, type HealthRead } from '../../lib/decision/watchdog-feed.js';
import { nextRecord } from '../../lib/recovery/kdump-listener.js';
import { parseKdumpMessage } from '../../lib/systems/power/kdump.js';
import { majorMinor, watchdogProblems } from '../../lib/systems/watchdog/device.js';
import { formatProblem, parseConfig, type Config } from '../../lib/config/load.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { armedOutput, parseArmedOutput } from '../../lib/systems/watchdog/publication.js';
import { feedInterval, runFeeder, type FeederIo } from '../../lib/node/watchdog-feeder.js';
import { silentLogger } from '../../lib/shared/log.js';

describe('fence_kdump messages', () => {
  it('8 bytes: magic 0x1B302A40 and version 1, in the sender\'s byte order', () => {
    expect(parseKdumpMessage(Buffer.from([0x40, 0x2a, 0x30, 0x1b, 0x01, 0x00, 0x00, 0x00]))).toEqual({ ok: true, byteOrder: 'little' });
    expect(parseKdumpMessage(Buffer.from([0x1b, 0x30, 0x2a, 0x40, 0x00, 0x00, 0x00, 0x01]))).toEqual({ ok: true, byteOrder: 'big' });
  });

  it.each([
    ['too short', [0x40, 0x2a, 0x30, 0x1b], '4 bytes, not 8'],
    ['too long', [0x40, 0x2a, 0x30, 0x1b, 0x01, 0x00, 0x00, 0x00, 0x00], '9 bytes, not 8'],
    ['another magic', [0x41, 0x2a, 0x30, 0x1b, 0x01, 0x00, 0x00, 0x00], 'magic 0x1b302a41, not 0x1b302a40'],
    ['another version', [0x40, 0x2a, 0x30, 0x1b, 0x02, 0x00, 0x00, 0x00], 'version 2, not 1'],
    ['mixed byte orders', [0x40, 0x2a, 0x30, 0x1b, 0x00, 0x00, 0x00, 0x01], 'version 16777216, not 1'],
  ])('refuses a payload %s', (_name, bytes, why) => {
    expect(parseKdumpMessage(Buffer.from(bytes))).toEqual({ ok: false, why });
  });

  it('a record keeps the first message of a dump; a long silence or another sender starts a new one', () => {
    const first = nextRecord(undefined, '198.18.1.101', 1000, 'ctl1', 600_000);
    expect(first).toEqual({ from: '198.18.1.101', first: 1000, last: 1000, count: 1, by: 'ctl1' });
    const second = nextRecord(first, '198.18.1.101', 11_000, 'ctl2', 600_000);
    expect(second).toEqual({ from: '198.18.1.101', first: 1000, last: 11_000, count: 2, by: 'ctl2' });
    expect(nextRecord(second, '198.18.1.101', 700_000, 'ctl1', 600_000)).toEqual({ from: '198.18.1.101', first: 700_000, last: 700_000, count: 1, by: 'ctl1' });
    expect(nextRecord(second, '198.18.2.101', 12_000, 'ctl1', 600_000).first).toBe(12_000);
    // The same message received by two controllers out of order does not move "last" back.
    expect(nextRecord(second, '198.18.1.101', 10_999, 'ctl3', 600_000).last).toBe(11_000);
  });
});

describe('feeding the watchdog', () => {
  const alive: HealthRead = { ok: true, serfHealth: 'passing' };
  const failed: HealthRead = { ok: true, serfHealth: 'critical' };
  const noLeader: HealthRead = { ok: false, error: 'HTTP 500: No cluster leader' };
  const base: FeedInputs = { mgmt: alive, storage: alive, checks: { ok: true, status: new Map([['nova-ha-nova-compute', 'passing']]) }, requiredChecks: [], elapsedMs: 20, maxElapsedMs: 2000 };

  it.each([
    ['seen alive on both', {}, true],
    ['seen alive on mgmt only', { storage: noLeader }, true],
    ['seen alive on storage only (mgmt cut)', { mgmt: { ok: false, error: 'timeout' } as HealthRead }, true],
    ['failed on mgmt and no storage leader', { mgmt: failed, storage: noLeader }, false],
    ['no answer from either', { mgmt: noLeader, storage: { ok: false, error: 'ECONNREFUSED' } as HealthRead }, false],
    ['an answer that came too late', { elapsedMs: 2001 }, false],
    ['a required check passing', { requiredChecks: ['nova-ha-nova-compute'] }, true],
    ['a required check failing', { requiredChecks: ['nova-ha-nova-compute'], checks: { ok: true, status: new Map([['nova-ha-nova-compute', 'critical']]) } }, false],
    ['a required check missing', { requiredChecks: ['storage-ok'] }, false],
    ['required checks unreadable', { requiredChecks: ['nova-ha-nova-compute'], checks: { ok: false, error: 'agent hung' } }, false],
  ] as [string, Partial<FeedInputs>, boolean][])('%s: feed %s', (_name, change, feed) => {
    const verdict = feedVerdict({ ...base, ...change });
    expect(verdict.feed, verdict.reason).toBe(feed);
  });

  it('says why it does not feed', () => {
    expect(feedVerdict({ ...base, mgmt: failed, storage: noLeader }).reason).toBe('no leader of mgmt or storage sees this node alive (mgmt: serfHealth critical; storage: HTTP 500: No cluster leader)');
    expect(feedVerdict({ ...base, requiredChecks: ['a', 'nova-ha-nova-compute'] }).reason).toBe('required checks not passing: a (missing)');
  });

  it('publishes the timeout in the check output, and only an "armed" output counts', () => {
    const output = armedOutput({ timeoutMs: 6000, device: '/x/watchdog.fifo', simulation: true });
    expect(output).toBe('armed timeout_ms=6000 device=/x/watchdog.fifo simulation=yes: fed while a leader of mgmt or storage sees this node alive');
    expect(parseArmedOutput(output)).toEqual({ timeoutMs: 6000 });
    expect(parseArmedOutput('TTL expired')).toBeUndefined();
    expect(parseArmedOutput('disarmed: the nova-ha-watchdog service stopped')).toBeUndefined();
    expect(parseArmedOutput('armed timeout_ms=0')).toBeUndefined();
  });

  it('reads device numbers as Linux encodes them (misc 10:130, watchdog0 at 248:0)', () => {
    expect(majorMinor((10n << 8n) | 130n)).toEqual([10, 130]);
    expect(majorMinor(248n << 8n)).toEqual([248, 0]);
    // glibc's makedev: the low 12 bits of major at 8, the rest at 44; the low 8 bits of minor at 0, the rest at 20.
    const makedev = (major: bigint, minor: bigint): bigint => ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
    expect(majorMinor(makedev(0x1234005n, 0x6789an))).toEqual([0x1234005, 0x6789a]);
  });

  it('check-config on a compute: the device must be there and report the configured timeout; a FIFO is a simulation', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nova-ha-watchdog-'));
    try {
      const check = (device: string): string[] => watchdogProblems(parseConfig(`[DEFAULT]\nrole = compute\n[remediation]\nhmac_key = 0123456789abcdef0123456789abcdef\n[watchdog]\nenabled = true\ndevice = ${device}\n`).config as Config).map(formatProblem);
      expect(check(join(dir, 'missing'))[0]).toMatch(/^\[watchdog\] device: expected a watchdog device, found .*missing: ENOENT/);
      writeFileSync(join(dir, 'file'), '');
      expect(check(join(dir, 'file'))).toEqual([`[watchdog] device: expected a watchdog device, found ${join(dir, 'file')} is not a character device`]);
      execFileSync('mkfifo', [join(dir, 'fifo')]);
      expect(check(join(dir, 'fifo'))).toEqual([`warning: [watchdog] device: ${join(dir, 'fifo')} is a FIFO: a simulated watchdog (nova-ha's lab), not a device; nothing resets this machine`]);
      expect(check('/dev/null')[0]).toMatch(/^\[watchdog\] device: expected a device that reports its timeout, found none in \/sys\/dev\/char\/1:3\/timeout/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('feeds every third of the timeout', () => {
    expect(feedInterval(60_000)).toBe(20_000);
    expect(feedInterval(6000)).toBe(2000);
  });
});

/** A feeder run against a script of health answers, one per round; the clock advances a round per read. */
function scripted(rounds: HealthRead[], options: { publishedCritical?: boolean } = {}) {
  const events: string[] = [];
  let round = 0;
  let armed = false;
  let clock = 0;
  const stop = new AbortController();
  const io: FeederIo = {
    readHealth: async (network) => {
      if (network === 'mgmt') clock += 2000;
      const answer = rounds[Math.min(round, rounds.length - 1)]!;
      if (network === 'storage') {
        round++;
        if (round >= rounds.length) stop.abort();
      }
      return answer;
    },
    readChecks: async () => ({ ok: true, status: new Map() }),
    publish: async (status, output) => void events.push(`publish ${status}${status === 'passing' ? '' : `: ${output}`}`),
    published: async () => options.publishedCritical ?? true,
    watchdog: {
      get armed() {
        return armed;
      },
      arm: () => {
        armed = true;
        events.push('arm');
      },
      feed: () => void events.push('feed'),
      disarm: () => {
        armed = false;
        events.push('disarm');
      },
      abandon: () => {
        armed = false;
        events.push('abandon');
      },
    },
    log: silentLogger,
    now: () => clock,
  };
  return { io, events, stop };
}

describe('the feeder', () => {
  const alive: HealthRead = { ok: true, serfHealth: 'passing' };
  const cut: HealthRead = { ok: false, error: 'timeout' };
  const settings = { timeoutMs: 6000, requiredChecks: [], armedOutput: 'armed timeout_ms=6000' };

  it('does not arm before a leader has seen the node alive (no reset loop at boot), then arms, says so, and feeds', async () => {
    const { io, events, stop } = scripted([cut, cut, alive, alive, alive]);
    expect(await runFeeder(io, settings, stop.signal)).toBe('disarmed');
    expect(events).toEqual(['arm', 'publish critical: arming', 'publish passing', 'feed', 'publish passing', 'publish critical: disarmed: the nova-ha-watchdog service stopped', 'disarm']);
  });

  it('cut off: stops feeding (the watchdog resets the node) and, unable to tell the controllers, never disarms', async () => {
    const { io, events, stop } = scripted([alive, cut, cut], { publishedCritical: false });
    expect(await runFeeder(io, settings, stop.signal)).toBe('left-armed');
    expect(events.filter((e) => e === 'feed')).toEqual([]);
    expect(events.at(-1)).toBe('abandon');
  });

  it('a node never seen alive leaves the watchdog alone', async () => {
    const { io, events, stop } = scripted([cut, cut]);
    expect(await runFeeder(io, settings, stop.signal)).toBe('never-armed');
    expect(events).toEqual([]);
  });
});
