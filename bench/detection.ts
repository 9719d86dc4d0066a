/**
 * Issue 4 benchmark: detection latency, from a compute's storage link cut to its incident recorded
 * in Consul KV, over N runs; and the checks watch handler's wall time and peak RSS per call with
 * the lab's real watch payload. Brings up its own lab (prefix nhb, 20 computes, no Nova) with
 * nova-ha installed by install.sh, and always takes it down.
 *   npx tsx bench/detection.ts [runs=10] [computes=20]
 */
import { join } from 'node:path';
import { Lab } from '../lab/lab.js';
import { installedLib, installNovaHa, novaHaConfig } from '../lab/nova-ha.js';
import { dropReportWhenStdoutCloses, header, row } from './stats.js';

dropReportWhenStdoutCloses();

const runs = Number(process.argv[2] ?? 10);
const computes = Number(process.argv[3] ?? 20);
const prefix = 'nhb';
const log = (m: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${m}\n`);

if (await Lab.exists(prefix)) await Lab.down(prefix, log);
const lab = await Lab.up({ prefix, computes, log });
try {
  await installNovaHa(lab.spec, { fencing: 'none' });
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  const consul = lab.consul('ctl1', 'mgmt');
  const incidentKey = (host: string): string => `/v1/kv/nova-ha/incidents/${host}?consistent`;

  const detection: number[] = [];
  const failedInLeader: number[] = [];
  for (let i = 0; i < runs; i++) {
    const host = lab.computes[i % lab.computes.length]!;
    const cutAt = Date.now();
    await lab.cutLink(host, 'storage', 'host');
    failedInLeader.push(await lab.waitForMember(host, 'storage', 'failed', 60_000) );
    for (;;) {
      if ((await consul.get(incidentKey(host))).status === 200) break;
      if (Date.now() - cutAt > 60_000) throw new Error(`no incident for ${host} within 60 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    detection.push(Date.now() - cutAt);
    // nova-ha repairs the host-side cut itself; wait until the incident is gone before the next run.
    for (;;) {
      if ((await consul.get(incidentKey(host))).status === 404) break;
      if (Date.now() - cutAt > 180_000) throw new Error(`incident of ${host} still open after 180 s`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await lab.restoreLink(host, 'storage', 'host');
    log(`run ${i + 1}: ${host} incident recorded ${detection.at(-1)} ms after the cut`);
  }

  // The watch handler as Consul runs it (user consul, in ctl1), fed the real payload of this lab.
  const payload = JSON.stringify((await consul.getOk('/v1/health/state/any')) as unknown[]);
  const wall: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < runs; i++) {
    const result = await lab.exec('ctl1', ['/usr/bin/time', '-f', '%e %M', 'setpriv', '--reuid=consul', '--regid=consul', '--init-groups', '--', process.execPath, join(installedLib(lab.spec), 'handlers', 'watch-checks.js'), '--config', novaHaConfig(lab.spec, 'ctl1'), '--network', 'mgmt'], { input: payload, allowFailure: true });
    const [seconds, kb] = result.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
    wall.push(seconds! * 1000);
    rss.push(kb! * 1024);
  }

  console.log(`\nnova-ha detection and watch handler, lab ${prefix}: ${computes} computes, ${JSON.parse(payload).length} checks in the watch payload`);
  console.log(header('seconds'));
  console.log(row('storage cut -> failed in the leader view', failedInLeader));
  console.log(row('storage cut -> incident recorded in KV', detection));
  console.log(row('watch handler wall time per call', wall));
  console.log(row('watch handler peak RSS per call (MiB)', rss, (v) => (v / 2 ** 20).toFixed(1)));
} finally {
  await Lab.down(prefix, log);
}
