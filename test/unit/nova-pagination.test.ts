import { describe, expect, it } from 'vitest';
import { NovaReplyError } from '../../lib/systems/nova/errors.js';
import { nextHref, nextPageUrl } from '../../lib/systems/nova/pagination.js';

describe('pagination', () => {
  it('finds the next link, and none on the last page', () => {
    const page = { servers: [], servers_links: [{ rel: 'next', href: 'http://nova/v2.1/servers/detail?all_tenants=1&host=cmp2&limit=2&marker=abc' }] };
    expect(nextHref(page, 'servers_links')).toBe('http://nova/v2.1/servers/detail?all_tenants=1&host=cmp2&limit=2&marker=abc');
    expect(nextHref({ servers: [] }, 'servers_links')).toBeUndefined();
    expect(nextHref({ migrations: [], migrations_links: [{ rel: 'self', href: 'x' }] }, 'migrations_links')).toBeUndefined();
  });

  it('stays on the endpoint it called and keeps its filters, taking only marker and limit from the link', () => {
    const current = new URL('http://198.18.1.11:8774/v2.1/servers/detail?all_tenants=1&host=cmp2&limit=2');
    const next = nextPageUrl(current, 'http://nova-internal.example:8774/v2.1/servers/detail?limit=2&marker=abc', 'servers_links');
    expect(next.origin).toBe('http://198.18.1.11:8774');
    expect(next.pathname).toBe('/v2.1/servers/detail');
    expect(Object.fromEntries(next.searchParams)).toEqual({ all_tenants: '1', host: 'cmp2', limit: '2', marker: 'abc' });
  });

  it('resolves a relative href against the current URL', () => {
    const next = nextPageUrl(new URL('http://nova/v2.1/os-migrations?source_compute=cmp1'), '?marker=m2', 'migrations_links');
    expect(next.searchParams.get('marker')).toBe('m2');
    expect(next.searchParams.get('source_compute')).toBe('cmp1');
  });

  it('refuses a link without a marker, a repeated marker and a malformed list', () => {
    expect(() => nextPageUrl(new URL('http://nova/v2.1/servers/detail'), 'http://nova/v2.1/servers/detail?limit=2', 'servers_links')).toThrow(/has no marker/);
    expect(() => nextPageUrl(new URL('http://nova/v2.1/servers/detail?marker=a'), 'http://nova/v2.1/servers/detail?marker=a', 'servers_links')).toThrow(/repeats marker a/);
    expect(() => nextHref({ servers_links: 'next' }, 'servers_links')).toThrow(NovaReplyError);
  });
});
