#!/usr/bin/env bash
# fuzz.sh [SECONDS] [TARGET...]
# Builds the libFuzzer targets of native/fuzz with clang (-fsanitize=fuzzer,address,undefined)
# into build-fuzz (XSB_FUZZ_BUILD overrides) and runs each for SECONDS (default 20) from its
# seed corpus (native/fuzz/corpus/<name>, read-only; new inputs go to build-fuzz/corpus/<name>).
# Targets: fuzz_mqds fuzz_hqds fuzz_amdlog fuzz_shim_proto (default: all).
# A crash, sanitizer report, contract violation (abort), a single input running longer than 10 s
# or using more than 2 GB fails the run; the reproducer is left in build-fuzz/artifacts/<name>/
# (replay: build-fuzz/bin/<name> FILE). Ends with "fuzz: N passed, N failed".
# Exit 77 when clang or libFuzzer is not installed (scripts/ci-deps.sh installs them).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-20}
[[ $secs =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2; }
shift $(($# > 0 ? 1 : 0))
targets=("$@")
((${#targets[@]})) || targets=(fuzz_mqds fuzz_hqds fuzz_amdlog fuzz_shim_proto)
build=${XSB_FUZZ_BUILD:-$root/build-fuzz}
cc=${XSB_FUZZ_CC:-clang}
cxx=${XSB_FUZZ_CXX:-clang++}

command -v "$cc" >/dev/null && command -v "$cxx" >/dev/null ||
  { echo "SKIP fuzz: $cc/$cxx not installed (apt-get install clang libclang-rt-14-dev, or scripts/ci-deps.sh)" >&2; exit 77; }
# libFuzzer ships in compiler-rt (Debian: libclang-rt-14-dev for clang-14); without it clang
# prints the bare name back
rt=$("$cc" -print-file-name=libclang_rt.fuzzer-x86_64.a)
[ -f "$rt" ] || { echo "SKIP fuzz: $cc has no libFuzzer runtime (apt-get install libclang-rt-14-dev)" >&2; exit 77; }

t0=$(date +%s)
mkdir -p "$build"
cmake -S "$root/native/fuzz" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; echo "fuzz: configuring native/fuzz failed" >&2; exit 1; }
cmake --build "$build" -j2 --target "${targets[@]}" || { echo "fuzz: build failed" >&2; exit 1; }
echo "fuzz: built ${targets[*]} in $(($(date +%s) - t0)) s"

passed=0
failed=0
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  seed="$root/native/fuzz/corpus/$name"
  work="$build/corpus/$name"
  art="$build/artifacts/$name"
  mkdir -p "$work" "$art"
  log="$build/$t.log"
  # halt_on_error and abort_on_error: any sanitizer report is a failing exit
  ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1} \
    "$build/bin/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$art/" "$work" "$seed" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    echo "fuzz: $t ok: ${execs:-?} inputs in ${secs} s (${rate:-?}/s), ${cov:-cov: ?}, work corpus $(ls "$work" | wc -l) inputs"
  else
    failed=$((failed + 1))
    echo "fuzz: $t FAILED (exit $rc); reproducer(s): $(ls "$art" 2>/dev/null | tr '\n' ' ')" >&2
    grep -E 'ERROR|SUMMARY|contract violated|runtime error|deadly signal|#[0-9]+ 0x' "$log" | head -40 >&2
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
