#!/usr/bin/env bash
# run-bench.sh BUILD_DIR [N] - per-launch cost with and without the shim (one run, one device).
# The configurations run side by side and take turns batch by batch (launch_bench.cpp says why);
# XSB_BENCH_EXTRA=1 and XSB_BENCH_REF_PRELOAD add configurations.
set -u
build=$(cd "$1" && pwd); shift
here=$(cd "$(dirname "$0")" && pwd)
# the native tests' device script; the shim's older one where the tree predates it
device=("$here/../../native/emu/tests/with-emu.sh" --device --shim)
[ -x "${device[0]}" ] || device=("$here/../tests/with-device.sh")
exec "${device[@]}" "$build" env \
  XSB_BENCH_PRELOAD="$build/lib/libxsb_hip.so $build/lib/libxsb_emu_kfd.so" \
  XSB_BENCH_PLAIN_PRELOAD="$build/lib/libxsb_emu_kfd.so" \
  XSB_BENCH_COORD="$build/tests/test_coord" \
  LD_LIBRARY_PATH="$build/lib/emu" \
  "$build/bin/xsb-launch-bench" "$@"
