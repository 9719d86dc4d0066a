import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repairInvocation, ReplayGuard, signRequest, SUDO, verifyRequest, type RemediationAction } from '../../lib/recovery/repair-request.js';
import { Secret } from '../../lib/shared/secret.js';

const key = new Secret('k'.repeat(40));
const now = Date.parse('2026-11-25T10:00:00Z');
const options = { self: 'cmp1', now, maxAge: 60_000, allowed: new Set<RemediationAction>(['restart-storage-network', 'restart-nova-compute']) };
const signed = (over: Partial<{ node: string; action: RemediationAction; at: number }> = {}) =>
  signRequest({ node: over.node ?? 'cmp1', action: over.action ?? 'restart-storage-network', incident: 'cmp1-20261125T095900Z' }, key, over.at ?? now);

describe('remediation requests', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nova-ha-remediation-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts a fresh request signed with the key and addressed to this node', () => {
    const verdict = verifyRequest(signed(), key, options);
    expect(verdict.ok).toBe(true);
  });

  it.each([
    ['signed with another key (forged)', () => signRequest({ node: 'cmp1', action: 'restart-storage-network', incident: 'x' }, new Secret('x'.repeat(40)), now), /bad signature/],
    ['a field changed after signing', () => signed().replace('restart-storage-network', 'restart-nova-compute'), /bad signature/],
    ['no mac', () => JSON.stringify({ node: 'cmp1', action: 'restart-storage-network', incident: 'x', ts: now, nonce: 'n' }), /lacks/],
    ['not JSON', () => 'restart everything', /not JSON/],
    ['addressed to another node', () => signed({ node: 'cmp2' }), /addressed to cmp2/],
    ['too old (replayed later)', () => signed({ at: now - 61_000 }), /outside the 60s window/],
    ['from the future', () => signed({ at: now + 61_000 }), /outside the 60s window/],
  ])('refuses a request %s', (_name, make, reason) => {
    const verdict = verifyRequest(make(), key, options);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toMatch(reason);
  });

  it('refuses an action that is not allowed on this node', () => {
    const verdict = verifyRequest(signed({ action: 'restart-nova-compute' }), key, { ...options, allowed: new Set(['restart-storage-network']) });
    expect(verdict).toMatchObject({ ok: false, reason: expect.stringMatching(/not allowed here/) });
  });

  it('refuses an unknown action even when signed', () => {
    const verdict = verifyRequest(signed({ action: 'reboot' as RemediationAction }), key, options);
    expect(verdict).toMatchObject({ ok: false, reason: expect.stringMatching(/not one nova-ha knows/) });
  });

  it('remembers nonces so a replay inside the window is refused, and prunes old ones', () => {
    const guard = new ReplayGuard(join(dir, 'state', 'remediation-nonces.json'), 60_000);
    expect(guard.seen('a')).toBe(false);
    guard.remember('a', now, now);
    expect(guard.seen('a')).toBe(true);
    guard.remember('b', now + 200_000, now + 200_000);
    expect(guard.seen('a')).toBe(false);
    expect(guard.seen('b')).toBe(true);
  });

  it('during a key rotation accepts the previous key too, and says so; never a third key', () => {
    const previous = new Secret('p'.repeat(40));
    const oldSigned = signRequest({ node: 'cmp1', action: 'restart-storage-network', incident: 'x' }, previous, now);
    expect(verifyRequest(oldSigned, key, options).ok).toBe(false);
    expect(verifyRequest(oldSigned, key, { ...options, previousKey: previous })).toMatchObject({ ok: true, withPreviousKey: true });
    expect(verifyRequest(signed(), key, { ...options, previousKey: previous })).toMatchObject({ ok: true, withPreviousKey: false });
    expect(verifyRequest(oldSigned, key, { ...options, previousKey: new Secret('') }).ok).toBe(false);
    const third = signRequest({ node: 'cmp1', action: 'restart-storage-network', incident: 'x' }, new Secret('t'.repeat(40)), now);
    expect(verifyRequest(third, key, { ...options, previousKey: previous })).toMatchObject({ ok: false, reason: expect.stringMatching(/bad signature/) });
  });

  it('runs exactly the configured argv: through sudo -n (no prompt, no shell) unless it is root', () => {
    const argv = ['/usr/sbin/ip', 'link', 'set', 'dev', 'stor0', 'up'];
    expect(repairInvocation(argv, 999)).toEqual({ file: SUDO, args: ['-n', '--', ...argv] });
    expect(SUDO).toBe('/usr/bin/sudo');
    expect(repairInvocation(argv, 0)).toEqual({ file: '/usr/sbin/ip', args: ['link', 'set', 'dev', 'stor0', 'up'] });
    expect(() => repairInvocation([], 999)).toThrow(/no repair command/);
  });

  it('never puts the key in the payload', () => {
    expect(signed()).not.toContain(key.reveal());
  });
});
