#!/bin/sh
# ABI check: native/include/xsb_kfd_abi.h against the real include/uapi/linux/kfd_ioctl.h of
# Debian trixie's linux-libc-dev (Linux 6.12, KFD 1.17).
# Exit 0: every comparison matched; 1: mismatch or error; 77: skipped (header not obtainable;
# the reason is printed as "SKIP: ...").
# Env: XSB_ABI_CACHE (default <repo>/build/abi-cache), XSB_ABI_HEADER (use this kfd_ioctl.h
# instead of downloading), XSB_ABI_OURS (the project header to check; tests use mutated
# copies to prove a mismatch is caught), CC.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${XSB_ABI_CACHE:-$repo/build/abi-cache}
if [ -n "${XSB_ABI_HEADER:-}" ]; then
	hdr=$XSB_ABI_HEADER
else
	set +e
	hdr=$("$here/fetch-header.sh" "$cache")
	rc=$?
	set -e
	[ $rc -eq 0 ] || exit $rc
fi
[ -s "$hdr" ] || { echo "error: $hdr is empty or missing" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/xsb-abi-check.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/inc/linux"
cp "$hdr" "$work/inc/linux/kfd_ioctl.h"
# <drm/drm.h>, included by kfd_ioctl.h: the package's copy when cached beside the header
drm="$(dirname "$(dirname "$hdr")")/drm"
[ -d "$drm" ] && cp -r "$drm" "$work/inc/drm"
ours=${XSB_ABI_OURS:-$repo/native/include/xsb_kfd_abi.h}
node "$here/gen-check.mjs" "$ours" "$here/abi-map.txt" "$work/check.c"
# -I before the system dirs: this header wins over the machine's (bookworm: 1.11) copy.
${CC:-cc} -std=c11 -Wall -D_GNU_SOURCE -I"$work/inc" -I"$(dirname "$ours")" "$work/check.c" -o "$work/check"
src_file="$(dirname "$hdr")/../../../SOURCE"
echo "header: $hdr ($(cat "$src_file" 2>/dev/null || echo "given by XSB_ABI_HEADER"))"
"$work/check"
