#!/usr/bin/env bash
# ci-deps.sh - the Debian (bookworm) packages the real-HIP client test and the libFuzzer targets
# need, installed when missing (idempotent: nothing is fetched when all are installed).
#   hipcc, libamdhip64-dev   Debian's ROCm 5.2.3 compiler driver and HIP headers/runtime: they pull in
#                            clang-15, lld-15, rocm-device-libs, libamdhip64-5, libhsa-runtime64-1, ...
#                            (tests/real-hip builds programs with them and runs them on the emulator)
#   clang, libclang-rt-14-dev  clang-14 and its compiler-rt (libclang_rt.fuzzer, asan, ubsan)
#                            for scripts/fuzz.sh (-fsanitize=fuzzer,address,undefined)
# Measured on a 2-core machine with a warm apt cache: about 20 s to install 39 packages, 769 MB on disk.
# Exit status: 0 installed (or already there), 1 apt failed (the message names the packages).
set -euo pipefail
pkgs=(hipcc libamdhip64-dev clang libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "ci-deps: installed already: ${pkgs[*]}"
  exit 0
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
export DEBIAN_FRONTEND=noninteractive
echo "ci-deps: installing ${missing[*]}"
if ! { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "ci-deps: apt-get install ${missing[*]} failed (needs root or passwordless sudo, and Debian bookworm's main archive)" >&2
  exit 1
fi
echo "ci-deps: installed ${missing[*]}"
