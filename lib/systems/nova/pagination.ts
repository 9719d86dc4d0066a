/**
 * Following Nova's pagination: a page that was cut at the limit carries links such as
 * "servers_links": [{"rel": "next", "href": ".../servers/detail?...&marker=<last id>"}]
 * ("migrations_links" for os-migrations, plain "links" for os-instance-actions).
 */
import { NovaReplyError } from './errors.js';

/** The "next" href in page[linksKey], or undefined on the last page. */
export function nextHref(page: unknown, linksKey: string): string | undefined {
  const links = (page as Record<string, unknown> | null)?.[linksKey];
  if (links === undefined) return undefined;
  if (!Array.isArray(links)) throw new NovaReplyError(`${linksKey}: expected a list, found ${JSON.stringify(links)?.slice(0, 60)}`);
  const next = links.find((l: unknown) => (l as { rel?: unknown })?.rel === 'next') as { href?: unknown } | undefined;
  if (next === undefined) return undefined;
  if (typeof next.href !== 'string') throw new NovaReplyError(`${linksKey}: the "next" link has no href`);
  return next.href;
}

/**
 * The URL of the next page, on the endpoint nova-ha called. Nova builds the href from its own
 * idea of its address (osapi_compute_link_prefix, proxies), which may not be reachable from
 * here: only its query (marker, limit) is taken over, onto the current URL, whose filters stay
 * (a next page that silently lost host= would list every server of the cloud).
 */
export function nextPageUrl(current: URL, href: string, linksKey: string): URL {
  let link: URL;
  try {
    link = new URL(href, current);
  } catch {
    throw new NovaReplyError(`${linksKey}: the "next" href "${href.slice(0, 100)}" is not a URL`);
  }
  const marker = link.searchParams.get('marker');
  if (!marker) throw new NovaReplyError(`${linksKey}: the "next" href has no marker: ${link.pathname}${link.search}`);
  if (current.searchParams.get('marker') === marker) {
    throw new NovaReplyError(`${linksKey}: the "next" link repeats marker ${marker}; Nova's pagination is looping, stopping`);
  }
  const next = new URL(current);
  for (const [key, value] of link.searchParams) next.searchParams.set(key, value);
  return next;
}
