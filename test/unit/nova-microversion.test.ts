import { describe, expect, it } from 'vitest';
import { NovaConfigError, NovaReplyError } from '../../lib/systems/nova/errors.js';
import { atLeast, chooseMicroversion, compareMicroversions, formatMicroversion, parseMicroversion, versionRangeFromDocument } from '../../lib/systems/nova/microversion.js';

const range = (min: string, max: string) => ({ min: parseMicroversion(min), max: parseMicroversion(max) });

describe('microversions', () => {
  it('compares numerically, not as text', () => {
    expect(compareMicroversions('2.9', '2.10')).toBeLessThan(0);
    expect(compareMicroversions('2.53', '2.53')).toBe(0);
    expect(atLeast('2.100', '2.93')).toBe(true);
    expect(atLeast('2.13', '2.14')).toBe(false);
  });

  it('rejects what is not MAJOR.MINOR', () => {
    expect(() => parseMicroversion('latest')).toThrow(NovaReplyError);
    expect(() => parseMicroversion('2')).toThrow(/not a microversion/);
  });

  it.each([
    ['cloud newer than nova-ha: nova-ha\'s newest', range('2.1', '2.96'), '2.53', '2.93'],
    ['cloud older than nova-ha: the cloud\'s newest', range('2.1', '2.60'), '2.53', '2.60'],
    ['exactly the floor', range('2.1', '2.53'), '2.53', '2.53'],
    ['Zed', range('2.1', '2.93'), '2.53', '2.93'],
  ])('%s', (_name, cloud, floor, expected) => {
    expect(formatMicroversion(chooseMicroversion(cloud, floor, '2.93'))).toBe(expected);
  });

  it('refuses a cloud below the floor, naming both and the fix', () => {
    expect(() => chooseMicroversion(range('2.1', '2.52'), '2.53', '2.93')).toThrow(NovaConfigError);
    expect(() => chooseMicroversion(range('2.1', '2.52'), '2.53', '2.93')).toThrow(/offers compute microversions 2\.1 to 2\.52, below \[nova\] microversion_floor = 2\.53; upgrade Nova/);
  });

  it('refuses a floor newer than this code knows, and a cloud that dropped every version it knows', () => {
    expect(() => chooseMicroversion(range('2.1', '2.96'), '2.95', '2.93')).toThrow(/newer than the newest microversion nova-ha knows/);
    expect(() => chooseMicroversion(range('2.94', '2.99'), '2.53', '2.93')).toThrow(/upgrade nova-ha/);
  });

  it('reads the v2.1 version document and the unversioned root', () => {
    const v21 = { version: { id: 'v2.1', status: 'CURRENT', version: '2.93', min_version: '2.1' } };
    expect(versionRangeFromDocument(v21, 'here')).toEqual(range('2.1', '2.93'));
    const root = { versions: [{ id: 'v2.0', version: '', min_version: '' }, { id: 'v2.1', version: '2.88', min_version: '2.1' }] };
    expect(versionRangeFromDocument(root, 'here')).toEqual(range('2.1', '2.88'));
  });

  it('treats an empty version as a cloud without microversions, and names a broken document', () => {
    expect(versionRangeFromDocument({ version: { id: 'v2.1', version: '', min_version: '' } }, 'here')).toEqual(range('2.1', '2.1'));
    expect(() => versionRangeFromDocument({ versions: [] }, 'Nova GET /v2.1')).toThrow(/^Nova GET \/v2\.1: the compute version document has no v2\.1 entry/);
    expect(() => versionRangeFromDocument('<html>', 'x')).toThrow(/not a JSON object/);
  });
});
