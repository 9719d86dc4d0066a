/**
 * The lab a benchmark runs on: an existing one (NOVA_HA_BENCH_PREFIX=nht, left as it was found)
 * or its own (prefix nhb, or NOVA_HA_BENCH_NEW_PREFIX; 4 computes, Nova and nova-ha installed),
 * taken down at the end.
 */
import { Lab } from '../lab/lab.js';
import { NovaLab } from '../lab/nova.js';
import { installNovaHa } from '../lab/nova-ha.js';
import { novaHaLab, type NovaHaLab } from '../lab/scenario.js';

export const log = (m: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${m}\n`);

export async function withBenchLab(run: (ctx: NovaHaLab) => Promise<void>): Promise<void> {
  const existing = process.env['NOVA_HA_BENCH_PREFIX'];
  const prefix = existing ?? process.env['NOVA_HA_BENCH_NEW_PREFIX'] ?? 'nhb';
  if (!existing && (await Lab.exists(prefix))) await Lab.down(prefix, log);
  const lab = existing ? await Lab.attach(prefix, log) : await Lab.up({ prefix, computes: 4, log });
  try {
    const nova = new NovaLab(lab.spec);
    if (!nova.isUp()) {
      await nova.up();
      await nova.seed();
    }
    if (!existing) await installNovaHa(lab.spec, { fencing: 'ipmi' });
    await run(novaHaLab(lab));
  } finally {
    if (!existing) await Lab.down(prefix, log);
  }
}
