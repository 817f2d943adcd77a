#!/usr/bin/env bash
# with-device.sh BUILD_DIR CMD [ARGS...]
# Runs CMD (a test driver, not preloaded itself) next to a private emulated device. Exports the
# emulator environment and XSB_TEST_PRELOAD, the LD_PRELOAD value for shimmed children: the shim
# FIRST, so its ioctl() sees every KFD call and forwards to the emulated driver through
# RTLD_NEXT, as it forwards to libc on a real machine.
set -u
build=$(cd "$1" && pwd); shift
# XSB_TEST_DEVICE_BUILD: where xsb-emu-device comes from (a sanitizer build may not have one)
devbuild=${XSB_TEST_DEVICE_BUILD:-$build}
dir=$(mktemp -d /tmp/xsb-shim-test.XXXXXX)
export XSB_EMU_DIR="$dir" XSB_SYSFS_ROOT="$dir/sysfs" XSB_EMU_NO_AUTOSTART=1
"$devbuild/bin/xsb-emu-device" --dir "$dir" --foreground >"$dir/device.out" 2>&1 &
dev=$!
for _ in $(seq 1 200); do
  [ -S "$dir/device.sock" ] && break
  kill -0 "$dev" 2>/dev/null || { echo "xsb-emu-device exited early:"; cat "$dir/device.out"; rm -rf "$dir"; exit 1; }
  sleep 0.05
done
[ -S "$dir/device.sock" ] || { echo "xsb-emu-device did not create $dir/device.sock"; kill -TERM "$dev"; rm -rf "$dir"; exit 1; }
export XSB_TEST_BUILD="$build" XSB_TEST_DIR="$dir"
export XSB_TEST_LD_LIBRARY_PATH="$build/lib/emu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
shim="$build/lib/libxsb_hip.so"
preload="$shim $build/lib/libxsb_emu_kfd.so"
# A TSan-instrumented shim needs the TSan runtime first; a report fails the child.
if nm -D "$shim" 2>/dev/null | grep -q __tsan_init; then
  preload="$(gcc -print-file-name=libtsan.so) $preload"
  here=$(cd "$(dirname "$0")" && pwd)
  export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 exitcode=66 report_signal_unsafe=0 suppressions=$here/tsan.supp}"
fi
# Likewise an ASan-instrumented shim needs the ASan runtime first (the children it preloads into
# are not instrumented themselves).
if nm -D "$shim" 2>/dev/null | grep -q __asan_init; then
  preload="$(gcc -print-file-name=libasan.so) $preload"
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
fi
export XSB_TEST_PRELOAD="$preload"
"$@"
rc=$?
kill -TERM "$dev" 2>/dev/null
for _ in $(seq 1 200); do kill -0 "$dev" 2>/dev/null || break; sleep 0.05; done
kill -0 "$dev" 2>/dev/null && { echo "device $dev did not stop; killing"; kill -KILL "$dev"; }
wait "$dev" 2>/dev/null
if [ $rc -ne 0 ] && [ -s "$dir/device.out" ]; then echo "--- device output"; tail -20 "$dir/device.out"; fi
rm -rf "$dir"
exit $rc
