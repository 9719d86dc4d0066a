/**
 * The order of fence levels (lib/decision/fence-plan.ts): which level runs next, which one
 * verified the power off, when the watchdog may stand in as the last level, and how a level is
 * named in the timeline the operators read.
 */
import { describe, expect, it } from 'vitest';
import { IPMI_LEVEL, describeLevel, fencePlan, levelName, nextFenceStep, parseLevel, type FencePlan, type FenceStep } from '../../lib/decision/fence-plan.js';
import type { SelfFenceEvidence } from '../../lib/decision/fence-evidence.js';

const NOW = 1_000_000;
const watchdog = (safeAt: number): SelfFenceEvidence => ({ lastContact: safeAt - 50_000, timeoutMs: 20_000, marginMs: 10_000, safeAt });

describe('level names', () => {
  it('"ipmi" is the built-in method; any other name is a fence agent device of that name', () => {
    expect(IPMI_LEVEL).toBe('ipmi');
    expect(parseLevel('ipmi')).toEqual({ kind: 'ipmi' });
    expect(parseLevel('pdu')).toEqual({ kind: 'agent', device: 'pdu' });
    expect(parseLevel('IPMI')).toEqual({ kind: 'agent', device: 'IPMI' });
    expect(levelName({ kind: 'ipmi' })).toBe('ipmi');
    expect(levelName({ kind: 'agent', device: 'redfish' })).toBe('redfish');
  });
});

describe('fencePlan: the levels for one host', () => {
  it('method ipmi: the ipmi level alone, whatever the configured names', () => {
    expect(fencePlan('ipmi', ['pdu', 'redfish'], NOW)).toEqual({ levels: [{ kind: 'ipmi' }] });
  });

  it('method agent: the configured names in order; no watchdog key without one', () => {
    const plan = fencePlan('agent', ['pdu', 'ipmi'], NOW);
    expect(plan).toEqual({ levels: [{ kind: 'agent', device: 'pdu' }, { kind: 'ipmi' }] });
    expect('watchdog' in plan).toBe(false);
  });

  it('method none: no level, but the watchdog still stands once its safe time has passed', () => {
    expect(fencePlan('none', ['ipmi'], NOW)).toEqual({ levels: [] });
    expect(fencePlan('none', ['ipmi'], NOW, watchdog(NOW - 1))).toEqual({ levels: [], watchdog: watchdog(NOW - 1) });
  });

  it('the watchdog is a level from its safe time on (inclusive), never before', () => {
    expect(fencePlan('ipmi', [], NOW, watchdog(NOW)).watchdog).toEqual(watchdog(NOW));
    expect(fencePlan('ipmi', [], NOW, watchdog(NOW + 1))).toEqual({ levels: [{ kind: 'ipmi' }] });
    expect('watchdog' in fencePlan('ipmi', [], NOW, watchdog(NOW + 1))).toBe(false);
  });
});

describe('nextFenceStep: stop at the first verified level, else the next, else the watchdog, else give up', () => {
  const three = fencePlan('agent', ['ipmi', 'redfish', 'pdu'], NOW);
  const withDog = fencePlan('agent', ['ipmi', 'pdu'], NOW, watchdog(NOW));
  const cases: [string, FencePlan, boolean[], FenceStep][] = [
    ['nothing tried: the first level', three, [], { kind: 'level', index: 0, level: { kind: 'ipmi' } }],
    ['the first verified: verified by it, no further level', three, [true], { kind: 'verified', by: 'ipmi' }],
    ['the first failed: the second level', three, [false], { kind: 'level', index: 1, level: { kind: 'agent', device: 'redfish' } }],
    ['the second verified', three, [false, true], { kind: 'verified', by: 'redfish' }],
    ['two failed: the third level', three, [false, false], { kind: 'level', index: 2, level: { kind: 'agent', device: 'pdu' } }],
    ['the third verified', three, [false, false, true], { kind: 'verified', by: 'pdu' }],
    ['all failed and no watchdog: exhausted', three, [false, false, false], { kind: 'exhausted' }],
    ['all levels failed, the watchdog stands: the watchdog', withDog, [false, false], { kind: 'watchdog', evidence: watchdog(NOW) }],
    ['the watchdog counted as verified', withDog, [false, false, true], { kind: 'verified', by: 'watchdog' }],
    ['the watchdog tried too and not verified: exhausted', withDog, [false, false, false], { kind: 'exhausted' }],
    ['no level at all (method none), the watchdog stands: the watchdog first', fencePlan('none', [], NOW, watchdog(NOW)), [], { kind: 'watchdog', evidence: watchdog(NOW) }],
    ['no level and no watchdog: exhausted at once', fencePlan('none', [], NOW), [], { kind: 'exhausted' }],
    ['an earlier verified level wins over a later one', three, [false, true, true], { kind: 'verified', by: 'redfish' }],
  ];
  it.each(cases)('%s', (_name, plan, verified, step) => {
    expect(nextFenceStep(plan, verified)).toEqual(step);
  });
});

describe('describeLevel: "level i of n (name)" for timelines and logs', () => {
  it('counts the levels, and the watchdog as the last one when it stands', () => {
    const plan = fencePlan('agent', ['ipmi', 'pdu'], NOW);
    expect(describeLevel(plan, 0)).toBe('level 1 of 2 (ipmi)');
    expect(describeLevel(plan, 1)).toBe('level 2 of 2 (pdu)');
    const withDog = fencePlan('agent', ['ipmi', 'pdu'], NOW, watchdog(NOW));
    expect(describeLevel(withDog, 0)).toBe('level 1 of 3 (ipmi)');
    expect(describeLevel(withDog, 2)).toBe('level 3 of 3 (watchdog)');
  });
});
