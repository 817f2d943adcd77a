#!/usr/bin/env bash
# workload_json.sh WORKLOAD: runs xsb-workload (inside native/emu/tests/with-emu.sh --device) and checks its JSON.
set -eu
wl=$1
out=$(mktemp -d /tmp/xsb-wl.XXXXXX)
trap 'rm -rf "$out"' EXIT
check() { # check FILE PYTHON-EXPR...
  python3 - "$@" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for expr in sys.argv[2:]:
    if not eval(expr, {}, {"j": j}):
        print("FAIL:", expr, "in", json.dumps(j)[:400]); sys.exit(1)
PY
}
"$wl" --kernel-us 1000 --count 40 --streams 3 --json "$out/a.json"
check "$out/a.json" 'j["backend"]=="emu"' 'j["kernels_expected"]==40' 'j["kernels_completed"]==40' \
  'j["streams"]==3' 'j["kernel_us"]==1000' 'j["elapsed_ms"]>0' 'j["device_elapsed_ms"]>=13'
"$wl" --kernel-us 500 --count 20 --period-ms 5 --kernels-per-request 2 --priority high --json "$out/b.json"
check "$out/b.json" 'j["kernels_expected"]==20' 'j["kernels_completed"]==20' 'len(j["latency_ms_raw"])==10' \
  'j["latency_ms"]["p50"]>=1.0' 'j["latency_ms"]["max"]>=j["latency_ms"]["p99"]>=j["latency_ms"]["p50"]'
for l in api module ext cooperative graph spt null; do
  "$wl" --kernel-us 200 --count 6 --streams 2 --launch $l --json "$out/$l.json"
  check "$out/$l.json" 'j["kernels_completed"]==6' "j[\"launch\"]==\"$l\""
done
# bad flags: one line naming the flag, exit 2
set +e
msg=$("$wl" --kernel-us 10 --count 5 --priority urgent 2>&1); rc=$?
set -e
[ $rc -eq 2 ] && [ "$(echo "$msg" | wc -l)" -eq 1 ] && echo "$msg" | grep -q -- --priority || { echo "FAIL: bad flag: rc=$rc '$msg'"; exit 1; }
set +e
msg=$("$wl" --count 5 2>&1); rc=$?
set -e
[ $rc -eq 2 ] && echo "$msg" | grep -q -- --kernel-us || { echo "FAIL: missing flag: rc=$rc '$msg'"; exit 1; }
echo "PASS workload_json"
