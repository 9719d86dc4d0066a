/**
 * The pollers' views (lib/state/views.ts): what a poll writes (only hosts whose entry changed),
 * and how the per-host entries and the summary read back as one view, with the old semantics:
 * no summary is no view, and no host counts while Nova's API does not answer.
 */
import { describe, expect, it } from 'vitest';
import { assembleViews, novaViewChanges, powerViewChanges } from '../../lib/state/views.js';
import type { NovaServiceState, PowerHostState } from '../../lib/state/records.js';
import type { ComputeService } from '../../lib/systems/nova/types.js';

const NOW = Date.parse('2026-11-25T10:00:00Z');
const service = (host: string, over: Partial<ComputeService> = {}): ComputeService => ({ id: `id-${host}`, binary: 'nova-compute', host, zone: 'nova', status: 'enabled', state: 'up', forcedDown: false, disabledReason: null, updatedAt: '2026-11-25T09:59:55', ...over });
const entry = (host: string, over: Partial<NovaServiceState> = {}): NovaServiceState => ({ id: `id-${host}`, state: 'up', since: NOW - 3_600_000, status: 'enabled', forcedDown: false, disabledReason: null, reportedAt: Date.parse('2026-11-25T09:50:00Z'), ...over });

describe('novaViewChanges', () => {
  it('writes new hosts, changed hosts and nothing else; removes hosts Nova no longer lists', () => {
    const previous = new Map([['cmp1', entry('cmp1')], ['cmp2', entry('cmp2')], ['gone', entry('gone')]]);
    const changes = novaViewChanges(previous, [service('cmp1'), service('cmp2', { state: 'down' }), service('cmp3')], new Set(), NOW);
    expect([...changes.set.keys()].sort()).toEqual(['cmp2', 'cmp3']);
    expect(changes.set.get('cmp2')).toMatchObject({ state: 'down', since: NOW });
    expect(changes.set.get('cmp3')).toMatchObject({ state: 'up', since: NOW });
    expect(changes.remove).toEqual(['gone']);
  });

  it('keeps since while the state stays, even when other fields change', () => {
    const previous = new Map([['cmp1', entry('cmp1')]]);
    const changes = novaViewChanges(previous, [service('cmp1', { status: 'disabled', disabledReason: 'nova-ha: fenced' })], new Set(), NOW);
    expect(changes.set.get('cmp1')).toMatchObject({ status: 'disabled', since: NOW - 3_600_000 });
  });

  it('a new report alone rewrites only hosts with an open incident (the policy reads it only there)', () => {
    const previous = new Map([['cmp1', entry('cmp1')], ['cmp2', entry('cmp2')]]);
    const changes = novaViewChanges(previous, [service('cmp1'), service('cmp2')], new Set(['cmp2']), NOW);
    expect([...changes.set.keys()]).toEqual(['cmp2']);
    expect(changes.set.get('cmp2')!.reportedAt).toBe(Date.parse('2026-11-25T09:59:55Z'));
  });
});

describe('powerViewChanges', () => {
  it('writes a host when its state or error changed, keeping since while the state stays', () => {
    const on = (since: number, error?: string): PowerHostState => ({ state: 'on', since, ...(error ? { error } : {}) });
    const previous = new Map<string, PowerHostState>([['cmp1', on(1)], ['cmp2', on(1)], ['cmp3', { state: 'unknown', since: 1, error: 'timeout' }], ['gone', on(1)]]);
    const changes = powerViewChanges(previous, [['cmp1', { state: 'on' }], ['cmp2', { state: 'off' }], ['cmp3', { state: 'unknown', error: 'BMC 10.0.0.3: auth failed' }], ['cmp4', { state: 'on' }]], NOW);
    expect([...changes.set.keys()].sort()).toEqual(['cmp2', 'cmp3', 'cmp4']);
    expect(changes.set.get('cmp2')).toEqual({ state: 'off', since: NOW });
    expect(changes.set.get('cmp3')).toEqual({ state: 'unknown', since: 1, error: 'BMC 10.0.0.3: auth failed' });
    expect(changes.remove).toEqual(['gone']);
  });
});

describe('assembleViews', () => {
  it('a view without its summary does not exist; with it, every host entry is in it', () => {
    const views = assembleViews(new Map<string, unknown>([
      ['power/hosts/cmp1', { state: 'on', since: 5 }],
      ['nova/poll', { at: NOW, by: 'ctl2', api: 'up', schedulers: 'up' }],
      ['nova/hosts/cmp1', entry('cmp1')],
      ['nova/hosts/cmp2', entry('cmp2', { state: 'down' })],
    ]));
    expect(views.power).toBeNull();
    expect(views.nova).toMatchObject({ at: NOW, by: 'ctl2', api: 'up' });
    expect(Object.keys(views.nova!.hosts).sort()).toEqual(['cmp1', 'cmp2']);
    expect(views.nova!.hosts['cmp2']!.state).toBe('down');
  });

  it("no host counts while Nova's API does not answer", () => {
    const views = assembleViews(new Map<string, unknown>([
      ['power/poll', { at: NOW, by: 'ctl1' }],
      ['power/hosts/cmp1', { state: 'off', since: 5 }],
      ['nova/poll', { at: NOW, by: 'ctl1', api: 'down', schedulers: 'unknown', error: 'timeout' }],
      ['nova/hosts/cmp1', entry('cmp1')],
    ]));
    expect(views.power).toEqual({ at: NOW, by: 'ctl1', hosts: { cmp1: { state: 'off', since: 5 } } });
    expect(views.nova).toEqual({ at: NOW, by: 'ctl1', api: 'down', schedulers: 'unknown', error: 'timeout', hosts: {} });
  });
});
