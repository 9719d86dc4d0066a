/**
 * An instance's HA priority and opt-in/opt-out from its metadata, image, flavor and host
 * aggregates: each source alone, the precedence between them, aggregates disagreeing, bad values
 * ignored with a reason, and sources that could not be read.
 */
import { describe, expect, it } from 'vitest';
import { resolveHaPolicy, type HaInputs, type HaKeys } from '../../lib/decision/ha-policy.js';

const OPT_OUT: HaKeys = { mode: 'opt-out', selectKey: 'nova_ha_evacuate', priorityKey: 'nova_ha_priority' };
const OPT_IN: HaKeys = { ...OPT_OUT, mode: 'opt-in' };
const image = (values: Record<string, string>, name = 'cirros-ha') => ({ ok: true as const, value: { name, values } });
const flavor = (values: Record<string, string>, name = 'm1.ha') => ({ ok: true as const, value: { name, values } });
const aggregates = (...list: [string, Record<string, string>][]) => ({ ok: true as const, value: list.map(([name, values]) => ({ name, values })) });
const unread = (why: string) => ({ ok: false as const, why });

describe('resolveHaPolicy: priority', () => {
  const cases: { name: string; inputs: HaInputs; priority: number; from: string; ignored?: RegExp; notable?: boolean }[] = [
    { name: 'no source: 0 by default', inputs: { metadata: {} }, priority: 0, from: 'priority 0 (default: no source sets nova_ha_priority)', notable: false },
    { name: 'instance metadata', inputs: { metadata: { nova_ha_priority: '5' } }, priority: 5, from: 'priority 5 from its metadata' },
    { name: 'image property', inputs: { metadata: {}, image: image({ nova_ha_priority: '80' }) }, priority: 80, from: 'priority 80 from image cirros-ha' },
    { name: 'flavor extra spec, bare key', inputs: { metadata: {}, flavor: flavor({ nova_ha_priority: '50' }) }, priority: 50, from: 'priority 50 from flavor m1.ha' },
    { name: 'flavor extra spec, scoped key', inputs: { metadata: {}, flavor: flavor({ 'nova_ha:nova_ha_priority': '50' }) }, priority: 50, from: 'priority 50 from flavor m1.ha' },
    { name: 'flavor: the scoped key wins over the bare one', inputs: { metadata: {}, flavor: flavor({ nova_ha_priority: '1', 'nova_ha:nova_ha_priority': '50' }) }, priority: 50, from: 'priority 50 from flavor m1.ha' },
    { name: 'a scoped key counts only in extra specs', inputs: { metadata: { 'nova_ha:nova_ha_priority': '9' }, image: image({ 'nova_ha:nova_ha_priority': '9' }) }, priority: 0, from: 'priority 0 (default: no source sets nova_ha_priority)', notable: false },
    { name: 'aggregate metadata', inputs: { metadata: {}, aggregates: aggregates(['ha-low', { nova_ha_priority: '10' }]) }, priority: 10, from: 'priority 10 from aggregate ha-low' },
    { name: 'aggregates disagreeing: the highest', inputs: { metadata: {}, aggregates: aggregates(['a1', { nova_ha_priority: '10' }], ['a2', { nova_ha_priority: '30' }], ['a3', {}]) }, priority: 30, from: 'priority 30 from aggregate a2 (the highest of 2 aggregates)' },
    { name: 'instance wins over image, flavor and aggregate', inputs: { metadata: { nova_ha_priority: '5' }, image: image({ nova_ha_priority: '80' }), flavor: flavor({ nova_ha_priority: '50' }), aggregates: aggregates(['ha', { nova_ha_priority: '10' }]) }, priority: 5, from: 'priority 5 from its metadata' },
    { name: 'image wins over flavor and aggregate', inputs: { metadata: {}, image: image({ nova_ha_priority: '80' }), flavor: flavor({ nova_ha_priority: '50' }), aggregates: aggregates(['ha', { nova_ha_priority: '10' }]) }, priority: 80, from: 'priority 80 from image cirros-ha' },
    { name: 'flavor wins over aggregate', inputs: { metadata: {}, flavor: flavor({ nova_ha_priority: '50' }), aggregates: aggregates(['ha', { nova_ha_priority: '90' }]) }, priority: 50, from: 'priority 50 from flavor m1.ha' },
    { name: 'a lower specific value still wins (0 set on purpose)', inputs: { metadata: { nova_ha_priority: '0' }, image: image({ nova_ha_priority: '80' }) }, priority: 0, from: 'priority 0 from its metadata' },
    { name: 'negative and fractional numbers', inputs: { metadata: { nova_ha_priority: '-1.5' } }, priority: -1.5, from: 'priority -1.5 from its metadata' },
    { name: 'not a number: ignored, the next source decides', inputs: { metadata: { nova_ha_priority: 'high' }, image: image({ nova_ha_priority: '80' }) }, priority: 80, from: 'priority 80 from image cirros-ha; metadata nova_ha_priority=high ignored: not a number', ignored: /^metadata nova_ha_priority=high ignored: not a number$/ },
    { name: 'empty: ignored', inputs: { metadata: { nova_ha_priority: ' ' } }, priority: 0, from: 'priority 0 (default: no source sets nova_ha_priority); metadata nova_ha_priority=  ignored: not a number', ignored: /metadata nova_ha_priority= {2}ignored/ },
    { name: 'Infinity: ignored', inputs: { metadata: {}, image: image({ nova_ha_priority: 'Infinity' }), flavor: flavor({ nova_ha_priority: '7' }) }, priority: 7, from: 'priority 7 from flavor m1.ha; image cirros-ha property nova_ha_priority=Infinity ignored: not a number', ignored: /^image cirros-ha property nova_ha_priority=Infinity ignored: not a number$/ },
    { name: 'a bad aggregate value beside a good one', inputs: { metadata: {}, aggregates: aggregates(['a1', { nova_ha_priority: 'x' }], ['a2', { nova_ha_priority: '3' }]) }, priority: 3, from: 'priority 3 from aggregate a2; aggregate a1 metadata nova_ha_priority=x ignored: not a number', ignored: /^aggregate a1 metadata nova_ha_priority=x ignored/ },
    { name: 'the configured key in every source', inputs: { metadata: { nova_ha_priority: '9' }, image: image({ rank: '4' }) }, priority: 4, from: 'priority 4 from image cirros-ha' },
  ];
  it.each(cases)('$name', (c) => {
    const keys = c.name.startsWith('the configured key') ? { ...OPT_OUT, priorityKey: 'rank' } : OPT_OUT;
    const decision = resolveHaPolicy(c.inputs, keys);
    expect([decision.priority, decision.priorityFrom, decision.evacuate]).toEqual([c.priority, c.from, true]);
    if (c.ignored) expect(decision.ignored).toEqual([expect.stringMatching(c.ignored)]);
    else expect(decision.ignored).toEqual([]);
    expect(decision.notable).toBe(c.notable ?? true);
  });
});

