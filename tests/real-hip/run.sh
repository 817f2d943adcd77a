#!/usr/bin/env bash
# run.sh BUILD_DIR [--json-dir DIR]
# Builds the real-HIP client programs (build.sh) and runs each under the shim and a private
# emulated device with hip-shim's test coordinator, once per suspend mechanism:
#   spin_kernel (hipcc, real __global__ kernel) and host_api (g++ + real headers, linked against
#   Debian's libamdhip64.so.5, run on the emulated one through LD_LIBRARY_PATH).
# Exit 77 (skip) when the ROCm toolchain is not installed; 0 when every run passed.
# With --json-dir, each run writes DIR/<program>-<mechanism>.json (see real_hip_test.c).
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [--json-dir DIR]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd)
jsondir=""
[ "${2:-}" = "--json-dir" ] && jsondir=${3:?--json-dir needs a directory}
"$here/build.sh" "$build"
rc=$?
[ $rc -eq 0 ] || exit $rc
out="$build/tests/real-hip"
count=${XSB_REAL_HIP_KERNELS:-120}
us=${XSB_REAL_HIP_KERNEL_US:-1000}
failed=0
for prog in spin_kernel host_api; do
  args=("$out/$prog" loop "$count" "$us")
  [ "$prog" = host_api ] && args+=("$out/xsb_spin.co")
  for mech in dbg-trap deactivate; do
    json=()
    [ -n "$jsondir" ] && { mkdir -p "$jsondir"; json=(--json "$jsondir/$prog-$mech.json"); }
    echo "== $prog [$mech]"
    if ! "$root/native/emu/tests/with-emu.sh" --device --shim "$build" "$out/real_hip_test" "${json[@]}" "$mech" "${args[@]}"; then
      failed=$((failed + 1))
    fi
  done
done
echo "real-hip: $((4 - failed)) passed, $failed failed"
[ $failed -eq 0 ]
