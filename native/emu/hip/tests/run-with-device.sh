#!/usr/bin/env bash
# run-with-device.sh BUILD_DIR CMD [ARGS...]
# Runs CMD in the emulator environment on a private device started here with
# `xsb-emu-device --dir` (autostart disabled, so the test talks to this device only), then stops it.
set -u
build=$(cd "$1" && pwd); shift
dir=$(mktemp -d /tmp/xsb-hip-test.XXXXXX)
export XSB_EMU_DIR="$dir" XSB_SYSFS_ROOT="$dir/sysfs" XSB_EMU_NO_AUTOSTART=1
"$build/bin/xsb-emu-device" --dir "$dir" --foreground >"$dir/device.out" 2>&1 &
dev=$!
# wait (bounded) until the device accepts connections: its socket exists
for _ in $(seq 1 200); do
  [ -S "$dir/device.sock" ] && break
  kill -0 "$dev" 2>/dev/null || { echo "xsb-emu-device exited early:"; cat "$dir/device.out"; rm -rf "$dir"; exit 1; }
  sleep 0.05
done
[ -S "$dir/device.sock" ] || { echo "xsb-emu-device did not create $dir/device.sock"; kill -TERM "$dev"; rm -rf "$dir"; exit 1; }
preload="$build/lib/libxsb_emu_kfd.so"
# an ASan-instrumented interposer needs the ASan runtime first in the preload list
if nm -D "$preload" 2>/dev/null | grep -q __asan_init; then
  preload="$(gcc -print-file-name=libasan.so) $preload"
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
fi
LD_LIBRARY_PATH="$build/lib/emu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
LD_PRELOAD="$preload${LD_PRELOAD:+ $LD_PRELOAD}" "$@"
rc=$?
kill -TERM "$dev" 2>/dev/null
for _ in $(seq 1 200); do kill -0 "$dev" 2>/dev/null || break; sleep 0.05; done
kill -0 "$dev" 2>/dev/null && { echo "device $dev did not stop; killing"; kill -KILL "$dev"; }
wait "$dev" 2>/dev/null
if [ $rc -ne 0 ] && [ -s "$dir/device.out" ]; then echo "--- device output"; tail -20 "$dir/device.out"; fi
rm -rf "$dir"
exit $rc
