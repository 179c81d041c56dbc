#!/usr/bin/env bash
# The benchmarks (not part of ./scripts/test.sh): installs the peers, runs every bench in one go and
# writes BENCHMARKS.md. Results (JSON) stay in target/bench/. Takes about 5-10 minutes.
#
#   STAGECRAFT_SKIP_BLENDER=1   skip the Blender apply_motion bench (and installing bpy)
#   BENCH_QUICK=1               fewer repetitions (a smoke run; figures are noisier)
#   BENCH_OUT=FILE              write the report there instead of BENCHMARKS.md
#
# Peers and clients are installed outside the repository, idempotently:
#   ~/.cache/stagecraft-test/    the test venv (MCP SDK client, motionmcp-sdk[server]) and bpy,
#                                via scripts/setup-test-env.sh
#   ~/.cache/stagecraft-bench/   dcc-mcp-server 0.20.49 and mcp-for-blender 2.2.4 (PyPI), each in
#                                its own venv
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
OUT="$ROOT/target/bench"
QUICK="${BENCH_QUICK:-0}"
REPORT="${BENCH_OUT:-$ROOT/BENCHMARKS.md}"
log() { echo "[bench] $*" >&2; }
q() { [ "$QUICK" = 1 ] && echo "$1" || echo "$2"; }

log "setting up clients (scripts/setup-test-env.sh)"
eval "$(scripts/setup-test-env.sh)"

# --- peers: dcc-mcp-server, and mcp-for-blender (its tools/list needs no Blender) -----------------
BENCH_CACHE="${STAGECRAFT_BENCH_CACHE:-$HOME/.cache/stagecraft-bench}"
# peer_venv DIR REQUIREMENT: a venv in $BENCH_CACHE/DIR holding REQUIREMENT, made once.
peer_venv() {
  local venv="$BENCH_CACHE/$1"
  if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$2" ]; then
    log "installing $2 in $venv"
    rm -rf "$venv"
    mkdir -p "$BENCH_CACHE"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$2" >&2
    echo "$2" > "$venv/.stamp"
  fi
}
DCC_VENV="$BENCH_CACHE/dcc-venv"
peer_venv dcc-venv "dcc-mcp-server==0.20.49"
DCC_MCP="$DCC_VENV/bin/dcc-mcp-server"
MFB_VENV="$BENCH_CACHE/mfb-venv"
peer_venv mfb-venv "mcp-for-blender==2.2.4"
MFB="$MFB_VENV/bin/mcp-for-blender"

# --- build ----------------------------------------------------------------------------------------
log "cargo build --release"
cargo build --release --bins --quiet
cargo bench --bench core --no-run --quiet 2>/dev/null || cargo bench --bench core --no-run
SC="$ROOT/target/release/stagecraft"

rm -rf "$OUT"
mkdir -p "$OUT"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- inputs ---------------------------------------------------------------------------------------
log "writing glTF documents with the MMCP SDK encoder"
"$PYTHON" benches/decode.py gen "$OUT/docs" 2>/dev/null
log "writing the shipped skills as a dcc-mcp-core skill folder"
"$SC" skills list --json | "$PYTHON" benches/dcc_mcp_skills.py "$OUT/dcc-skills" "$ROOT" >&2

# --- 1. servers: start-up, idle RSS, tools/list and tools/call through the Python MCP client --------
log "servers: start-up and idle RSS (alternating), latency through the mcp SDK client"
"$PYTHON" benches/servers.py --stagecraft "$SC" --dcc-mcp "$DCC_MCP" --dcc-skills "$OUT/dcc-skills" \
  --mcp-blender "$MFB" --runs "$(q 10 40)" --rss-runs "$(q 3 5)" --calls "$(q 200 1000)" --out "$OUT/servers.json" >/dev/null

# --- 2. in-process: overhead, bridges, decode, generation; and the Python side, alternating --------
port="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$SC" motion-server --port "$port" >/dev/null 2>&1 &
MOTION_PID=$!
trap 'kill $MOTION_PID 2>/dev/null || true' EXIT
"$PYTHON" - "$port" <<'PY'
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close(); sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit("motion-server did not start")
PY
URL="http://127.0.0.1:$port"
quick_flag="$(q --quick "")"
log "rust: per-call overhead, bridges, generation"
cargo bench --quiet --bench core -- --only startup,meta-first,overhead,generate,retarget,procedural,bridges $quick_flag \
  --docs "$OUT/docs" --toy "$ROOT/examples/adapter/toy_adapter.py" --motion-url "$URL" > "$OUT/core.json"
log "python: motionmcp.client generate + parse against the same motion-server"
"$PYTHON" benches/decode.py generate "$URL" "$OUT/docs" $quick_flag > "$OUT/generate_py.json"
for round in 1 2; do
  log "decode round $round: stagecraft, then motionmcp.client"
  cargo bench --quiet --bench core -- --only decode $quick_flag --docs "$OUT/docs" > "$OUT/decode_rs_$round.json"
  "$PYTHON" benches/decode.py time "$OUT/docs" $quick_flag > "$OUT/decode_py_$round.json"
done
kill $MOTION_PID 2>/dev/null || true

# --- 3. Blender: bulk apply_motion vs per-key keyframe_insert --------------------------------------
if [ -n "${BPY_PYTHON:-}" ]; then
  for run in $(seq 1 "$(q 1 3)"); do
    log "blender run $run: 30 joints x 1800 frames, bulk and per-key"
    "$BPY_PYTHON" benches/blender_apply_motion.py --joints 30 --frames 1800 2>/dev/null | tail -n 1 >> "$OUT/blender.jsonl"
  done
  "$BPY_PYTHON" -c 'import bpy; print(bpy.app.version_string)' 2>/dev/null | tail -n 1 > "$OUT/bpy_version.txt" || true
fi

# --- report ---------------------------------------------------------------------------------------
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
{
  echo "{"
  echo "\"command\": \"./scripts/bench.sh$( [ "$QUICK" = 1 ] && echo ' (BENCH_QUICK=1)')\","
  echo "\"date\": \"$(date -u +%Y-%m-%dT%H:%MZ)\","
  echo "\"commit\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo '+dirty')\","
  echo "\"cpu\": \"$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)\","
  echo "\"cores\": $(nproc),"
  echo "\"mem_gb\": $(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo),"
  echo "\"kernel\": \"$(uname -sr)\","
  echo "\"load_before\": \"$load_before\", \"load_after\": \"$load_after\","
  echo "\"rustc\": \"$(rustc --version)\","
  echo "\"python\": \"$("$PYTHON" --version 2>&1)\","
  echo "\"mcp\": \"$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("mcp"))')\","
  echo "\"motionmcp\": \"$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("motionmcp-sdk"))')\","
  echo "\"dcc_mcp_server\": \"$("$DCC_MCP" --version 2>/dev/null | head -n1)\","
  echo "\"mcp_for_blender\": \"$("$MFB_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp-for-blender"))')\","
  echo "\"bpy\": \"$(cat "$OUT/bpy_version.txt" 2>/dev/null || echo skipped)\""
  echo "}"
} > "$OUT/env.json"
"$PYTHON" benches/report.py "$OUT" > "$REPORT"
log "wrote $REPORT (raw results in $OUT)"
