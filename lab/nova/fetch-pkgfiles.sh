#!/usr/bin/env bash
# Extract the paste/ini files that Debian ships only inside nova-common, glance-common and
# neutron-common into .cache/openstack-pkgfiles. The packages are unpacked, never installed:
# their maintainer scripts would create users, run dbconfig and start services on this machine.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
top=$(cd "$(dirname "$0")/../.." && pwd)
dest=${OPENSTACK_PKGFILES:-$top/.cache/openstack-pkgfiles}
want=(usr/share/nova-common/api-paste.ini usr/share/glance-common/glance-api-paste.ini usr/share/neutron-common/api-paste.ini)

have_all() { for f in "${want[@]}"; do [ -s "$dest/$f" ] || return 1; done; }
if have_all; then exit 0; fi

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# apt-get downloads as the _apt user when that user may write the directory (else it warns).
chmod 755 "$tmp"; chown _apt "$tmp" 2>/dev/null || true
(cd "$tmp" && apt-get download -q nova-common glance-common neutron-common >/dev/null) || {
  echo "fetch-pkgfiles: apt-get download nova-common glance-common neutron-common failed; run apt-get update and retry" >&2; exit 1; }
mkdir -p "$dest"
for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$dest"; done
have_all || { echo "fetch-pkgfiles: ${want[*]} not all found in the extracted packages under $dest; the Debian packages changed layout" >&2; exit 1; }
echo "fetch-pkgfiles: paste files extracted into $dest" >&2
