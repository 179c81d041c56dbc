#!/usr/bin/env bash
# The whole test suite: installs what the tests need (idempotently, outside the repository; see
# scripts/setup-test-env.sh), then runs formatting and lint checks, the Rust unit and integration
# tests, the Python tests (MCP SDK client, MMCP reference server and SDK client, glTF validator),
# the MCP conformance suite, and the Blender tests on real Blender (bpy).
#
#   STAGECRAFT_SKIP_BLENDER=1   skip installing and testing Blender
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

passed=0
failed=0
failures=()
step() {
  local name="$1"; shift
  echo
  echo "=== $name"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); echo "=== $name: ok ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "=== $name: FAILED ($((SECONDS - start)) s)"
  fi
}

echo "=== setting up the test environment"
env_out="$(scripts/setup-test-env.sh)" || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
eval "$env_out"
export PYTHON NODE CONFORMANCE GLTF_VALIDATOR_DIR BPY_PYTHON BPY5_PYTHON
export STAGECRAFT_BIN="$ROOT/target/debug/stagecraft"
export STAGECRAFT_ROOT="$ROOT"

# The MMCP SDK's reference server, for the Rust tests that talk to it (MMCP_REFERENCE_URL).
start_reference_server() {
  local port
  port="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  "$PYTHON" -m motionmcp.null_backbone --host 127.0.0.1 --port "$port" >/dev/null 2>&1 &
  REFERENCE_PID=$!
  trap 'kill $REFERENCE_PID 2>/dev/null' EXIT
  export MMCP_REFERENCE_URL="http://127.0.0.1:$port"
  "$PYTHON" - "$MMCP_REFERENCE_URL" <<'PY'
import sys, time, urllib.request
for _ in range(150):
    try:
        urllib.request.urlopen(sys.argv[1] + "/capabilities", timeout=1)
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit("the MMCP reference server did not start")
PY
}

python_tests() {
  (cd tests/python && "$PYTHON" -m pytest -q -p no:cacheprovider .)
}
blender_tests() {
  if [ -z "${BPY_PYTHON:-}" ]; then
    echo "Blender tests skipped: STAGECRAFT_SKIP_BLENDER=1 or no bpy"
    return 0
  fi
  (cd tests/blender && "$PYTHON" -m pytest -q -p no:cacheprovider .)
}
# The adapter's own tests on Blender 5.0, whose animation API is slotted actions only.
blender5_tests() {
  if [ -z "${BPY5_PYTHON:-}" ]; then
    echo "Blender 5.0 tests skipped: STAGECRAFT_SKIP_BLENDER=1 or no bpy 5.0"
    return 0
  fi
  (cd tests/blender && BPY_PYTHON="$BPY5_PYTHON" "$PYTHON" -m pytest -q -p no:cacheprovider \
    test_animation.py test_rigify.py test_scene.py test_transports.py test_addon.py)
}

step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --all-targets --quiet -- -D warnings
step "cargo build" cargo build --bins --quiet
step "MMCP reference server" start_reference_server
step "cargo test" cargo test --quiet
step "python tests" python_tests
step "MCP conformance" tests/conformance/run.sh
step "blender 4.5 tests" blender_tests
step "blender 5.0 tests" blender5_tests

echo
if [ "$failed" -gt 0 ]; then
  echo "failed steps: ${failures[*]}"
fi
echo "steps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
