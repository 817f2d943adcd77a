#!/usr/bin/env bash
# build.sh BUILD_DIR
# Builds the real-HIP client programs with the real ROCm toolchain into BUILD_DIR/tests/real-hip:
#   spin_kernel     hipcc (HIP_PLATFORM=amd --offload-arch=gfx90a), a real __global__ kernel
#   xsb_spin.co     hipcc --genco: the gfx90a code object host_api loads as a module
#   host_api        g++ against /usr/include/hip, linked against Debian's real libamdhip64.so
#   real_hip_test   the test driver (gcc; the project's emulator client library)
# and checks with readelf that the HIP references carry version hip_4.2.
# Exit 77 (skip) with the reason when hipcc or the HIP headers/library are not installed
# (scripts/ci-deps.sh installs them).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$build/tests/real-hip"
skip() { echo "SKIP real-hip: $*" >&2; exit 77; }

hipcc=${HIPCC:-hipcc} # HIPCC: another hipcc (or a missing one, to see the skip)
command -v "$hipcc" >/dev/null || skip "$hipcc is not installed (apt-get install hipcc libamdhip64-dev, or run scripts/ci-deps.sh)"
[ -f /usr/include/hip/hip_runtime_api.h ] || skip "/usr/include/hip/hip_runtime_api.h is missing (apt-get install libamdhip64-dev)"
realhip=""
for d in /usr/lib/x86_64-linux-gnu /opt/rocm/lib; do
  [ -e "$d/libamdhip64.so" ] && { realhip="$d/libamdhip64.so"; break; }
done
[ -n "$realhip" ] || skip "Debian's libamdhip64.so is missing (apt-get install libamdhip64-dev)"
for f in libxsb_emu_client.so libxsb_hip.so libxsb_emu_kfd.so emu/libamdhip64.so; do
  [ -e "$build/lib/$f" ] || { echo "real-hip: $build/lib/$f is missing: build the project first (cmake --build $build)" >&2; exit 1; }
done
[ -x "$build/tests/test_coord" ] || { echo "real-hip: $build/tests/test_coord is missing: build the project first" >&2; exit 1; }
mkdir -p "$out"

# nvcc is installed on these machines: without HIP_PLATFORM=amd, Debian's hipcc targets NVIDIA.
export HIP_PLATFORM=amd
arch=${XSB_REAL_HIP_ARCH:-gfx90a}
cxxflags=(-std=c++17 -O2 -Wall -Wextra -Werror -I"$here/apps")

# Rebuild only what changed (this runs at every test invocation).
newer() { # newer TARGET SOURCES...: true if TARGET is missing or older than a source
  local t=$1; shift
  [ -e "$t" ] || return 0
  for s in "$@"; do [ "$s" -nt "$t" ] && return 0; done
  return 1
}
apps="$here/apps"
if newer "$out/spin_kernel" "$apps/spin_kernel.hip" "$apps/rh_app.h" "$apps/xsb_spin_kernel.h"; then
  "$hipcc" --offload-arch="$arch" "${cxxflags[@]}" -o "$out/spin_kernel" "$apps/spin_kernel.hip"
fi
if newer "$out/xsb_spin.co" "$apps/xsb_spin_module.hip" "$apps/xsb_spin_kernel.h"; then
  "$hipcc" --genco --offload-arch="$arch" -I"$apps" -o "$out/xsb_spin.co" "$apps/xsb_spin_module.hip"
fi
if newer "$out/host_api" "$apps/host_api.cpp" "$apps/rh_app.h"; then
  # the real library by path: its version definitions decide what the references record
  g++ -D__HIP_PLATFORM_AMD__ "${cxxflags[@]}" -o "$out/host_api" "$apps/host_api.cpp" "$realhip"
fi
# The driver links the build's emulator client library: in a sanitizer build (XSB_SANITIZE) it is
# instrumented, and the driver must carry the same runtime.
san=()
clientsyms=$(nm -D "$build/lib/libxsb_emu_client.so" 2>/dev/null || true)
if grep -q ' __asan_init' <<<"$clientsyms"; then san=(-fsanitize=address,undefined)
elif grep -q ' __tsan_init' <<<"$clientsyms"; then san=(-fsanitize=thread)
fi
drv="$root/hip-shim/tests/coord_driver"
if newer "$out/real_hip_test" "$here/real_hip_test.c" "$drv.c" "$drv.h" "$root/hip-shim/src/xjson.c" "$build/lib/libxsb_emu_client.so"; then
  gcc -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE "${san[@]}" -I"$root/native/include" -I"$root/native/emu/include" \
    -I"$root/hip-shim/src" -I"$root/hip-shim/tests" -o "$out/real_hip_test" "$here/real_hip_test.c" "$drv.c" \
    "$root/hip-shim/src/xjson.c" \
    -L"$build/lib" -lxsb_emu_client -Wl,-rpath,"$build/lib"
fi

# The binaries must reference the HIP API at the versions the real runtime defines.
for b in spin_kernel host_api; do
  refs=$(readelf --dyn-syms -W "$out/$b" | awk '$7 == "UND" && $8 ~ /^(hip|__hip)/ {print $8}')
  [ -n "$refs" ] || { echo "real-hip: $b references no HIP symbol" >&2; exit 1; }
  if bad=$(grep -v '@hip_[0-9]' <<<"$refs"); then
    echo "real-hip: $b has unversioned HIP references: $bad" >&2
    exit 1
  fi
done
# (grep on captured text: grep -q closing a pipe early would fail the pipeline under pipefail)
syms=$(readelf --dyn-syms -W "$out/spin_kernel")
for s in __hipRegisterFatBinary __hipRegisterFunction __hipPushCallConfiguration __hipPopCallConfiguration hipLaunchKernel; do
  grep -q " $s@hip_4.2" <<<"$syms" ||
    { echo "real-hip: spin_kernel does not reference $s@hip_4.2" >&2; exit 1; }
done
dyn=$(readelf -d "$out/spin_kernel")
grep -q 'NEEDED.*libamdhip64.so.5' <<<"$dyn" ||
  { echo "real-hip: spin_kernel does not need libamdhip64.so.5" >&2; exit 1; }
echo "real-hip: built $out/{spin_kernel,host_api,xsb_spin.co} ($arch; HIP references at hip_4.2)"
