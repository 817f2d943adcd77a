#!/usr/bin/env bash
# with-emu.sh [--device] [--shim] BUILD_DIR CMD [ARGS...]
# Runs CMD next to a private emulated device (its own XSB_EMU_DIR), then stops that device and
# removes its directory. The one script every native test uses to get a device.
#
#   (no option)  CMD runs in the emulator environment (the variables `xsched-bridge emu env`
#                prints); the device starts on CMD's first open("/dev/kfd"), as for any user.
#   --device     the device is started here in the foreground before CMD, with autostart
#                disabled (XSB_EMU_NO_AUTOSTART=1) so CMD talks to this device only. It comes
#                from $XSB_TEST_DEVICE_BUILD when set (a sanitizer build may have no device),
#                else from BUILD_DIR; its output is shown when CMD fails.
#   --shim       CMD is a test driver that starts shimmed children itself: CMD is not preloaded;
#                it gets XSB_TEST_BUILD, XSB_TEST_DIR (the device directory),
#                XSB_TEST_LD_LIBRARY_PATH and XSB_TEST_PRELOAD, the LD_PRELOAD value for the
#                children: the shim FIRST, so its ioctl() sees every KFD call and forwards to the
#                emulated driver through RTLD_NEXT, as it forwards to libc on a real machine.
set -u
device=0 shim=0
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=1 ;;
    --shim) shim=1 ;;
    --*) echo "with-emu.sh: unknown option $1 (usage: with-emu.sh [--device] [--shim] BUILD_DIR CMD [ARGS...])" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
[ $# -ge 2 ] || { echo "usage: with-emu.sh [--device] [--shim] BUILD_DIR CMD [ARGS...]" >&2; exit 2; }
build=$(cd "$1" && pwd); shift
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/xsb-emu-test.XXXXXX)
export XSB_EMU_DIR="$dir" XSB_SYSFS_ROOT="$dir/sysfs"

dev=""
if [ $device -eq 1 ]; then
  export XSB_EMU_NO_AUTOSTART=1
  devbuild=${XSB_TEST_DEVICE_BUILD:-$build}
  "$devbuild/bin/xsb-emu-device" --dir "$dir" --foreground >"$dir/device.out" 2>&1 &
  dev=$!
  # wait (bounded) until the device accepts connections: its socket exists
  for _ in $(seq 1 200); do
    [ -S "$dir/device.sock" ] && break
    kill -0 "$dev" 2>/dev/null || { echo "xsb-emu-device exited early:"; cat "$dir/device.out"; rm -rf "$dir"; exit 1; }
    sleep 0.05
  done
  [ -S "$dir/device.sock" ] || { echo "xsb-emu-device did not create $dir/device.sock"; kill -TERM "$dev"; rm -rf "$dir"; exit 1; }
fi

emu_ld_path="$build/lib/emu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
kfd="$build/lib/libxsb_emu_kfd.so"
if [ $shim -eq 1 ]; then
  shimlib="$build/lib/libxsb_hip.so"
  preload="$shimlib $kfd"
  syms=$(nm -D "$shimlib" 2>/dev/null)
  # A TSan-instrumented shim needs the TSan runtime first; a report fails the child.
  if grep -q __tsan_init <<<"$syms"; then
    preload="$(gcc -print-file-name=libtsan.so) $preload"
    supp="$(cd "$here/../../../hip-shim/tests" && pwd)/tsan.supp"
    export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 exitcode=66 report_signal_unsafe=0 suppressions=$supp}"
  fi
else
  preload="$kfd"
  syms=$(nm -D "$kfd" 2>/dev/null)
fi
# An ASan-instrumented preload needs the ASan runtime first (what it is preloaded into is not
# instrumented).
if grep -q __asan_init <<<"$syms"; then
  preload="$(gcc -print-file-name=libasan.so) $preload"
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
fi
if [ $shim -eq 1 ]; then
  export XSB_TEST_BUILD="$build" XSB_TEST_DIR="$dir" XSB_TEST_LD_LIBRARY_PATH="$emu_ld_path" XSB_TEST_PRELOAD="$preload"
  "$@"
  rc=$?
else
  # after any preloads already set (e.g. the shim), as `xsched-bridge emu env` composes it
  LD_LIBRARY_PATH="$emu_ld_path" LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD }$preload" "$@"
  rc=$?
fi

if [ -n "$dev" ]; then
  kill -TERM "$dev" 2>/dev/null
  for _ in $(seq 1 200); do kill -0 "$dev" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$dev" 2>/dev/null && { echo "device $dev did not stop; killing"; kill -KILL "$dev"; }
  wait "$dev" 2>/dev/null
  if [ $rc -ne 0 ] && [ -s "$dir/device.out" ]; then echo "--- device output"; tail -20 "$dir/device.out"; fi
elif [ -f "$dir/device.pid" ]; then
  # the autostarted device: it removes its pid file on the way out
  pid=$(cat "$dir/device.pid")
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
fi
rm -rf "$dir"
exit $rc
