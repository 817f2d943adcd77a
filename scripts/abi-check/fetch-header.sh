#!/bin/sh
# Fetches Debian trixie's linux-libc-dev through a private apt configuration and
# extracts include/linux/kfd_ioctl.h into the cache directory.
#
# Nothing of the machine's apt state is touched: own sources.list, own lists, cache and
# state directories under a temp dir; the trixie archive keys come from the machine's
# debian-archive-keyring (bookworm's package already ships trixie's keys).
#
# Usage: fetch-header.sh [CACHE_DIR]   (default: <repo>/build/abi-cache)
# Prints the header path on stdout. Exit 0: header available; 77: could not fetch
# (no network, mirror down, no apt): the reason is printed on stderr, prefixed "SKIP:".
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${1:-${XSB_ABI_CACHE:-$repo/build/abi-cache}}
mirror=${XSB_ABI_MIRROR:-http://deb.debian.org/debian}
suite=${XSB_ABI_SUITE:-trixie}
header="$cache/usr/include/linux/kfd_ioctl.h"

if [ -s "$header" ] && [ -s "$cache/usr/include/drm/drm.h" ] && [ -z "${XSB_ABI_REFRESH:-}" ]; then
	echo "$header"
	exit 0
fi

skip() { echo "SKIP: $*" >&2; exit 77; }

command -v apt-get >/dev/null 2>&1 || skip "apt-get not found (not a Debian-like system); cannot fetch linux-libc-dev"
command -v dpkg >/dev/null 2>&1 || skip "dpkg not found; cannot extract linux-libc-dev"

keyring=
for k in /usr/share/keyrings/debian-archive-keyring.gpg /usr/share/keyrings/debian-archive-trixie-stable.gpg; do
	if [ -s "$k" ]; then keyring=$k; break; fi
done
[ -n "$keyring" ] || skip "no Debian archive keyring in /usr/share/keyrings (install debian-archive-keyring)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/xsb-abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/state" "$tmp/dl"
: > "$tmp/state/status"
echo "deb [signed-by=$keyring] $mirror $suite main" > "$tmp/sources.list"

arch=$(dpkg --print-architecture)
apt_private() {
	apt-get -q \
		-o Dir::Etc::sourcelist="$tmp/sources.list" \
		-o Dir::Etc::sourceparts=- \
		-o Dir::State="$tmp/state" \
		-o Dir::State::Lists="$tmp/lists" \
		-o Dir::State::status="$tmp/state/status" \
		-o Dir::Cache="$tmp/cache" \
		-o Debug::NoLocking=1 \
		-o APT::Architecture="$arch" \
		-o Acquire::Retries=1 \
		-o Acquire::http::Timeout=20 \
		-o Acquire::Languages=none \
		"$@"
}

if ! apt_private update >"$tmp/update.log" 2>&1; then
	skip "apt-get update of $mirror $suite failed (network?): $(grep -E '^(E|W|Err):' "$tmp/update.log" | head -n 3 | tr '\n' ' ')"
fi
if grep -qE '^(E:|Err:)' "$tmp/update.log"; then
	skip "apt-get update of $mirror $suite reported errors: $(grep -E '^(E|Err):' "$tmp/update.log" | head -n 3 | tr '\n' ' ')"
fi
if ! (cd "$tmp/dl" && apt_private download linux-libc-dev >"$tmp/download.log" 2>&1); then
	skip "apt-get download linux-libc-dev failed: $(tail -n 3 "$tmp/download.log" | tr '\n' ' ')"
fi
deb=$(ls "$tmp/dl"/linux-libc-dev_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || skip "apt-get download produced no linux-libc-dev .deb"

mkdir -p "$cache"
dpkg -x "$deb" "$tmp/x"
[ -s "$tmp/x/usr/include/linux/kfd_ioctl.h" ] || { echo "error: $(basename "$deb") has no usr/include/linux/kfd_ioctl.h" >&2; exit 1; }
# kfd_ioctl.h includes <drm/drm.h>: keep the package's drm headers beside it (the machine
# may have none: they come with linux-libc-dev on trixie, not on every system).
rm -rf "$cache/usr/include"
mkdir -p "$cache/usr/include/linux"
cp "$tmp/x/usr/include/linux/kfd_ioctl.h" "$header"
[ -d "$tmp/x/usr/include/drm" ] && cp -r "$tmp/x/usr/include/drm" "$cache/usr/include/drm"
basename "$deb" > "$cache/SOURCE"
echo "$header"
