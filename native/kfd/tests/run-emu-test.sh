#!/usr/bin/env bash
# run-emu-test.sh BUILD_DIR TEST_EMU PTRACE_HELPER
# Runs kfd_test_emu on private emulated devices: the default profile, one reporting KFD 1.11 and
# one with sched_policy 2. Exit 77 (skipped) when the emulator is not built in BUILD_DIR.
set -u
build=$(cd "$1" && pwd)
test_emu=$2
helper=$3
with_emu="$(cd "$(dirname "$0")/../../emu/tests" 2>/dev/null && pwd)/with-emu.sh"
if [ ! -f "$build/lib/libxsb_emu_kfd.so" ] || [ ! -x "$with_emu" ]; then
  echo "SKIP: emulator not built ($build/lib/libxsb_emu_kfd.so or native/emu/tests/with-emu.sh missing)"
  exit 77
fi
tmp=$(mktemp -d /tmp/xsb-kfd-emu.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
rc=0
"$with_emu" "$build" "$test_emu" "$helper" || rc=1
echo '{"kfd_minor": 11}' > "$tmp/old.json"
XSB_EMU_PROFILE="$tmp/old.json" "$with_emu" "$build" "$test_emu" --old-kfd || rc=1
echo '{"sched_policy": 2}' > "$tmp/nohws.json"
XSB_EMU_PROFILE="$tmp/nohws.json" "$with_emu" "$build" "$test_emu" --no-hws || rc=1
exit $rc
