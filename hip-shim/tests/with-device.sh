#!/usr/bin/env bash
# with-device.sh BUILD_DIR CMD [ARGS...]
# Kept for callers that still name it (hip-shim/bench/run-bench.sh): the shim tests' device, a
# private foreground one with XSB_TEST_PRELOAD = shim first; see native/emu/tests/with-emu.sh.
exec "$(cd "$(dirname "$0")/../../native/emu/tests" && pwd)/with-emu.sh" --device --shim "$@"
