#!/usr/bin/env bash
# with-emu.sh BUILD_DIR CMD [ARGS...]
# Runs CMD in the emulator environment (the same variables `xsched-bridge emu env` prints) on a
# private device directory, and stops that device afterwards. The device starts on the first
# open("/dev/kfd"), as it does for any user.
set -u
build=$(cd "$1" && pwd); shift
dir=$(mktemp -d /tmp/xsb-emu-test.XXXXXX)
export XSB_EMU_DIR="$dir" XSB_SYSFS_ROOT="$dir/sysfs"
export LD_LIBRARY_PATH="$build/lib/emu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
preload="$build/lib/libxsb_emu_kfd.so"
# An ASan-instrumented interposer needs the ASan runtime first in the preload list.
if nm -D "$preload" 2>/dev/null | grep -q __asan_init; then
  preload="$(gcc -print-file-name=libasan.so) $preload"
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
fi
# after any preloads already set (e.g. the shim), as `xsched-bridge emu env` composes it
export LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD }$preload"
"$@"
rc=$?
unset LD_PRELOAD
if [ -f "$dir/device.pid" ]; then
  pid=$(cat "$dir/device.pid")
  kill -TERM "$pid" 2>/dev/null
  # wait for the device to exit (bounded): it removes its pid file on the way out
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
fi
rm -rf "$dir"
exit $rc
