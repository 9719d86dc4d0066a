/**
 * Whether a compute feeds its watchdog (lib/decision/watchdog-feed.ts), and the line its feeder
 * logs: fed only while a leader of mgmt or storage answered in time that it is alive, and its
 * required checks pass.
 */
import { describe, expect, it } from 'vitest';
import { feedVerdict, type FeedInputs, type FeedVerdict, type HealthRead } from '../../lib/decision/watchdog-feed.js';
import type { CheckStatus } from '../../lib/decision/model.js';

const alive: HealthRead = { ok: true, serfHealth: 'passing' };
const critical: HealthRead = { ok: true, serfHealth: 'critical' };
const warning: HealthRead = { ok: true, serfHealth: 'warning' };
const missing: HealthRead = { ok: true, serfHealth: undefined };
const noLeader: HealthRead = { ok: false, error: 'HTTP 500: No cluster leader' };
const checks = (entries: [string, CheckStatus | undefined][]): FeedInputs['checks'] => ({ ok: true, status: new Map(entries) });
const base: FeedInputs = { mgmt: alive, storage: alive, checks: checks([]), requiredChecks: [], elapsedMs: 100, maxElapsedMs: 2000 };

describe('feedVerdict', () => {
  const cases: [string, Partial<FeedInputs>, FeedVerdict][] = [
    ['alive on both, nothing required: fed, both named', {}, { feed: true, reason: 'seen alive by the leader of mgmt and storage' }],
    ['alive on mgmt only', { storage: critical }, { feed: true, reason: 'seen alive by the leader of mgmt' }],
    ['alive on storage only', { mgmt: noLeader }, { feed: true, reason: 'seen alive by the leader of storage' }],
    ['an answer exactly at the limit still counts', { elapsedMs: 2000 }, { feed: true, reason: 'seen alive by the leader of mgmt and storage' }],
    ['an answer one ms late does not', { elapsedMs: 2001 }, { feed: false, reason: 'the health reads took 2001 ms, more than the 2000 ms an answer may take to count' }],
    ['a late answer is no feed even when everything else is fine', { elapsedMs: 5000, requiredChecks: ['a'], checks: checks([['a', 'passing']]) }, { feed: false, reason: 'the health reads took 5000 ms, more than the 2000 ms an answer may take to count' }],
    ['warning is not alive; a missing serfHealth is named', { mgmt: warning, storage: missing }, { feed: false, reason: 'no leader of mgmt or storage sees this node alive (mgmt: serfHealth warning; storage: serfHealth missing)' }],
    ['no leader anywhere: each error named', { mgmt: { ok: false, error: 'timeout' }, storage: noLeader }, { feed: false, reason: 'no leader of mgmt or storage sees this node alive (mgmt: timeout; storage: HTTP 500: No cluster leader)' }],
    ['required checks all passing: named in the reason', { requiredChecks: ['a', 'b'], checks: checks([['a', 'passing'], ['b', 'passing']]) }, { feed: true, reason: 'seen alive by the leader of mgmt and storage; a, b passing' }],
    ['a required check failing, one with no status, one missing', { requiredChecks: ['a', 'b', 'c', 'd'], checks: checks([['a', 'critical'], ['b', undefined], ['d', 'passing']]) }, { feed: false, reason: 'required checks not passing: a (critical), b (unknown), c (missing)' }],
    ['a required check warning', { requiredChecks: ['a'], checks: checks([['a', 'warning']]) }, { feed: false, reason: 'required checks not passing: a (warning)' }],
    ['required checks unreadable', { requiredChecks: ['a'], checks: { ok: false, error: 'agent hung' } }, { feed: false, reason: "the required checks could not be read from this node's mgmt agent (agent hung)" }],
    ['unreadable checks do not matter when none is required', { checks: { ok: false, error: 'agent hung' } }, { feed: true, reason: 'seen alive by the leader of mgmt and storage' }],
    ['checks are not looked at when no leader sees it alive', { mgmt: critical, storage: critical, requiredChecks: ['a'], checks: { ok: false, error: 'agent hung' } }, { feed: false, reason: 'no leader of mgmt or storage sees this node alive (mgmt: serfHealth critical; storage: serfHealth critical)' }],
  ];
  it.each(cases)('%s', (_name, change, verdict) => {
    expect(feedVerdict({ ...base, ...change })).toEqual(verdict);
  });
});
