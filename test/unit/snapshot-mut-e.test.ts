/**
 * The JSON form of a snapshot (what `nova-ha simulate` reads): every field checked, a bad file
 * rejected with one line naming the file, the host and the field (invariant 9), and the ISO
 * times written by snapshotToJson read back as the same snapshot.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSnapshot, SnapshotError } from '../../lib/decision/snapshot.js';

const EXAMPLE = JSON.parse(readFileSync(new URL('../../examples/14-storage-repair-hopeless.json', import.meta.url), 'utf8')) as Record<string, unknown>;
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const example = (): Doc => structuredClone(EXAMPLE) as Doc;
const errorOf = (doc: unknown, source = 'obs.json'): string => {
  try {
    parseSnapshot(typeof doc === 'string' ? doc : JSON.stringify(doc), source);
  } catch (error) {
    expect(error).toBeInstanceOf(SnapshotError);
    return (error as Error).message;
  }
  throw new Error('parsed without an error');
};

describe('parseSnapshot: a bad incident key names the file, the host and the field', () => {
  it('an attempt nova-ha does not know', () => {
    const doc = example();
    doc['hosts'][0].incident.attempts = { reboot: '2026-11-25T09:59:00Z' };
    expect(errorOf(doc)).toBe('obs.json: host cmp1: incident.attempts: expected one of restart-storage-network, restart-nova-compute, power-on, drain, found "reboot"');
  });

  it('a report on a repair the node does not run itself', () => {
    const doc = example();
    doc['hosts'][0].incident.reports = { 'power-on': { result: 'ran', detail: 'x', at: '2026-11-25T09:59:00Z' } };
    expect(errorOf(doc)).toBe('obs.json: host cmp1: incident.reports: expected one of restart-storage-network, restart-nova-compute, found "power-on"');
  });
});
