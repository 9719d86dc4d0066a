/**
 * The HA priority from the places an operator sets it besides the instance (issue 17 item 4):
 * an image property, a flavor extra spec and a host aggregate's metadata each decide an
 * instance's place in the evacuation order, and the instance's own metadata wins over its
 * host's aggregate. One evacuate call at a time ([evacuation] concurrency = 1), so the order
 * of nova-ha's calls is the order it chose.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootOn, currentIncident, hang, until } from '../../lab/scenario.js';
import { scenarioLab } from './lab-context.js';
import { controllerLog } from './support/evaluations.js';

const env = scenarioLab({ fencing: 'ipmi', overrides: { evacuation: { concurrency: '1' } } });

const IMAGE = 'prio-img-80';
const FLAVOR = 'prio.flavor-50';
const AGGREGATE = 'prio-agg-10';

beforeAll(async () => {
  await env.ctx.nova.createImage(IMAGE, { nova_ha_priority: '80' });
  await env.ctx.nova.createFlavor(FLAVOR, { vcpus: 1, ramMb: 512, diskGb: 1 }, { 'nova_ha:nova_ha_priority': '50' });
  await env.ctx.nova.createAggregate(AGGREGATE, ['cmp1'], { nova_ha_priority: '10' });
});

afterAll(async () => {
  // Every server was deleted after the test (scenarioLab); what is left is the cloud's set-up.
  await env.ctx.nova.deleteAggregate(AGGREGATE);
  await env.ctx.nova.deleteFlavor(FLAVOR);
  await env.ctx.nova.deleteImage(IMAGE);
});

describe('HA priority beyond instance metadata', () => {
  it('priority from image, flavor and aggregate each decides an order', async () => {
    const since = Date.now();
    // Names sort the other way round, so only the priorities can give the expected order.
    const [byImage] = await bootOn(env.ctx, 'cmp1', 1, 'prio-d-image', { image: IMAGE });
    const [byFlavor] = await bootOn(env.ctx, 'cmp1', 1, 'prio-c-flavor', { flavor: FLAVOR });
    const [byAggregate, byMetadata] = await bootOn(env.ctx, 'cmp1', 2, 'prio-ab');
    await env.ctx.nova.setMetadata(byMetadata!, 'nova_ha_priority', '5');
    const expected = [byImage!, byFlavor!, byAggregate!, byMetadata!];
    env.touch('cmp1');
    await hang(env.ctx, 'cmp1');
    const fenced = await until('fenced', 240_000, () => currentIncident(env.ctx, 'cmp1'), (i) => i?.phase === 'fenced');

    // nova-ha's evacuate calls for these servers, in the order they went out (one at a time).
    const calls = controllerLog(env.ctx, 'move-called', since)
      .filter((r) => r['step'] === 'evacuation' && expected.includes(String(r['instance'])))
      .sort((a, b) => Date.parse(String(a['ts'])) - Date.parse(String(b['ts'])))
      .map((r) => String(r['instance']));
    expect(calls).toEqual(expected);

    // Each instance's record says where its priority came from.
    const priorities = Object.fromEntries((fenced!.instances ?? []).map((o) => [o.id, [o.outcome, o.priority]]));
    expect(priorities).toEqual({
      [byImage!]: ['evacuated', `priority 80 from image ${IMAGE}`],
      [byFlavor!]: ['evacuated', `priority 50 from flavor ${FLAVOR}`],
      [byAggregate!]: ['evacuated', `priority 10 from aggregate ${AGGREGATE}`],
      [byMetadata!]: ['evacuated', 'priority 5 from its metadata'],
    });
    // Every place was read: no instance's record stands on a fallback.
    expect(controllerLog(env.ctx, 'ha-policy-unread', since)).toEqual([]);
  });
});