describe('resolveHaPolicy: opt-in and opt-out', () => {
  const cases: { name: string; keys?: HaKeys; inputs: HaInputs; reason?: RegExp }[] = [
    { name: 'opt-out: nothing set is evacuated', inputs: { metadata: {} } },
    { name: 'opt-out: metadata false', inputs: { metadata: { nova_ha_evacuate: 'false' } }, reason: /^opted out \(metadata nova_ha_evacuate=false\)$/ },
    { name: 'opt-out: image property', inputs: { metadata: {}, image: image({ nova_ha_evacuate: 'no' }) }, reason: /^opted out \(image cirros-ha property nova_ha_evacuate=no\)$/ },
    { name: 'opt-out: flavor extra spec, scoped', inputs: { metadata: {}, flavor: flavor({ 'nova_ha:nova_ha_evacuate': 'off' }) }, reason: /^opted out \(flavor m1.ha extra spec nova_ha:nova_ha_evacuate=off\)$/ },
    { name: 'opt-out: aggregate', inputs: { metadata: {}, aggregates: aggregates(['dev', { nova_ha_evacuate: 'false' }]) }, reason: /^opted out \(aggregate dev metadata nova_ha_evacuate=false\)$/ },
    { name: 'opt-out: an aggregate opt-out wins over another aggregate opting in', inputs: { metadata: {}, aggregates: aggregates(['az1', { nova_ha_evacuate: 'true' }], ['dev', { nova_ha_evacuate: 'false' }]) }, reason: /aggregate dev metadata/ },
    { name: 'opt-out: the instance opting in overrides an aggregate opt-out', inputs: { metadata: { nova_ha_evacuate: 'true' }, aggregates: aggregates(['dev', { nova_ha_evacuate: 'false' }]) } },
    { name: 'opt-out: the image opting in overrides a flavor opt-out', inputs: { metadata: {}, image: image({ nova_ha_evacuate: 'yes' }), flavor: flavor({ nova_ha_evacuate: 'no' }) } },
    { name: 'opt-out: a bad metadata flag is ignored, the image opts out', inputs: { metadata: { nova_ha_evacuate: 'maybe' }, image: image({ nova_ha_evacuate: 'false' }) }, reason: /^opted out \(image cirros-ha property/ },
    { name: 'opt-in: nothing set stays', keys: OPT_IN, inputs: { metadata: {} }, reason: /^not opted in \(opt-in mode needs metadata nova_ha_evacuate=true\); its image, flavor or host aggregate may set it too$/ },
    { name: 'opt-in: image opts in', keys: OPT_IN, inputs: { metadata: {}, image: image({ nova_ha_evacuate: 'true' }) } },
    { name: 'opt-in: flavor opts in', keys: OPT_IN, inputs: { metadata: {}, flavor: flavor({ nova_ha_evacuate: 'on' }) } },
    { name: 'opt-in: aggregate opts in', keys: OPT_IN, inputs: { metadata: {}, aggregates: aggregates(['ha', { nova_ha_evacuate: '1' }]) } },
    { name: 'opt-in: the metadata opting out overrides the aggregate', keys: OPT_IN, inputs: { metadata: { nova_ha_evacuate: 'false' }, aggregates: aggregates(['ha', { nova_ha_evacuate: 'true' }]) }, reason: /^not opted in \(metadata nova_ha_evacuate=false\)$/ },
  ];
  it.each(cases)('$name', (c) => {
    const decision = resolveHaPolicy(c.inputs, c.keys ?? OPT_OUT);
    expect(decision.evacuate).toBe(c.reason === undefined);
    if (c.reason) expect(decision.reason).toMatch(c.reason);
  });

  it('a bad flag is ignored with a reason', () => {
    expect(resolveHaPolicy({ metadata: { nova_ha_evacuate: 'maybe' } }, OPT_OUT).ignored).toEqual(['metadata nova_ha_evacuate=maybe ignored: neither true nor false']);
  });
});

describe('resolveHaPolicy: sources that could not be read', () => {
  it('an unread image: the flavor decides, and the answer says the image was not read', () => {
    const d = resolveHaPolicy({ metadata: {}, image: unread('Glance: 503'), flavor: flavor({ nova_ha_priority: '50' }) }, OPT_OUT);
    expect([d.priority, d.priorityFrom, d.unread, d.notable]).toEqual([50, 'priority 50 from flavor m1.ha; image properties unread (Glance: 503)', ['image properties unread (Glance: 503)'], true]);
  });

  it('unread aggregates matter only when nothing more specific decided', () => {
    expect(resolveHaPolicy({ metadata: { nova_ha_priority: '5', nova_ha_evacuate: 'true' }, aggregates: unread('403') }, OPT_OUT).unread).toEqual([]);
    const d = resolveHaPolicy({ metadata: {}, aggregates: unread('403') }, OPT_OUT);
    expect([d.priorityFrom, d.evacuate, d.notable]).toEqual(['priority 0 (default: no source sets nova_ha_priority); aggregates unread (403)', true, true]);
  });

  it('the priority decided by the metadata, the opt-in left to unread sources: said in the reason', () => {
    const d = resolveHaPolicy({ metadata: { nova_ha_priority: '5' }, image: unread('timed out'), flavor: unread('extra specs not shown'), aggregates: aggregates() }, OPT_IN);
    expect(d.evacuate).toBe(false);
    expect(d.reason).toBe('not opted in (opt-in mode needs metadata nova_ha_evacuate=true); its image, flavor or host aggregate may set it too; image properties unread (timed out); flavor extra specs unread (extra specs not shown)');
  });

  it('never throws, whatever the values', () => {
    const odd = { nova_ha_priority: '1e999', nova_ha_evacuate: '\u0000' };
    expect(() => resolveHaPolicy({ metadata: odd, image: image(odd), flavor: flavor(odd), aggregates: aggregates(['x', odd]) }, OPT_IN)).not.toThrow();
  });
});
