import { describe, expect, it } from 'vitest';
import { evacuateBody, liveMigrateBody, serviceUpdateBody } from '../../lib/systems/nova/bodies.js';
import { parseMicroversion } from '../../lib/systems/nova/microversion.js';

const mv = parseMicroversion;

describe('evacuate body per microversion', () => {
  it.each([
    ['2.1', {}, { evacuate: { onSharedStorage: false } }],
    ['2.13', { onSharedStorage: true }, { evacuate: { onSharedStorage: true } }],
    ['2.14', { onSharedStorage: true }, { evacuate: {} }],
    ['2.29', {}, { evacuate: {} }],
    ['2.53', { host: 'cmp3' }, { evacuate: { host: 'cmp3' } }],
    ['2.68', {}, { evacuate: {} }],
    ['2.93', {}, { evacuate: {} }],
  ])('%s %j', (version, options, body) => {
    expect(evacuateBody(mv(version), options)).toEqual(body);
  });

  it('never sends force', () => {
    for (const version of ['2.29', '2.67', '2.68', '2.93']) expect(JSON.stringify(evacuateBody(mv(version), { host: 'x' }))).not.toContain('force');
  });
});

describe('live-migrate body per microversion', () => {
  it.each([
    ['2.24', {}, { 'os-migrateLive': { host: null, block_migration: false, disk_over_commit: false } }],
    ['2.24', { blockMigration: true, host: 'cmp2' }, { 'os-migrateLive': { host: 'cmp2', block_migration: true, disk_over_commit: false } }],
    ['2.25', {}, { 'os-migrateLive': { host: null, block_migration: 'auto' } }],
    ['2.68', { blockMigration: false }, { 'os-migrateLive': { host: null, block_migration: false } }],
    ['2.93', {}, { 'os-migrateLive': { host: null, block_migration: 'auto' } }],
  ])('%s %j', (version, options, body) => {
    expect(liveMigrateBody(mv(version), options as never)).toEqual(body);
  });

  it('refuses "auto" where Nova does not know it', () => {
    expect(() => liveMigrateBody(mv('2.24'), { blockMigration: 'auto' })).toThrow(/needs compute microversion 2\.25, the cloud speaks 2\.24/);
  });
});

describe('service update body', () => {
  it('forces down and up, disables with a reason (cut to 255), enables', () => {
    expect(serviceUpdateBody(mv('2.53'), { forcedDown: true })).toEqual({ forced_down: true });
    expect(serviceUpdateBody(mv('2.93'), { forcedDown: false })).toEqual({ forced_down: false });
    // Fencing's one call: forced down and disabled together (Nova applies both, in one request).
    expect(serviceUpdateBody(mv('2.53'), { forcedDown: true, status: 'disabled', disabledReason: 'r'.repeat(300) })).toEqual({ forced_down: true, status: 'disabled', disabled_reason: 'r'.repeat(255) });
    expect(serviceUpdateBody(mv('2.53'), { status: 'disabled', disabledReason: 'x'.repeat(300) })).toEqual({ status: 'disabled', disabled_reason: 'x'.repeat(255) });
    expect(serviceUpdateBody(mv('2.53'), { status: 'enabled' })).toEqual({ status: 'enabled' });
  });

  it('refuses below 2.53, where services have no UUID', () => {
    expect(() => serviceUpdateBody(mv('2.52'), { forcedDown: true })).toThrow(/needs compute microversion 2\.53, the cloud speaks 2\.52/);
  });
});
