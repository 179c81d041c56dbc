#!/usr/bin/env bash
# The whole test suite: installs what the tests need (idempotently, outside the repository; see
# scripts/setup-test-env.sh), then runs formatting and lint checks, the Rust unit and integration
# tests, the Python tests (MCP SDK client, MMCP reference server and SDK client, glTF validator),
# the MCP conformance suite, and the Blender tests on real Blender (bpy 4.5; the adapter's own
# tests also on 4.2 and 5.0).
#
#   STAGECRAFT_SKIP_BLENDER=1   skip installing and testing Blender
#
# Every step ends with "=== <step>: ok", "FAILED" or "SKIPPED (<why>)"; a skipped step is counted
# neither passed nor failed and is listed on the line before the last. The last line is always
# "steps: N passed, N failed" (CI parses it); the exit status is 0 only when nothing failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

passed=0
failed=0
failures=()
skips=()
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
skip() {
  echo
  echo "=== $1: SKIPPED ($2)"
  skips+=("$1 ($2)")
}
joined() { local out; out="$(printf '%s; ' "$@")"; echo "${out%; }"; }
summary() {
  echo
  [ "${#skips[@]}" -eq 0 ] || echo "skipped steps: $(joined "${skips[@]}")"
  [ "$failed" -eq 0 ] || echo "failed steps: $(joined "${failures[@]}")"
  echo "steps: $passed passed, $failed failed"
}

echo "=== setting up the test environment"
if ! env_out="$(scripts/setup-test-env.sh)"; then
  echo "=== setup: FAILED (scripts/setup-test-env.sh, see above)"
  failed=1; failures=(setup)
  summary
  exit 1
fi
eval "$env_out"
export PYTHON NODE CONFORMANCE GLTF_VALIDATOR_DIR MCPB_DIR BPY_PYTHON BPY42_PYTHON BPY5_PYTHON
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

# pytest, with "no tests collected" (exit 5) said out loud: it is a failure, not a pass.
run_pytest() {
  "$PYTHON" -m pytest -q -p no:cacheprovider "$@"
  local status=$?
  [ "$status" -ne 5 ] || echo "pytest collected no tests (exit 5)"
  return "$status"
}
python_tests() {
  (cd tests/python && run_pytest .)
}
blender_tests() {
  (cd tests/blender && run_pytest .)
}
# The adapter's own tests and retargeting on another Blender: 4.2 LTS, the oldest supported, and 5.0, whose
# animation API is slotted actions only.
BLENDER_ADAPTER_TESTS=(test_animation.py test_rigify.py test_scene.py test_transports.py test_addon.py test_import.py
  test_capture.py test_retarget.py test_retarget_rigify.py test_setup.py)
blender_adapter_tests() {
  (cd tests/blender && BPY_PYTHON="$1" run_pytest "${BLENDER_ADAPTER_TESTS[@]}")
}

step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --all-targets --quiet -- -D warnings
step "cargo build" cargo build --bins --quiet
step "MMCP reference server" start_reference_server
# --no-fail-fast: one failing test binary must not hide the results of the others.
step "cargo test" cargo test --no-fail-fast --quiet
step "python tests" python_tests
step "MCP conformance" tests/conformance/run.sh
for blender in "4.5:BPY_PYTHON" "4.2:BPY42_PYTHON" "5.0:BPY5_PYTHON"; do
  version="${blender%%:*}"
  python_var="${blender#*:}"
  if [ -z "${!python_var:-}" ]; then
    skip "blender $version tests" "${BLENDER_SKIPPED:-no bpy $version}"
  elif [ "$version" = 4.5 ]; then
    step "blender $version tests" blender_tests
  else
    step "blender $version tests" blender_adapter_tests "${!python_var}"
  fi
done

summary
[ "$failed" -eq 0 ]
